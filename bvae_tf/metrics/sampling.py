"""Samplers: build the scorers' arrays from a representation and a ground-truth dataset.

Encoding is the cost of every evaluation, so `sample` first draws the latent factor vectors of
every requested metric (each sampler from its own seeded stream, so a metric's number does not
depend on which other metrics run), completes the dataset's nuisance factors (seeded), then
encodes each distinct image once, in large batches, and gathers the codes back. At the
reference sizes Z-diff alone draws 1.9M images, more than the 737,280 of the dSprites grid;
deduplication caps the cost at the grid. A stochastic dataset (random colour, noise or
background per observation) has no two equal draws: each drawn point is its own observation,
its random numbers keyed by (seed, evaluation stream, draw), and nothing is deduplicated.

A *representation* here is a function from image indices (the dataset's order), and for a
stochastic dataset the draws' keys, to codes [n, L]; `from_images`, `from_factors` and
`from_grid` build one. The dataset defaults to dSprites (`bvae_tf.data.DSprites`).
"""

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bvae_tf.data.dsprites import DSprites
from bvae_tf.data.keyed import keyed_observe
from bvae_tf.metrics.registry import Sampler
from bvae_tf.progress import Progress


class ImageRepresentation:
    """Representation that looks up (or renders) a dataset's images and encodes them; built by
    `from_images`.

    Calling it on image indices (and, for a stochastic dataset, the draws' keys) returns their
    codes as float64 [n, L]; `stream` yields the encoder's own output chunk by chunk (for
    callers that store codes or show progress).
    """

    def __init__(self, encode, dataset=None, batch_size=1024, chunk_batches=8, render_ahead=True):
        if batch_size < 1 or chunk_batches < 1:
            raise ValueError(f"batch_size and chunk_batches must be >= 1, got {batch_size}, {chunk_batches}")
        self.encode = encode
        self.dataset = dataset or DSprites()
        self.batch_size = batch_size
        self.chunk_size = chunk_batches * batch_size
        self.render_ahead = render_ahead

    def __call__(self, indices, keys=None):
        chunks = [np.asarray(codes, np.float64) for _, _, codes in self.stream(indices, keys)]
        if not chunks:
            return np.zeros((0, 0))
        return np.concatenate(chunks)

    def render(self, indices, keys=None):
        """float32 observations [n, 64, 64, C] in [0, 1] of image ``indices`` (``keys`` [n, 3]: a
        stochastic dataset's per-draw keys)."""
        return keyed_observations(self.dataset, self.dataset.images(np.asarray(indices, np.int64)), keys)

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

    def stream(self, indices, keys=None):
        """Yield ``(start, stop, codes)`` for consecutive chunks of ``indices`` (``chunk_batches``
        batches each), codes as the encoder returned them. With ``render_ahead`` the next chunk
        is rendered in a background thread while the encoder works on this one (numpy rendering
        and TensorFlow both release the GIL)."""
        indices = np.asarray(indices)
        starts = range(0, len(indices), self.chunk_size)

        def render(start):
            stop = start + self.chunk_size
            return self.render(indices[start:stop], None if keys is None else keys[start:stop])

        if not self.render_ahead or len(starts) < 2:
            for start in starts:
                stop = min(start + self.chunk_size, len(indices))
                yield start, stop, self.encode_images(render(start))
            return
        with ThreadPoolExecutor(1, thread_name_prefix="render") as pool:
            pending = pool.submit(render, 0)
            try:
                for start in starts:
                    images = pending.result()
                    stop = start + len(images)
                    if stop < len(indices):
                        pending = pool.submit(render, stop)
                    yield start, stop, self.encode_images(images)
            finally:
                pending.cancel()


def keyed_observations(dataset, images, keys=None):
    """A dataset's stored uint8 images [n, 64, 64, C] as float32 observations in [0, 1]. A
    stochastic dataset's random numbers come from ``keys``, one per draw (`bvae_tf.data.keyed`, the
    generator training uses too), not from a RandomState as in the protocol's `dataset.observe`."""
    if not dataset.stochastic:
        return dataset.observe(images, random_state=None)
    if keys is None:
        raise ValueError(f"{dataset.name} is stochastic: its observations need a key per draw")
    return keyed_observe(dataset.variant, images, keys, getattr(dataset, "painting", None))


def from_images(encode, dataset=None, batch_size=1024):
    """Representation that looks up (or renders) a dataset's images and encodes them with ``encode``.

    ``encode(observations float32 [n, 64, 64, C] in [0, 1]) -> codes [n, L]`` is called on batches of
    exactly ``batch_size`` images (the last one padded, its extra codes dropped); rendering
    happens 8 batches at a time to bound memory, the next 8 in a background thread while these
    are encoded. Returns an `ImageRepresentation` (indices -> float64 codes).
    """
    return ImageRepresentation(encode, dataset, batch_size)


