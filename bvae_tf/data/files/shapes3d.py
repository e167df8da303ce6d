"""Shapes3D (Kim & Mnih, 2018) from DeepMind's ``3dshapes.h5``, read by h5py in sorted chunks."""

import os

import numpy as np

from bvae_tf.data.files.common import candidates, find_file, gather, wrong_file
from bvae_tf.data.ground_truth import GroundTruthData, check_indices

FILE = "3dshapes.h5"
EXPECTED = (
    f"the official {FILE} is 267,573,662 bytes with images (480000, 64, 64, 3) uint8 and labels (480000, 6) float64"
)
URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
CHUNK_CACHE_BYTES = 64 << 20  # h5py's chunk cache: a compressed chunk is decompressed once per batch, not per image


def tfds_manual_path():
    """Where TFDS' shapes3d builder looks for the file (its manual download folder)."""
    tfds_dir = os.environ.get("TFDS_DATA_DIR") or os.path.join("~", "tensorflow_datasets")
    return os.path.join(os.path.expanduser(tfds_dir), "downloads", "manual", FILE)


class Shapes3D(GroundTruthData):
    """Shapes3D: 10 x 10 x 10 x 8 x 4 x 15 images, every factor latent, row-major (orientation fastest).

    The factor sizes are read from the file's labels (the number of distinct values of each
    column; the official file gives the sizes above), and the labels must enumerate that grid
    row-major, so a smaller file in the same format (tests) works the same way.
    """

    name = "shapes3d"
    all_factor_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    latent_factor_indices = (0, 1, 2, 3, 4, 5)
    channels = 3
    OPTIONS = ("path", "data_root")

    def __init__(self, path=None, data_root=None):
        import h5py

        places = candidates(path, data_root, ("3dshapes", FILE), (FILE,), tfds_manual_path())
        advice = f"download it from {URL} into <data root>/3dshapes/ (--data-root, $BVAE_TF_DATA; default data/)"
        self.path = find_file(self.name, FILE, places, EXPECTED, advice)
        try:
            with h5py.File(self.path, "r") as f:
                if "images" not in f or "labels" not in f:
                    raise wrong_file(self.name, self.path, f"datasets found: {', '.join(f) or 'none'}", EXPECTED)
                images, labels = f["images"], f["labels"]
                if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
                    raise wrong_file(self.name, self.path, f"images {images.shape} {images.dtype}", EXPECTED)
                if labels.shape != (len(images), 6):
                    raise wrong_file(self.name, self.path, f"labels {labels.shape}", EXPECTED)
                labels = labels[()]  # 23 MB for the official file
        except OSError as error:
            raise wrong_file(self.name, self.path, f"not a readable HDF5 file: {error}", EXPECTED) from None
        columns = [np.unique(column, return_inverse=True) for column in labels.T]
        self.all_factor_sizes = tuple(len(values) for values, _ in columns)
        classes = np.stack([inverse.reshape(-1) for _, inverse in columns], axis=1)
        if len(labels) != self.num_images or not np.array_equal(self.index_of(classes), np.arange(len(labels))):
            raise wrong_file(self.name, self.path, "its labels do not enumerate the factor grid row-major", EXPECTED)
        self.factor_values = [values for values, _ in columns]

    def source_files(self):
        return [self.path]

    def images(self, indices):
        import h5py

        indices = check_indices(self, indices)
        with h5py.File(self.path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES) as f:
            return gather(f["images"], indices)
