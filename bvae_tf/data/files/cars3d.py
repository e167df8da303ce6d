"""Cars3D (Reed et al., 2015) from the ``cars/*.mat`` files of ``nips2015-analogy-data.tar.gz``.

Each file is one car: key ``im`` of shape (128, 128, 3, 24, 4), azimuth then elevation. Every
image is shrunk once to 64 x 64 (Pillow's thumbnail, LANCZOS) into a uint8 .npy cache beside
the files, in factor-grid order. Cars are numbered by SORTED file name: the reference library
takes the directory listing's order, which differs between file systems.
"""

import glob
import os

import numpy as np

from bvae_tf.data.files.common import cached_images, candidates, gather, wrong_file
from bvae_tf.data.ground_truth import GroundTruthData, check_indices
from bvae_tf.errors import UserError

URL = "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz"
SHAPE = (128, 128, 3, 24, 4)
EXPECTED = f"the archive's cars/ folder holds 183 .mat files, each with key im of shape {SHAPE} uint8"
CACHE = "bvae_tf-cars3d-64x64.npy"


class Cars3D(GroundTruthData):
    """Cars3D: elevation 4, azimuth 24, object (one per .mat file; 183 in the official folder)."""

    name = "cars3d"
    all_factor_names = ("elevation", "azimuth", "object")
    latent_factor_indices = (0, 1, 2)
    channels = 3
    OPTIONS = ("path", "data_root")

    def __init__(self, path=None, data_root=None):
        """``path``: the ``cars`` folder (default: <data root>/cars/)."""
        self.folder = os.path.expanduser(path) if path else candidates(None, data_root, ("cars",))[0]
        self.files = sorted(glob.glob(os.path.join(self.folder, "*.mat")))
        if not self.files:
            raise UserError(
                f"cars3d: no .mat files in {self.folder}; {EXPECTED}; download {URL}, extract it and put its "
                "cars/ folder in the data root (--data-root, $BVAE_TF_DATA; default data/)"
            )
        self.all_factor_sizes = (SHAPE[4], SHAPE[3], len(self.files))
        self.cache_path = os.path.join(self.folder, CACHE)

    def source_files(self):
        return list(self.files)

    def _load(self, path):
        import scipy.io

        try:
            im = scipy.io.loadmat(path)["im"]
        except KeyError:
            raise wrong_file(self.name, path, "it has no key im", EXPECTED) from None
        except (OSError, ValueError, TypeError) as error:
            raise wrong_file(self.name, path, f"not a readable .mat file: {error}", EXPECTED) from None
        if im.shape != SHAPE or im.dtype != np.uint8:
            raise wrong_file(self.name, path, f"im has shape {im.shape} {im.dtype}", EXPECTED)
        return im

    def _shrink_into(self, out):
        from PIL import Image

        elevations, azimuths = np.meshgrid(np.arange(SHAPE[4]), np.arange(SHAPE[3]), indexing="ij")
        for number, path in enumerate(self.files):  # one car (4.7 MB) at a time
            im = self._load(path)
            for elevation, azimuth in zip(elevations.ravel(), azimuths.ravel()):
                picture = Image.fromarray(np.ascontiguousarray(im[:, :, :, azimuth, elevation]))
                picture.thumbnail((64, 64), Image.LANCZOS)
                out[self.index_of([[elevation, azimuth, number]])[0]] = np.asarray(picture)

    def images(self, indices):
        array = cached_images(self.cache_path, self.files, (self.num_images, 64, 64, 3), self._shrink_into)
        return gather(array, check_indices(self, indices))
