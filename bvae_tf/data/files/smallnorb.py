"""smallNORB (LeCun et al., 2004) from its six official files in NORB's binary matrix format.

The format (a header of int32s: magic, number of dimensions, at least three sizes; then the
data) is NORB's own, so no library reads it; we parse the header and memory-map the data. The
first image of each stereo pair is resized once to 64 x 64 (Pillow LANCZOS) into a uint8 .npy
cache beside the files, in factor-grid order.
"""

import os

import numpy as np

from bvae_tf.data.files.common import CHUNK_IMAGES, cached_images, candidates, find_file, gather, wrong_file
from bvae_tf.data.ground_truth import GroundTruthData, check_indices

FOLDER = "small_norb"
PARTS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")
KINDS = ("dat", "cat", "info")
# NORB's magic numbers. The byte matrix (507333717) holds pixels 0..255: read unsigned, as TFDS does.
MAGIC = {507333717: np.uint8, 507333716: np.int32, 507333713: np.float32, 507333715: np.float64}
URL = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"
EXPECTED = "each official -dat.mat holds 24300 x 2 x 96 x 96 bytes, -cat.mat 24300 int32, -info.mat 24300 x 4 int32"
CACHE = "bvae_tf-smallnorb-64x64.npy"


def file_name(part, kind):
    return f"smallnorb-{part}-{kind}.mat"


def read_matrix(path):
    """A NORB binary matrix file, memory-mapped: the header parsed, its sizes checked against the file's."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError("shorter than a header")
        magic, ndim = np.frombuffer(head, "<i4")
        if int(magic) not in MAGIC or not 0 < ndim < 16:
            raise ValueError(f"magic number {int(magic)} and {int(ndim)} dimensions are not a NORB matrix header")
        dims = np.frombuffer(f.read(4 * max(3, ndim)), "<i4")[:ndim]
    dtype = np.dtype(MAGIC[int(magic)]).newbyteorder("<")
    offset = 8 + 4 * max(3, int(ndim))
    needed = offset + int(np.prod(dims.astype(np.int64))) * dtype.itemsize
    if os.path.getsize(path) != needed:
        raise ValueError(f"{os.path.getsize(path)} bytes where its header {list(dims)} needs {needed}")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(int(d) for d in dims))


class SmallNORB(GroundTruthData):
    """smallNORB: category 5, instance 10 (a nuisance), elevation 9, azimuth 18, lighting 6; one channel.

    Training and test files together hold one image per combination; images are found by factor
    lookup. The sizes are read from the files (max + 1 of each factor; the official files give
    those above), so smaller files in the same format (tests) work the same way.
    """

    name = "smallnorb"
    all_factor_names = ("category", "instance", "elevation", "azimuth", "lighting")
    latent_factor_indices = (0, 2, 3, 4)
    channels = 1
    OPTIONS = ("path", "data_root")

    def __init__(self, path=None, data_root=None):
        """``path``: the folder of the six files (default: <data root>/small_norb/)."""
        folder = os.path.expanduser(path) if path else os.path.join(candidates(None, data_root, (FOLDER,))[0])
        advice = f"download the six files from {URL}, gunzip them and put them in {folder} (--data-root, $BVAE_TF_DATA)"
        self.files = {
            (part, kind): find_file(
                self.name, file_name(part, kind), [os.path.join(folder, file_name(part, kind))], EXPECTED, advice
            )
            for part in PARTS
            for kind in KINDS
        }
        features, self._counts = [], []
        for part in PARTS:
            dat, cat, info = (self._matrix(part, kind) for kind in KINDS)
            n = len(dat)
            if dat.shape[1:] != (2, 96, 96) or dat.dtype != np.uint8:
                raise wrong_file(self.name, self.files[part, "dat"], f"shape {list(dat.shape)} {dat.dtype}", EXPECTED)
            if cat.shape != (n,) or info.shape != (n, 4):
                raise wrong_file(
                    self.name, self.files[part, "info"], f"cat {cat.shape}, info {info.shape} for {n} images", EXPECTED
                )
            info = np.asarray(info, dtype=np.int64)
            features.append(np.column_stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]))
            self._counts.append(n)
        features = np.concatenate(features).astype(np.int64)
        self.all_factor_sizes = tuple(int(s) for s in features.max(axis=0) + 1)
        self._grid = self.index_of(features) if features.min() >= 0 else None
        if self._grid is None or len(features) != self.num_images or len(np.unique(self._grid)) != len(features):
            raise wrong_file(self.name, folder, "the files do not hold one image per factor combination", EXPECTED)
        self.cache_path = os.path.join(folder, CACHE)

    def _matrix(self, part, kind):
        path = self.files[part, kind]
        try:
            return read_matrix(path)
        except (OSError, ValueError) as error:
            raise wrong_file(self.name, path, str(error), EXPECTED) from None

    def source_files(self):
        return list(self.files.values())

    def _resize_into(self, out, chunk=CHUNK_IMAGES):
        from PIL import Image

        start = 0
        for part, count in zip(PARTS, self._counts):
            dat = self._matrix(part, "dat")
            for first in range(0, count, chunk):
                block = np.asarray(dat[first : first + chunk, 0])  # [b, 96, 96], the first camera
                resized = [np.asarray(Image.fromarray(image).resize((64, 64), Image.LANCZOS)) for image in block]
                out[self._grid[start + first : start + first + len(block)], :, :, 0] = np.stack(resized)
            start += count

    def images(self, indices):
        array = cached_images(self.cache_path, self.source_files(), (self.num_images, 64, 64, 1), self._resize_into)
        return gather(array, check_indices(self, indices))
