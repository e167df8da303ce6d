"""Samplers: build the scorers' arrays from a representation and the dSprites ground truth.

Encoding is the cost of every evaluation, so `sample` first draws the factor vectors of every
requested metric (each sampler from its own seeded stream, so a metric's number does not depend
on which other metrics run), then encodes each distinct image once, in large batches, and
gathers the codes back. At the reference sizes Z-diff alone draws 1.9M images, more than the
737,280 of the whole grid; deduplication caps the cost at the grid.

A *representation* here is a function from image indices (dSprites order) to codes [n, L];
`from_images`, `from_factors` and `from_grid` build one.
"""

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bvae_tf.data.dsprites import NUM_IMAGES, DSprites
from bvae_tf.metrics.registry import Sampler
from bvae_tf.progress import Progress


class ImageRepresentation:
    """Representation that renders dSprites images and encodes them; built by `from_images`.

    Calling it on image indices returns their codes as float64 [n, L]; `stream` yields the
    encoder's own output chunk by chunk (for callers that store codes or show progress).
    """

    def __init__(self, encode, dataset=None, batch_size=1024, chunk_batches=8, render_ahead=True):
        if batch_size < 1 or chunk_batches < 1:
            raise ValueError(f"batch_size and chunk_batches must be >= 1, got {batch_size}, {chunk_batches}")
        self.encode = encode
        self.dataset = dataset or DSprites()
        self.batch_size = batch_size
        self.chunk_size = chunk_batches * batch_size
        self.render_ahead = render_ahead

    def __call__(self, indices):
        chunks = [np.asarray(codes, np.float64) for _, _, codes in self.stream(indices)]
        if not chunks:
            return np.zeros((0, 0))
        return np.concatenate(chunks)

    def render(self, indices):
        """float32 images [n, 64, 64, 1] in {0, 1} of image ``indices``."""
        return self.dataset.images(DSprites.indices_to_classes(indices))[..., None].astype(np.float32)

    def encode_images(self, images):
        """Codes of ``images`` as the encoder returns them, ``batch_size`` at a time. Every call of
        ``encode`` gets exactly ``batch_size`` images (a short last batch is padded with blank
        images whose codes are dropped), so an image's code never depends on how many others are
        encoded with it (matrix kernels may round differently for another number of rows)."""
        out = []
        for i in range(0, len(images), self.batch_size):
            batch = images[i : i + self.batch_size]
            n = len(batch)
            if n < self.batch_size:
                batch = np.concatenate([batch, np.zeros((self.batch_size - n, *batch.shape[1:]), batch.dtype)])
            codes = np.asarray(self.encode(batch))
            if codes.ndim != 2 or len(codes) != self.batch_size:
                raise ValueError(f"encode must return codes [n, L] for n={self.batch_size} images, got {codes.shape}")
            out.append(codes[:n])
        return np.concatenate(out)

    def stream(self, indices):
        """Yield ``(start, stop, codes)`` for consecutive chunks of ``indices`` (``chunk_batches``
        batches each), codes as the encoder returned them. With ``render_ahead`` the next chunk
        is rendered in a background thread while the encoder works on this one (numpy rendering
        and TensorFlow both release the GIL)."""
        indices = np.asarray(indices)
        starts = range(0, len(indices), self.chunk_size)
        if not self.render_ahead or len(starts) < 2:
            for start in starts:
                stop = min(start + self.chunk_size, len(indices))
                yield start, stop, self.encode_images(self.render(indices[start:stop]))
            return
        with ThreadPoolExecutor(1, thread_name_prefix="render") as pool:
            pending = pool.submit(self.render, indices[: self.chunk_size])
            try:
                for start in starts:
                    images = pending.result()
                    stop = start + len(images)
                    if stop < len(indices):
                        pending = pool.submit(self.render, indices[stop : stop + self.chunk_size])
                    yield start, stop, self.encode_images(images)
            finally:
                pending.cancel()


def from_images(encode, dataset=None, batch_size=1024):
    """Representation that renders images and encodes them with ``encode``.

    ``encode(images float32 [n, 64, 64, 1] in {0, 1}) -> codes [n, L]`` is called on batches of
    exactly ``batch_size`` images (the last one padded, its extra codes dropped); rendering
    happens 8 batches at a time to bound memory, the next 8 in a background thread while these
    are encoded. Returns an `ImageRepresentation` (indices -> float64 codes).
    """
    return ImageRepresentation(encode, dataset, batch_size)


def from_factors(fn):
    """Representation computed from the factor classes [n, 5] directly (no rendering): for ground
    truth codes in tests, or any model of the factors."""
    return lambda indices: np.asarray(fn(DSprites.indices_to_classes(indices)), np.float64)


