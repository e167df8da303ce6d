"""Where dSprites images come from: the embedded renderer, the official .npz/.hdf5 file, or TFDS.

Every source is turned into the same :class:`Source`: the image indices it holds (official
order) and a function giving 0/1 uint8 images for any of them, so everything downstream
(TFRecords, training, metrics) is source-agnostic.
"""

import dataclasses
import os
import socket
import zipfile
import zlib
from collections.abc import Callable
from typing import Optional

import numpy as np

from bvae_tf.data import dsprites
from bvae_tf.errors import UserError
from bvae_tf.files import file_sha256

SOURCES = ("render", "npz", "hdf5", "tfds")
OFFICIAL_HDF5_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5"
# Keys of the official files (npz: flat names; hdf5: groups).
NPZ_KEYS = {"imgs": "imgs", "classes": "latents_classes", "values": "latents_values"}
HDF5_KEYS = {"imgs": "imgs", "classes": "latents/classes", "values": "latents/values"}


@dataclasses.dataclass
class Source:
    """A set of dSprites images: ``indices`` (sorted, official order) and ``images(indices)``."""

    name: str
    indices: np.ndarray
    images: Callable[[np.ndarray], np.ndarray]
    path: Optional[str] = None
    sha256: Optional[str] = None

    def describe(self):
        """What identifies the source's content (not its path: a moved file is the same source)."""
        return {"name": self.name, "sha256": self.sha256, "num_images": int(len(self.indices))}


def render_source():
    return Source(
        "render",
        np.arange(dsprites.NUM_IMAGES),
        lambda idx: dsprites.render_dsprites(dsprites.DSprites.indices_to_classes(idx)),
    )


def arrays_source(name, path, imgs, latents_classes, latents_values):
    """Validate official-layout arrays and index them by image index."""
    imgs, classes, values = np.asarray(imgs), np.asarray(latents_classes), np.asarray(latents_values)
    where = f"{name} file {path}"
    if imgs.ndim != 3 or imgs.shape[1:] != (64, 64):
        raise UserError(f"{where}: images must have shape [N, 64, 64], got {list(imgs.shape)}")
    if imgs.dtype != np.uint8:
        raise UserError(f"{where}: images must be uint8, got {imgs.dtype}")
    if len(imgs) and imgs.max() > 1:
        raise UserError(f"{where}: images must hold 0/1 values (official layout), got a max of {imgs.max()}")
    for label, array, kind in (("latents classes", classes, "integer"), ("latents values", values, "floating")):
        if array.shape != (len(imgs), 6):
            raise UserError(f"{where}: {label} must have shape [{len(imgs)}, 6], got {list(array.shape)}")
        if not np.issubdtype(array.dtype, np.integer if kind == "integer" else np.floating):
            raise UserError(f"{where}: {label} must be {kind}, got {array.dtype}")
    try:
        dsprites.check_classes(classes[:, 1:])
    except ValueError as error:
        raise UserError(f"{where}: latents classes: {error}") from None
    indices = dsprites.DSprites.classes_to_indices(classes[:, 1:])
    if len(np.unique(indices)) != len(indices):
        raise UserError(f"{where}: the same factor combination appears more than once")
    order = np.argsort(indices)
    sorted_indices, sorted_imgs = indices[order], imgs[order]
    return Source(
        name,
        sorted_indices,
        lambda idx: sorted_imgs[np.searchsorted(sorted_indices, idx)],
        path=os.path.abspath(path),
        sha256=file_sha256(path) if os.path.isfile(path) else None,
    )


def _require_file(name, path):
    if not path:
        raise UserError(f"--source {name} needs a file path: --source {name} PATH")
    if not os.path.isfile(path):
        raise UserError(f"--source {name}: file {path} does not exist")


def _incomplete(name, path, error):
    """The error for an official file that is cut short or damaged (an interrupted download)."""
    return UserError(
        f"--source {name} {path}: not a complete .{name} file ({type(error).__name__}: {error}); download it again"
    )


def _starts_like(path, magic):
    """Whether the file starts with ``magic`` or is shorter than it (a download cut short)."""
    with open(path, "rb") as f:
        head = f.read(len(magic))
    return magic.startswith(head)


