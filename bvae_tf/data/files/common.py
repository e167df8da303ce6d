"""What the file loaders share: finding the user's file, the one-line errors, the uint8 image cache."""

import json
import os

import numpy as np

from bvae_tf.data.ground_truth import data_root
from bvae_tf.errors import UserError
from bvae_tf.files import write_atomic, write_json

CHUNK_IMAGES = 2048  # images converted or read per step (at most ~25 MB of 64x64x3 uint8)


def candidates(path, root, *relative):
    """Where a file is looked for: ``path`` alone when given, else each ``relative`` under the data root."""
    if path:
        return [os.path.expanduser(path)]
    return [os.path.join(data_root(root), *parts) if isinstance(parts, tuple) else parts for parts in relative]


def find_file(dataset, name, places, expected, advice):
    """The first existing file of ``places``; else one UserError naming it, its expected content and where to put it."""
    for place in places:
        if os.path.isfile(place):
            return place
    looked = ", ".join(places)
    raise UserError(f"{dataset}: {name} not found (looked for {looked}); {expected}; {advice}")


def wrong_file(dataset, path, problem, expected):
    return UserError(f"{dataset}: {path} is not the official file ({problem}); {expected}; download it again")


def _stamp(sources):
    """Identifies the source files cheaply (size and modification time) so a cache is rebuilt when they change."""
    return [
        {"file": os.path.abspath(p), "bytes": os.path.getsize(p), "mtime_ns": os.stat(p).st_mtime_ns} for p in sources
    ]


def cached_images(cache_path, sources, shape, fill):
    """The uint8 array ``shape`` stored as ``cache_path`` (a .npy), memory-mapped read-only.

    Built once by ``fill(array)`` writing into a memory-mapped temporary file (so memory stays
    bounded by what ``fill`` holds at a time), renamed when complete; rebuilt when the sources'
    sizes or modification times differ from those recorded beside it (``<cache>.json``).
    """
    stamp_path = cache_path + ".json"
    stamp = {"shape": list(shape), "sources": _stamp(sources)}
    if os.path.isfile(cache_path) and os.path.isfile(stamp_path):
        try:
            with open(stamp_path) as f:
                if json.load(f) == stamp:
                    return np.load(cache_path, mmap_mode="r")
        except (OSError, ValueError):
            pass  # an unreadable stamp: rebuild

    def write(temp):
        array = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=tuple(shape))
        fill(array)
        array.flush()
        del array

    try:
        write_atomic(cache_path, write)
        write_json(stamp_path, stamp)
    except PermissionError:
        raise UserError(
            f"cannot write the image cache {cache_path} (permission denied); "
            "copy the dataset's files to a folder you can write and point --data-root there"
        ) from None
    return np.load(cache_path, mmap_mode="r")


def gather(array, indices, chunk=CHUNK_IMAGES):
    """``array[indices]`` for any indices, read in increasing order and in chunks (h5py and
    memory maps are fastest, and h5py only works, with sorted unique indices)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    unique, inverse = np.unique(indices, return_inverse=True)
    out = np.empty((len(unique), *array.shape[1:]), dtype=np.uint8)
    for start in range(0, len(unique), chunk):
        out[start : start + chunk] = array[unique[start : start + chunk]]
    return out[inverse.reshape(-1)]
