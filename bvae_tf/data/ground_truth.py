"""The ground-truth protocol every dataset follows, and the registry of the benchmark's datasets.

A dataset is a grid of factor classes (``all_factor_sizes``, row-major image order) with one
stored image per combination. Some factors are latent (what models should disentangle, what
metrics score: ``factor_names`` / ``factors_num_values``), the others are nuisances drawn at
random when observations are sampled. The names and the order of the random draws are those of
the reference library (disentanglement_lib's ``GroundTruthData``), so that a ``RandomState`` in
the same state gives the same factors and observations:

- ``sample_factors(num, rs)``: one ``rs.randint(size, size=num)`` per latent factor, in order;
- ``sample_observations_from_factors(factors, rs)``: one ``rs.randint(size, size=N)`` per
  nuisance factor, in factor order, then the images, then the variant's own draws (``observe``).

``images(indices)`` gives the stored uint8 images by index (random access, for TFRecords, metric
samplers and encoding caches); for a ``stochastic`` dataset (random colour, noise or background)
that is the deterministic part, which ``observe`` turns into observations.

numpy only: TensorFlow is not imported here.
"""

import importlib
import os

import numpy as np

from bvae_tf.errors import UserError
from bvae_tf.files import file_sha256

IMAGE_SIZE = 64
DATA_ROOT_ENV = "BVAE_TF_DATA"


class GroundTruthData:
    """Base of every dataset; a subclass sets the class attributes and implements ``images``."""

    name = None
    all_factor_names = ()  # every factor of the image grid, latent and nuisance, in grid order
    all_factor_sizes = ()
    latent_factor_indices = ()  # positions in all_factor_names of the latent factors
    channels = 1  # of the observations
    stored_channels = None  # of ``images`` (default: ``channels``)
    binary = False  # images hold 0/1 (TFRecords then store them bit-packed)
    stochastic = False  # observations draw random numbers beyond the nuisance factors

    # The reference library's names.
    @property
    def num_factors(self):
        return len(self.latent_factor_indices)

    @property
    def factors_num_values(self):
        return [int(self.all_factor_sizes[i]) for i in self.latent_factor_indices]

    @property
    def factor_names(self):
        return [self.all_factor_names[i] for i in self.latent_factor_indices]

    @property
    def observation_shape(self):
        return [IMAGE_SIZE, IMAGE_SIZE, self.channels]

    @property
    def image_shape(self):
        """Shape of one image of ``images`` (the stored form)."""
        return [IMAGE_SIZE, IMAGE_SIZE, self.stored_channels or self.channels]

    @property
    def nuisance_factor_indices(self):
        return [i for i in range(len(self.all_factor_sizes)) if i not in self.latent_factor_indices]

    @property
    def num_images(self):
        return int(np.prod(self.all_factor_sizes))

    def index_of(self, all_factor_classes):
        """Classes of all factors [N, F_all] -> image indices [N] (row-major, last factor fastest)."""
        return np.ravel_multi_index(np.asarray(all_factor_classes, dtype=np.int64).T, self.all_factor_sizes)

    def classes_of(self, indices):
        """Image indices [N] -> classes of all factors [N, F_all] (int64)."""
        indices = np.asarray(indices, dtype=np.int64)
        return (
            np.stack(np.unravel_index(indices, self.all_factor_sizes), axis=1)
            .astype(np.int64)
            .reshape(-1, len(self.all_factor_sizes))
        )

    def images(self, indices):
        """uint8 images [n, 64, 64, C_stored] for image indices (any order, repeats allowed)."""
        raise NotImplementedError

    def sample_factors(self, num, random_state):
        """Latent factor classes int64 [num, num_factors], one ``randint`` per latent factor."""
        columns = [random_state.randint(self.all_factor_sizes[i], size=num) for i in self.latent_factor_indices]
        return np.stack(columns, axis=1).astype(np.int64).reshape(num, self.num_factors)

    def complete_factors(self, factors, random_state):
        """Latent classes [N, num_factors] -> all classes [N, F_all], nuisances drawn in factor order."""
        factors = np.asarray(factors, dtype=np.int64)
        complete = np.zeros((len(factors), len(self.all_factor_sizes)), dtype=np.int64)
        complete[:, list(self.latent_factor_indices)] = factors
        for i in self.nuisance_factor_indices:
            complete[:, i] = random_state.randint(self.all_factor_sizes[i], size=len(factors))
        return complete

    def observe(self, images, random_state):
        """Stored uint8 images -> float32 observations in [0, 1] (variants add their own draws)."""
        del random_state  # deterministic datasets draw nothing here
        if self.binary:
            return images.astype(np.float32)
        # In float32 (half the memory of float64): for 0..255 it equals the float64 quotient rounded to float32,
        # so it is bit-identical to the reference whichever of the two it computes.
        return images.astype(np.float32) / np.float32(255.0)

    def sample_observations_from_factors(self, factors, random_state):
        complete = self.complete_factors(factors, random_state)
        return self.observe(self.images(self.index_of(complete)), random_state)

    def sample(self, num, random_state):
        """``(factors int64 [num, num_factors], observations float32 [num, 64, 64, C])``."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num, random_state):
        return self.sample(num, random_state)[1]

    def source_files(self):
        """The user's files this dataset reads (their SHA-256 go into the TFRecord manifest)."""
        return []

    def describe(self):
        """What identifies the dataset's content: its name and the SHA-256 of its files."""
        return {
            "name": self.name,
            "files": [
                {"file": os.path.basename(path), "bytes": os.path.getsize(path), "sha256": file_sha256(path)}
                for path in self.source_files()
            ],
        }