def from_grid(codes):
    """Representation looked up in precomputed codes for all 737,280 images in dSprites order."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or len(codes) != NUM_IMAGES:
        raise ValueError(f"grid codes must have shape [{NUM_IMAGES}, L], got {codes.shape}")
    return lambda indices: codes[indices].astype(np.float64)


def rng(seed, stream):
    """An independent generator per (seed, sampler stream)."""
    return np.random.default_rng([seed, sum(map(ord, stream))])


@dataclasses.dataclass(frozen=True)
class CodesSizes:
    """The code-based metrics' sample: the reference's sizes."""

    num_train: int = 10_000  # uniform points for MIG, modularity, DCI, SAP (train)
    num_test: int = 5_000  # held-out points for explicitness, DCI, SAP


def draw_codes(sizes, seed):
    """One uniform sample split into train and test points, shared by the code-based metrics."""
    generator = rng(seed, "codes")
    train = DSprites.sample_factors(sizes.num_train, generator)
    return {"train": train, "test": DSprites.sample_factors(sizes.num_test, generator)}, {}


# MIG, modularity, DCI and SAP score one uniform sample of (codes, factors), also given directly
# by users with codes and factors of their own (`evaluate --codes`).
CODES = Sampler("codes", draw_codes, uniform="train", sizes=CodesSizes(), fast=CodesSizes(1_000, 500))


@dataclasses.dataclass
class Samples:
    """What the scorers need: factor classes, their codes (same keys), labels, encoding stats."""

    factors: dict
    codes: dict
    labels: dict
    uniform: str  # the key of a uniform sample of codes (for the count of active latents)
    num_drawn: int  # images the metrics asked for
    num_distinct: int  # distinct images among them (each encoded once, or taken from the cache)
    encode_seconds: float


def train_test(samples):
    """The code-based metrics' arguments: (train codes, train factors, test codes, test factors)."""
    c, f = samples.codes, samples.factors
    return c["train"], f["train"], c["test"], f["test"]


def samplers_of(metrics):
    """The distinct samplers of ``metrics`` (Metric objects), in order of first use."""
    return list(dict.fromkeys(metric.sampler for metric in metrics))


def sample(represent, metrics, sizes=None, seed=0, progress=None):
    """Draw every requested metric's factors, encode each distinct image once, gather codes.
    ``sizes``: {sampler name: its sizes} (missing: the reference sizes). ``progress`` (a
    `bvae_tf.progress.Progress`, default quiet) is told how many images were drawn."""
    factors, labels = {}, {}
    samplers = samplers_of(metrics)
    for sampler in samplers:
        drawn, drawn_labels = sampler.draw((sizes or {}).get(sampler.name, sampler.sizes), seed)
        factors.update(drawn)
        labels.update(drawn_labels)
    flat = [DSprites.classes_to_indices(f.reshape(-1, f.shape[-1])) for f in factors.values()]
    unique, inverse = np.unique(np.concatenate(flat), return_inverse=True)
    Progress.of(progress).note(f"sampling: {len(inverse):,} images drawn, {len(unique):,} distinct")
    start = time.perf_counter()
    encoded = np.asarray(represent(unique), np.float64)
    seconds = time.perf_counter() - start
    if encoded.ndim != 2 or len(encoded) != len(unique):
        raise ValueError(f"the representation must return codes [n, L] for n={len(unique)} images, got {encoded.shape}")
    codes, offset = {}, 0
    for name, f in factors.items():
        size = int(np.prod(f.shape[:-1]))
        codes[name] = encoded[inverse[offset : offset + size]].reshape(f.shape[:-1] + (-1,))
        offset += size
    return Samples(factors, codes, labels, samplers[0].uniform, len(inverse), len(unique), seconds)


def uniform_codes(samples):
    """Codes of uniformly drawn images, [N, L] (batched samples are flattened)."""
    codes = samples.codes[samples.uniform]
    return codes.reshape(-1, codes.shape[-1])


def score(samples, metrics, spec, progress=None):
    """Run the scorers of ``metrics`` (Metric objects) on ``samples`` with the options and seed
    of ``spec`` (a `bvae_tf.config.EvalSpec`):
    ``({name: Result}, {name: seconds})``. ``progress``: a `bvae_tf.progress.Progress` (default
    quiet) told which metric runs and how long it took."""
    progress = Progress.of(progress)
    results, seconds = {}, {}
    for i, metric in enumerate(metrics, 1):
        with progress.step(f"scoring {metric.name} ({i}/{len(metrics)})") as timing:
            results[metric.name] = metric.score(samples, spec.options_of(metric.name), spec.seed)
        seconds[metric.name] = timing["seconds"]
    return results, seconds
