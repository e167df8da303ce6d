"""Encode each dSprites image once per SavedModel: the encoder means, cached beside the model.

Encoding is most of an evaluation's cost (the reference preset needs ~98 % of the 737,280-image
grid), and the codes depend only on the model. So `ModelEncodings` keeps every code a model's
encoder has returned in ``evaluations/encodings.npz`` inside the SavedModel folder
(`bvae_tf.layout.ModelFolder.encodings`) and encodes only the images not in it: a second
evaluation (another seed, preset, metric set, a sweep or report redo) encodes nothing or only
the new indices, and a quick look pays only for the images it draws, never the whole grid.

The file holds the sorted grid indices encoded so far (int32 [n]), their codes exactly as the
encoder returned them ([n, L], float32 for our models), the key below (as JSON) and a SHA-256 of
all three. The key names what the codes are codes *of*:

- ``model``: SHA-256 of the SavedModel's content (``saved_model.pb`` and every file under
  ``variables/``, names and bytes; never times), so a re-exported or retrained model at the same
  path never reads the old codes;
- ``signature`` and ``batch_size``: the encoder called and how many images it gets per call (every
  call gets exactly that many, see `bvae_tf.metrics.sampling.ImageRepresentation`);
- ``images``: SHA-256 of a fixed set of 720 rendered images (every shape x scale x orientation),
  so a change of the renderer invalidates codes of the old images;
- ``tensorflow`` and ``format``: the TensorFlow version (kernels round differently across
  versions) and this file's format.

A file whose key differs (stale) or that cannot be read or whose checksum fails (corrupt,
truncated) is never used: it is reported and rebuilt. Every write goes to a temporary file that
is renamed over the old one (`bvae_tf.files.write_atomic`), so a killed evaluation leaves either
the previous file or a complete new one; a long encoding saves what it has every
``checkpoint_s`` (60 s), so a killed one resumes where it stopped. Two evaluations of one model at
once merge what they find on disk when they save. Codes from the cache are bit-identical to
freshly encoded ones (the same images, the same encoder calls), so metrics do not depend on it.
"""

import hashlib
import json
import os
import time

import numpy as np

from bvae_tf.data.dsprites import FACTOR_SIZES, NUM_IMAGES, DSprites, render_dsprites
from bvae_tf.files import write_atomic
from bvae_tf.layout import ModelFolder
from bvae_tf.metrics.sampling import ImageRepresentation
from bvae_tf.progress import Progress

FORMAT = 1
CHECKPOINT_S = 60.0

__all__ = ["EncodingCache", "ModelEncodings", "model_hash", "images_hash", "CacheStatus"]