def from_factors(fn, dataset=None):
    """Representation computed from the latent factor classes [n, F] directly (no images): for
    ground-truth codes in tests, or any model of the factors."""
    dataset = dataset or DSprites()
    latent = list(dataset.latent_factor_indices)
    return lambda indices, keys=None: np.asarray(fn(dataset.classes_of(indices)[:, latent]), np.float64)


def from_grid(codes, dataset=None):
    """Representation looked up in precomputed codes for every image of a (deterministic)
    dataset, in its order (dSprites: 737,280)."""
    dataset = dataset or DSprites()
    codes = np.asarray(codes)
    if codes.ndim != 2 or len(codes) != dataset.num_images:
        raise ValueError(f"grid codes must have shape [{dataset.num_images}, L], got {codes.shape}")
    return lambda indices, keys=None: codes[indices].astype(np.float64)


def latents(dataset, num, generator):
    """``num`` latent factor vectors [num, F], each factor uniform and independent (for dSprites:
    the draws of ``DSprites.sample_factors`` with a generator)."""
    columns = [generator.integers(0, size, num) for size in dataset.factors_num_values]
    return np.stack(columns, axis=1).astype(np.int64).reshape(num, dataset.num_factors)


def rng(seed, stream):
    """An independent generator per (seed, sampler stream)."""
    return np.random.default_rng([seed, sum(map(ord, stream))])


@dataclasses.dataclass(frozen=True)
class CodesSizes:
    """The code-based metrics' sample: the reference's sizes."""

    num_train: int = 10_000  # uniform points for MIG, modularity, DCI, SAP (train)
    num_test: int = 5_000  # held-out points for explicitness, DCI, SAP


def draw_codes(sizes, seed, dataset):
    """One uniform sample split into train and test points, shared by the code-based metrics."""
    generator = rng(seed, "codes")
    train = latents(dataset, sizes.num_train, generator)
    return {"train": train, "test": latents(dataset, sizes.num_test, generator)}, {}


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


def example_observations(dataset, count, seed=0):
    """``count`` seeded observations float32 [count, 64, 64, C] of uniform latent factors: the
    fixed inputs of figures (traversals, reconstructions)."""
    factors = latents(dataset, count, np.random.default_rng(seed))
    indices = dataset.index_of(dataset.complete_factors(factors, np.random.RandomState(seed)))
    keys = np.stack([np.full(count, seed), np.full(count, EVALUATION_STREAM), np.arange(count)], axis=1)
    return keyed_observations(dataset, dataset.images(indices), keys)  # keys: used by stochastic datasets only


EVALUATION_STREAM = -1  # the middle word of an evaluation draw's key (training uses epochs >= 0)


def sample(represent, metrics, sizes=None, seed=0, progress=None, dataset=None):
    """Draw every requested metric's latent factors, complete the nuisance ones, encode each
    distinct image once (each draw, for a stochastic dataset), gather codes. ``sizes``:
    {sampler name: its sizes} (missing: the reference sizes). ``dataset``: a
    `bvae_tf.data.GroundTruthData` (default dSprites). ``progress`` (a
    `bvae_tf.progress.Progress`, default quiet) is told how many images were drawn."""
    dataset = dataset or DSprites()
    factors, labels = {}, {}
    samplers = samplers_of(metrics)
    for sampler in samplers:
        drawn, drawn_labels = sampler.draw((sizes or {}).get(sampler.name, sampler.sizes), seed, dataset)
        factors.update(drawn)
        labels.update(drawn_labels)
    flat = np.concatenate([f.reshape(-1, f.shape[-1]) for f in factors.values()])
    nuisances = np.random.RandomState(np.random.SeedSequence([seed, sum(map(ord, "nuisance"))]).generate_state(1))
    indices = dataset.index_of(dataset.complete_factors(flat, nuisances))
    start = time.perf_counter()
    if dataset.stochastic:
        keys = np.stack(
            [np.full(len(indices), seed), np.full(len(indices), EVALUATION_STREAM), np.arange(len(indices))], 1
        )
        Progress.of(progress).note(f"sampling: {len(indices):,} observations drawn ({dataset.name}: each its own)")
        unique, inverse = indices, np.arange(len(indices))
        encoded = np.asarray(represent(indices, keys), np.float64)
    else:
        unique, inverse = np.unique(indices, return_inverse=True)
        Progress.of(progress).note(f"sampling: {len(inverse):,} images drawn, {len(unique):,} distinct")
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
        cost = f"; {metric.cost}" if metric.cost else ""
        with progress.step(f"scoring {metric.name} ({i}/{len(metrics)}){cost}") as timing:
            results[metric.name] = metric.score(samples, spec.options_of(metric.name), spec.seed)
        seconds[metric.name] = timing["seconds"]
    return results, seconds
