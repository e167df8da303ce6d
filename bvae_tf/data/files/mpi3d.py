"""MPI3D (Gondal et al., 2019) from ``mpi3d_<mode>.npz``, its ``images`` member read without loading it whole.

``np.load`` of an npz member reads (and decompresses) all of it: 5.7 GB for mpi3d_toy, 12.7 GB
for mpi3d_real. An uncompressed member is memory-mapped where it lies inside the zip archive;
a compressed one is decompressed once, in chunks, into a uint8 ``.npy`` beside the file.
"""

import math
import os
import struct
import zipfile

import numpy as np

from bvae_tf.data.files.common import CHUNK_IMAGES, cached_images, candidates, find_file, gather, wrong_file
from bvae_tf.data.ground_truth import GroundTruthData, check_indices
from bvae_tf.errors import UserError

MODES = ("mpi3d_toy", "mpi3d_realistic", "mpi3d_real")
MEMBER = "images.npy"
FIXED_SIZES = (2, 3, 3, 40, 40)  # object size, camera height, background colour, first and second DOF
URL = "https://github.com/rr-learning/disentanglement_dataset"


def expected(mode):
    return (
        f"the official {mode}.npz holds images (N, 64, 64, 3) uint8 with N = 460,800 (4 object colours and "
        "shapes) or 1,036,800 (6 of each)"
    )


def derived_sizes(num_images):
    """All factor sizes from the number of images: object colour and shape have k values each, N = k^2 * 28,800."""
    k = math.isqrt(num_images // int(np.prod(FIXED_SIZES)))
    return (k, k, *FIXED_SIZES) if k and k * k * int(np.prod(FIXED_SIZES)) == num_images else None


def read_npy_header(stream):
    """``(shape, fortran_order, dtype)`` of the .npy at the stream's position, which is left at the data."""
    version = np.lib.format.read_magic(stream)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format version {version}")
    return readers[version](stream)


def member_layout(path, zf, info):
    """``(shape, dtype, offset of the data in the archive or None when compressed)`` of a .npy member."""
    with zf.open(info) as member:
        shape, fortran, dtype = read_npy_header(member)
        header = member.tell()
    if fortran:
        raise ValueError("Fortran-ordered array")
    if info.compress_type != zipfile.ZIP_STORED:
        return shape, dtype, None
    with open(path, "rb") as f:  # the member's data starts after its local header (30 bytes, name, extra field)
        f.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", f.read(4))
    return shape, dtype, info.header_offset + 30 + name_length + extra_length + header


class MPI3D(GroundTruthData):
    """MPI3D toy / realistic / real: every factor latent, row-major (second DOF fastest).

    Object colour and shape sizes are derived from the number of images (the reference library
    hard-codes 4 for toy and realistic, but the released realistic file has 6).
    ``factor_sizes`` overrides that for files other than the official ones (tests).
    """

    all_factor_names = (
        "object_color",
        "object_shape",
        "object_size",
        "camera_height",
        "background_color",
        "first_dof",
        "second_dof",
    )
    latent_factor_indices = (0, 1, 2, 3, 4, 5, 6)
    channels = 3
    OPTIONS = ("path", "data_root", "factor_sizes")

    def __init__(self, mode="mpi3d_toy", path=None, data_root=None, factor_sizes=None):
        if mode not in MODES:
            raise UserError(f"MPI3D mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.name = mode
        file = f"{mode}.npz"
        places = candidates(path, data_root, (mode, file), (file,))
        advice = f"download it from {URL} into <data root>/{mode}/ (--data-root, $BVAE_TF_DATA; default data/)"
        self.path = find_file(mode, file, places, expected(mode), advice)
        try:
            with zipfile.ZipFile(self.path) as zf:
                info = zf.getinfo(MEMBER)
                shape, dtype, self._offset = member_layout(self.path, zf, info)
        except KeyError:
            raise wrong_file(mode, self.path, f"it has no member {MEMBER}", expected(mode)) from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise wrong_file(mode, self.path, f"{type(error).__name__}: {error}", expected(mode)) from None
        if len(shape) != 4 or shape[1:] != (64, 64, 3) or dtype != np.uint8:
            raise wrong_file(mode, self.path, f"images {shape} {dtype}", expected(mode))
        sizes = tuple(factor_sizes) if factor_sizes else derived_sizes(shape[0])
        if sizes is None or len(sizes) != 7 or int(np.prod(sizes)) != shape[0]:
            raise wrong_file(mode, self.path, f"{shape[0]} images do not fill the factor grid", expected(mode))
        self.all_factor_sizes = sizes
        self._shape = shape

    def source_files(self):
        return [self.path]

    def _array(self):
        if self._offset is not None:
            return np.memmap(self.path, dtype=np.uint8, mode="r", offset=self._offset, shape=self._shape)
        cache = os.path.splitext(self.path)[0] + ".images.npy"
        return cached_images(cache, [self.path], self._shape, self._decompress)

    def _decompress(self, out, chunk=CHUNK_IMAGES):
        """Stream the compressed member into ``out``, ``chunk`` images at a time."""
        image_bytes = int(np.prod(self._shape[1:]))
        with zipfile.ZipFile(self.path) as zf, zf.open(MEMBER) as member:
            read_npy_header(member)
            for start in range(0, len(out), chunk):
                count = min(chunk, len(out) - start)
                block = member.read(count * image_bytes)
                out[start : start + count] = np.frombuffer(block, np.uint8).reshape(count, *self._shape[1:])

    def images(self, indices):
        return gather(self._array(), check_indices(self, indices))