ZIP_MAGIC = b"PK\x03\x04"  # a .npz is a zip archive of .npy files
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def npz_source(path):
    _require_file("npz", path)
    if not _starts_like(path, ZIP_MAGIC):
        raise UserError(f"--source npz {path}: not a .npz file (a .npz is a zip archive; this file is not one)")
    try:  # our own file object: np.load leaks the one it opens when the zip is unreadable
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            missing = [key for key in NPZ_KEYS.values() if key not in data.files]
            if missing:
                raise UserError(
                    f"npz file {path} lacks key(s) {', '.join(missing)} "
                    f"(found {', '.join(data.files) or 'none'}); the official file has imgs, latents_classes, latents_values"
                )
            arrays = {name: data[key] for name, key in NPZ_KEYS.items()}
    except PermissionError:
        raise
    # A .npz is a zip: one cut short has no central directory (BadZipFile); damaged members fail
    # their CRC (BadZipFile) or decompression (zlib.error, EOFError) or their .npy header (ValueError).
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        raise _incomplete("npz", path, error) from None
    return arrays_source("npz", path, arrays["imgs"], arrays["classes"], arrays["values"])


def hdf5_source(path):
    import h5py

    _require_file("hdf5", path)
    try:
        with h5py.File(path, "r") as f:
            missing = [key for key in HDF5_KEYS.values() if key not in f]
            if missing:
                raise UserError(
                    f"hdf5 file {path} lacks dataset(s) {', '.join(missing)}; "
                    "the official file has imgs, latents/classes, latents/values"
                )
            arrays = {name: f[key][()] for name, key in HDF5_KEYS.items()}
    except PermissionError:
        raise
    except OSError as error:  # h5py reports a short or damaged file as OSError ("truncated file: eof = ...")
        if "truncated" in str(error) or _starts_like(path, HDF5_MAGIC):
            raise _incomplete("hdf5", path, error) from None
        raise UserError(f"--source hdf5 {path}: not an HDF5 file ({error})") from None
    return arrays_source("hdf5", path, arrays["imgs"], arrays["classes"], arrays["values"])


def network_available(host="github.com", port=443, timeout=3.0):
    """One quick TCP connect: TFDS itself would retry for minutes before failing offline."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def tfds_source(data_dir=None):
    """TFDS ``dsprites``; offline, the official hdf5 in ``<data_dir>/downloads/manual/`` serves.

    TFDS's dsprites builder always downloads from GitHub (it ignores ``manual_dir``), so with
    the file placed there we read it directly: it is the very file TFDS would have fetched.
    """
    import tensorflow_datasets as tfds

    data_dir = os.path.expanduser(data_dir or os.path.join("~", "tensorflow_datasets"))
    builder = tfds.builder("dsprites", data_dir=data_dir)
    if not builder.is_prepared():
        manual = os.path.join(data_dir, "downloads", "manual", OFFICIAL_HDF5_NAME)
        if os.path.isfile(manual):
            return dataclasses.replace(hdf5_source(manual), name="tfds")
        if not network_available():
            raise UserError(
                f"--source tfds: dsprites is not prepared in {data_dir}, there is no network, and "
                f"{manual} does not exist; put the official file there or use --source hdf5 PATH"
            )
        builder.download_and_prepare()
    images, classes = [], []
    factor_keys = ["label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position"]
    for batch in tfds.as_numpy(builder.as_dataset(split="train").batch(8192)):
        images.append(batch["image"][..., 0])
        classes.append(np.stack([batch[key] for key in factor_keys], axis=1))
    classes = np.concatenate(classes).astype(np.int64)
    latents_classes, latents_values = dsprites.DSprites.latents(classes)
    source = arrays_source("tfds", data_dir, np.concatenate(images), latents_classes, latents_values)
    return dataclasses.replace(source, path=os.path.abspath(data_dir))


def load_source(name, path=None):
    """The :class:`Source` for ``--source NAME [PATH]``."""
    if name == "render":
        if path:
            raise UserError("--source render takes no path")
        return render_source()
    if name == "npz":
        return npz_source(path)
    if name == "hdf5":
        return hdf5_source(path)
    if name == "tfds":
        return tfds_source(path)
    raise UserError(f"--source must be one of {', '.join(SOURCES)}, got {name!r}")