def data_root(root=None):
    """The folder of the user's dataset files: ``root``, else ``$BVAE_TF_DATA``, else ``data``."""
    return os.path.expanduser(root or os.environ.get(DATA_ROOT_ENV) or "data")


def check_indices(dataset, indices):
    indices = np.asarray(indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"image indices must be a 1-D integer array, got {indices.dtype} of shape {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= dataset.num_images):
        raise ValueError(f"image indices of {dataset.name} must be in [0, {dataset.num_images - 1}]")
    return indices.astype(np.int64)


# name -> (module, class, fixed keyword arguments). A new dataset: its module and one line here.
DATASETS = {
    "dsprites_full": ("bvae_tf.data.dsprites", "DSprites", {}),
    "dsprites_noshape": ("bvae_tf.data.variants", "DSpritesNoShape", {}),
    "color_dsprites": ("bvae_tf.data.variants", "ColorDSprites", {}),
    "noisy_dsprites": ("bvae_tf.data.variants", "NoisyDSprites", {}),
    "scream_dsprites": ("bvae_tf.data.variants", "ScreamDSprites", {}),
    "shapes3d": ("bvae_tf.data.files.shapes3d", "Shapes3D", {}),
    "mpi3d_toy": ("bvae_tf.data.files.mpi3d", "MPI3D", {"mode": "mpi3d_toy"}),
    "mpi3d_realistic": ("bvae_tf.data.files.mpi3d", "MPI3D", {"mode": "mpi3d_realistic"}),
    "mpi3d_real": ("bvae_tf.data.files.mpi3d", "MPI3D", {"mode": "mpi3d_real"}),
    "smallnorb": ("bvae_tf.data.files.smallnorb", "SmallNORB", {}),
    "cars3d": ("bvae_tf.data.files.cars3d", "Cars3D", {}),
}


def check_dataset_name(name):
    if name not in DATASETS:
        raise UserError(f"--dataset must be one of {', '.join(DATASETS)}, got {name!r}")


def dataset_class(name):
    """The class of dataset ``name`` (its attributes, e.g. ``channels``, without reading any file)."""
    check_dataset_name(name)
    module, cls, _ = DATASETS[name]
    return getattr(importlib.import_module(module), cls)


def get_dataset(name, **options):
    """The dataset ``name`` of :data:`DATASETS`; ``options`` go to its class (e.g. ``data_root``,
    ``path``, ``scream_path``). Datasets of the user's files check them here: a missing or wrong
    file raises one :class:`UserError` line naming it and where to put it."""
    cls, fixed = dataset_class(name), DATASETS[name][2]
    accepted = getattr(cls, "OPTIONS", ())
    if "data_root" not in accepted:  # the one option every dataset takes: those reading no file ignore it
        options.pop("data_root", None)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "none"
        raise UserError(f"dataset {name} does not take option(s) {', '.join(unknown)} (it takes: {takes})")
    return cls(**fixed, **options)