def model_hash(path):
    """SHA-256 (hex) of a SavedModel's content: ``saved_model.pb`` and every file under
    ``variables/`` (relative names, sizes and bytes, in sorted order); never times."""
    digest = hashlib.sha256()
    files = [os.path.join(path, "saved_model.pb")]
    variables = os.path.join(path, "variables")
    for root, dirs, names in os.walk(variables):
        dirs.sort()
        files += [os.path.join(root, name) for name in sorted(names)]
    for file in files:
        relative = os.path.relpath(file, path).replace(os.sep, "/")
        digest.update(f"{relative}\0{os.path.getsize(file)}\0".encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


_IMAGES_HASH = None


def images_hash():
    """SHA-256 (hex) of 720 rendered images: every shape x scale x orientation, positions spread
    over the grid. Any change of the renderer's output for them changes it."""
    global _IMAGES_HASH
    if _IMAGES_HASH is None:
        shape, scale, orientation = np.meshgrid(*(np.arange(n) for n in FACTOR_SIZES[:3]), indexing="ij")
        shape, scale, orientation = shape.ravel(), scale.ravel(), orientation.ravel()
        k = np.arange(len(shape))
        classes = np.stack(
            [shape, scale, orientation, (7 * k) % FACTOR_SIZES[3], (13 * k + 5) % FACTOR_SIZES[4]], axis=1
        )
        _IMAGES_HASH = hashlib.sha256(np.packbits(render_dsprites(classes)).tobytes()).hexdigest()
    return _IMAGES_HASH


class CacheStatus:
    """What `EncodingCache.load` found: ``missing`` (no file), ``valid``, ``stale`` (another
    key), ``corrupt`` (unreadable, truncated or failing its checksum); ``reason`` says why."""

    MISSING, VALID, STALE, CORRUPT = "missing", "valid", "stale", "corrupt"

    def __init__(self, state, reason=""):
        self.state, self.reason = state, reason

    def __repr__(self):
        return f"CacheStatus({self.state!r}, {self.reason!r})"


def _checksum(key_json, indices, codes):
    digest = hashlib.sha256(key_json.encode())
    digest.update(f"{indices.dtype.str}{indices.shape}{codes.dtype.str}{codes.shape}".encode())
    digest.update(memoryview(np.ascontiguousarray(indices)).cast("B"))
    digest.update(memoryview(np.ascontiguousarray(codes)).cast("B"))
    return digest.hexdigest()


class EncodingCache:
    """The codes of the grid indices encoded so far, for one ``key``, in one ``.npz`` file.

    ``load()`` -> ``(indices int64 sorted [n], codes [n, L], CacheStatus)`` (empty arrays unless
    valid); ``save(indices, codes)`` writes atomically (``indices`` sorted, unique).
    """

    def __init__(self, path, key):
        self.path = path
        self.key = dict(key)
        self.key_json = json.dumps(self.key, sort_keys=True)

    def load(self):
        empty = np.zeros(0, np.int64), None
        if not os.path.exists(self.path):
            return (*empty, CacheStatus(CacheStatus.MISSING))
        try:
            with open(self.path, "rb") as f, np.load(f, allow_pickle=False) as data:
                arrays = {name: data[name] for name in ("key", "indices", "codes", "checksum")}
        except Exception as error:  # truncated zip, missing array, not an npz, unreadable
            return (*empty, CacheStatus(CacheStatus.CORRUPT, f"unreadable ({type(error).__name__}: {error})"))
        key_json, indices, codes = str(arrays["key"]), arrays["indices"], arrays["codes"]
        try:
            key = json.loads(key_json)
        except ValueError:
            return (*empty, CacheStatus(CacheStatus.CORRUPT, "unreadable key"))
        if str(arrays["checksum"]) != _checksum(key_json, indices, codes):
            return (*empty, CacheStatus(CacheStatus.CORRUPT, "checksum mismatch"))
        if key != self.key:
            changed = sorted(k for k in set(key) | set(self.key) if key.get(k) != self.key.get(k))
            return (*empty, CacheStatus(CacheStatus.STALE, f"made for another {', '.join(changed)}"))
        if (
            indices.ndim != 1
            or codes.ndim != 2
            or len(codes) != len(indices)
            or not np.issubdtype(indices.dtype, np.integer)
            or (len(indices) and (indices[0] < 0 or indices[-1] >= NUM_IMAGES or (np.diff(indices) <= 0).any()))
        ):
            return (*empty, CacheStatus(CacheStatus.CORRUPT, "inconsistent arrays"))
        return indices.astype(np.int64), codes, CacheStatus(CacheStatus.VALID)

    def save(self, indices, codes):
        indices = np.asarray(indices, np.int32)
        codes = np.ascontiguousarray(codes)

        def dump(temp):
            with open(temp, "wb") as f:  # a file object, so savez keeps the temporary name
                np.savez(
                    f,
                    key=np.array(self.key_json),
                    indices=indices,
                    codes=codes,
                    checksum=np.array(_checksum(self.key_json, indices, codes)),
                )
                f.flush()
                os.fsync(f.fileno())

        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        write_atomic(self.path, dump)  # also removes temporaries of killed writers


def _merge(indices, codes, more_indices, more_codes):
    """Union of two (sorted unique indices, codes) sets; ``more`` adds only indices not in the first."""
    if codes is None or not len(indices):
        return more_indices, more_codes
    if more_codes is None or not len(more_indices):
        return indices, codes
    new = ~np.isin(more_indices, indices, assume_unique=True)
    all_indices = np.concatenate([indices, more_indices[new]])
    order = np.argsort(all_indices, kind="stable")
    return all_indices[order], np.concatenate([codes, more_codes[new].astype(codes.dtype, copy=False)])[order]


class ModelEncodings:
    """A SavedModel's encoder mean as a representation (image indices -> float64 codes [n, L],
    for `bvae_tf.evaluate.evaluate_representation`), with every code cached beside the model.

    Args:
      model: a `bvae_tf.saved_model.SavedModel`.
      batch_size: images per encoder call.
      cache: True: read and extend ``<model>/evaluations/encodings.npz``; False: encode everything, write
        nothing; or a path for the cache file.
      progress: a `bvae_tf.progress.Progress` or a flag.
      checkpoint_s: a long encoding saves what it has at this interval.
      dataset: a `bvae_tf.data.DSprites` (default: rendered images); one holding images of its
        own is never cached (the key could not tell its images from the renderer's).

    After a call, ``stats`` says what happened: ``{"cache": path or None, "status": "off" |
    "missing" | "valid" | "stale" | "corrupt", "reason", "from_cache": n, "encoded": n,
    "cache_load_s", "cache_save_s", "seconds": s, "cpu_s": CPU seconds of the process}``.
    """

    def __init__(self, model, batch_size=1024, cache=True, progress=None, checkpoint_s=CHECKPOINT_S, dataset=None):
        self.model = model
        dataset = dataset or DSprites()
        encode = model.encoder(dataset.channels)
        self.signature = _signature_name(encode)
        self.images = ImageRepresentation(encode, dataset, batch_size)
        self.progress = Progress.of(progress)
        self.checkpoint_s = checkpoint_s
        self.cache = None
        dataset = self.images.dataset
        # No cache for a stochastic dataset (each draw is its own observation, never seen twice)
        # nor for dSprites images given as an array (the key could not tell them from the renderer's).
        if cache and not dataset.stochastic and dataset_is_rendered(dataset):
            path = cache if isinstance(cache, (str, os.PathLike)) else ModelFolder(model.path).encodings
            self.cache = EncodingCache(os.fspath(path), self.key())
        self.stats = {}

    def key(self):
        """What the cached codes are codes of (see the module docstring)."""
        import tensorflow as tf

        dataset = self.images.dataset
        return {
            "format": FORMAT,
            "model": model_hash(self.model.path),
            "signature": self.signature,
            "batch_size": self.images.batch_size,
            "dataset": dataset.name,
            "images": images_hash() if dataset.binary else dataset.describe(),
            "tensorflow": tf.__version__,
        }

    def __call__(self, indices, keys=None):
        if keys is not None:  # a stochastic dataset's draws: each encoded, none cached
            return self._encode_draws(np.asarray(indices, np.int64), keys)
        start, cpu_start = time.perf_counter(), time.process_time()
        indices = np.asarray(indices, np.int64)
        unique, inverse = np.unique(indices, return_inverse=True)
        self._save_seconds = 0.0
        if self.cache is None:
            known, known_codes, status = np.zeros(0, np.int64), None, CacheStatus("off")
        else:
            known, known_codes, status = self.cache.load()
            self._report_status(status)
        load_seconds = time.perf_counter() - start
        hit, position = np.zeros(len(unique), bool), None
        if len(known):
            position = np.minimum(np.searchsorted(known, unique), len(known) - 1)
            hit = known[position] == unique
        missing = unique[~hit]
        self.stats = {
            "cache": self.cache.path if self.cache else None,
            "status": status.state,
            "reason": status.reason,
            "from_cache": int(hit.sum()),
            "encoded": int(len(missing)),
            "cache_load_s": load_seconds,
        }
        if self.cache is not None and len(unique):
            self.progress.note(
                f"encodings: {int(hit.sum()):,} of {len(unique):,} images from the cache, {len(missing):,} to encode"
            )
        new_codes = self._encode(missing, known, known_codes)
        codes = None
        if len(unique):
            first = new_codes if known_codes is None else known_codes
            codes = np.empty((len(unique), first.shape[1]), np.float64)
            if hit.any():
                codes[hit] = known_codes[position[hit]]
            if len(missing):
                codes[~hit] = new_codes
        self.stats["cache_save_s"] = self._save_seconds
        self.stats["seconds"] = time.perf_counter() - start
        self.stats["cpu_s"] = time.process_time() - cpu_start  # all threads: rendering, TensorFlow
        return codes[inverse] if codes is not None else np.zeros((0, 0))

    def _encode_draws(self, indices, keys):
        start, cpu_start = time.perf_counter(), time.process_time()
        chunks = []
        with self.progress.bar(len(indices), "encoding", unit="images") as bar:
            for begin, stop, codes in self.images.stream(indices, keys):
                chunks.append(np.asarray(codes, np.float64))
                bar.update(stop - begin)
        self.stats = {
            "cache": None,
            "status": "off",
            "reason": f"{self.images.dataset.name} is stochastic: every draw is a new observation",
            "from_cache": 0,
            "encoded": len(indices),
            "cache_load_s": 0.0,
            "cache_save_s": 0.0,
            "seconds": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu_start,
        }
        return np.concatenate(chunks) if chunks else np.zeros((0, 0))

    def _report_status(self, status):
        if status.state in (CacheStatus.STALE, CacheStatus.CORRUPT):
            self.progress.note(f"encodings: {self.cache.path} is {status.state} ({status.reason}); rebuilding it")

    def _encode(self, missing, known, known_codes):
        """Codes of ``missing`` (sorted), encoded in chunks; saved with ``known`` now and then."""
        if not len(missing):
            return None
        chunks, last_save, done = [], time.monotonic(), 0
        with self.progress.bar(len(missing), "encoding", unit="images") as bar:
            for start, stop, codes in self.images.stream(missing):
                chunks.append(codes)
                done = stop
                bar.update(stop - start)
                if self.cache is not None and time.monotonic() - last_save >= self.checkpoint_s and stop < len(missing):
                    self._save(known, known_codes, missing[:done], np.concatenate(chunks))
                    last_save = time.monotonic()
        new_codes = np.concatenate(chunks)
        if self.cache is not None:
            self._save(known, known_codes, missing, new_codes)
        return new_codes

    def _save(self, known, known_codes, indices, codes):
        start = time.perf_counter()
        try:
            self._merge_and_save(known, known_codes, indices, codes)
        finally:
            self._save_seconds += time.perf_counter() - start

    def _merge_and_save(self, known, known_codes, indices, codes):
        indices, codes = _merge(known, known_codes, indices, codes)
        on_disk, disk_codes, status = self.cache.load()  # another evaluation of this model may have added some
        if status.state == CacheStatus.VALID and disk_codes.shape[1:] == codes.shape[1:]:
            indices, codes = _merge(indices, codes, on_disk, disk_codes)
        try:
            self.cache.save(indices, codes)
        except OSError as error:  # a read-only model folder, a full disk: evaluate without caching
            reason = error.strerror or (error.args[0] if error.args else type(error).__name__)
            self.progress.note(f"encodings: cannot write {self.cache.path} ({reason}); continuing without the cache")
            self.stats["cache_error"] = f"cannot write: {reason}"
            self.cache = None


def dataset_is_rendered(dataset):
    """Whether a dSprites ``dataset`` renders its images (the default) rather than looking them up
    in an array given to it (always true of other datasets: their images come from their files)."""
    return not dataset.binary or getattr(dataset, "_images", None) is None


def _signature_name(encode):
    """The signature `SavedModel.encoder` picked (its function's bound default), for the cache key."""
    defaults = getattr(encode, "__defaults__", None) or ()
    return next((value for value in defaults if isinstance(value, str)), "encoder")
