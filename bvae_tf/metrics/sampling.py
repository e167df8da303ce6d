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

import numpy as np

from bvae_tf.data.dsprites import NUM_IMAGES, DSprites
from bvae_tf.metrics.registry import Sampler


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Sample sizes; defaults are the reference (disentanglement_lib) ones."""

    num_train: int = 10_000  # uniform points for MIG, modularity, DCI, SAP (train)
    num_test: int = 5_000  # held-out points for explicitness, DCI, SAP
    num_points_train: int = 10_000  # Z-diff / Z-min training points (one batch each)
    num_points_eval: int = 5_000  # Z-diff / Z-min evaluation points
    batch_size: int = 64  # images per Z-diff / Z-min batch
    num_variance: int = 10_000  # points for Z-min's global variance


PRESETS = {
    "reference": Sizes(),
    # Quick looks: fewer, smaller batches keep the encoded images near 30k (~10-20 s on 2 cores).
    "fast": Sizes(1_000, 500, 200, 100, 32, 1_000),
}


def from_images(encode, dataset=None, batch_size=1024):
    """Representation that renders images and encodes them with ``encode``.

    ``encode(images float32 [n, 64, 64, 1] in {0, 1}) -> codes [n, L]``, called on batches of
    ``batch_size``; rendering happens 8 batches at a time to bound memory.
    """
    dataset = dataset or DSprites()

    def represent(indices):
        chunks = []
        for start in range(0, len(indices), 8 * batch_size):
            classes = DSprites.indices_to_classes(indices[start : start + 8 * batch_size])
            images = dataset.images(classes)[..., None].astype(np.float32)
            for i in range(0, len(images), batch_size):
                chunks.append(np.asarray(encode(images[i : i + batch_size]), np.float64))
        return np.concatenate(chunks)

    return represent


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


def draw_codes(sizes, seed):
    """One uniform sample split into train and test points, shared by the code-based metrics."""
    generator = rng(seed, "codes")
    train = DSprites.sample_factors(sizes.num_train, generator)
    return {"train": train, "test": DSprites.sample_factors(sizes.num_test, generator)}, {}


# MIG, modularity, DCI and SAP score one uniform sample of (codes, factors), also given directly
# by users with codes and factors of their own (`evaluate --codes`).
CODES = Sampler("codes", draw_codes, uniform="train")


@dataclasses.dataclass
class Samples:
    """What the scorers need: factor classes, their codes (same keys), labels, encoding stats."""

    factors: dict
    codes: dict
    labels: dict
    uniform: str  # the key of a uniform sample of codes (for the count of active latents)
    num_drawn: int  # images the metrics asked for
    num_encoded: int  # distinct images actually encoded
    encode_seconds: float


def train_test(samples):
    """The code-based metrics' arguments: (train codes, train factors, test codes, test factors)."""
    c, f = samples.codes, samples.factors
    return c["train"], f["train"], c["test"], f["test"]


def samplers_of(metrics):
    """The distinct samplers of ``metrics`` (Metric objects), in order of first use."""
    return list(dict.fromkeys(metric.sampler for metric in metrics))


def sample(represent, metrics, sizes=PRESETS["reference"], seed=0):
    """Draw every requested metric's factors, encode each distinct image once, gather codes."""
    factors, labels = {}, {}
    samplers = samplers_of(metrics)
    for sampler in samplers:
        drawn, drawn_labels = sampler.draw(sizes, seed)
        factors.update(drawn)
        labels.update(drawn_labels)
    flat = [DSprites.classes_to_indices(f.reshape(-1, f.shape[-1])) for f in factors.values()]
    unique, inverse = np.unique(np.concatenate(flat), return_inverse=True)
    start = time.perf_counter()
    encoded = np.asarray(represent(unique), np.float64)
    seconds = time.perf_counter() - start
    if encoded.ndim != 2 or len(encoded) != len(unique):
        raise ValueError(f"the representation must return codes [n, L] for n={len(unique)} images, "
                         f"got {encoded.shape}")
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


def score(samples, metrics, spec):
    """Run the scorers of ``metrics`` (Metric objects) on ``samples``:
    ``({name: Result}, {name: seconds})``."""
    results, seconds = {}, {}
    for metric in metrics:
        start = time.perf_counter()
        results[metric.name] = metric.score(samples, spec)
        seconds[metric.name] = time.perf_counter() - start
    return results, seconds
