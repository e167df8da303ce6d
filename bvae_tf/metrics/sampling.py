"""Samplers: build the scorers' arrays from a representation and the dSprites ground truth.

Encoding is the cost of every evaluation, so `sample` first draws the factor vectors of every
requested metric (each metric family from its own seeded stream, so a metric's number does not
depend on which other metrics run), then encodes each distinct image once, in large batches, and
gathers the codes back. At the reference sizes Z-diff alone draws 1.9M images, more than the
737,280 of the whole grid; deduplication caps the cost at the grid.

A *representation* here is a function from image indices (dSprites order) to codes [n, L];
`from_images`, `from_factors` and `from_grid` build one.
"""

import dataclasses
import time

import numpy as np

from bvae_tf.data.dsprites import FACTOR_SIZES, NUM_IMAGES, DSprites
from bvae_tf.metrics import beta_vae, factor_vae
from bvae_tf.metrics.dci import dci
from bvae_tf.metrics.mig import mig
from bvae_tf.metrics.modularity import modularity_explicitness
from bvae_tf.metrics.sap import sap
from bvae_tf.metrics.utils import ACTIVE_STD

METRICS = ("mig", "zdiff", "zmin", "modularity", "dci", "sap")
CODE_METRICS = ("mig", "modularity", "dci", "sap")  # scored on one shared uniform sample
BATCH_METRICS = ("zdiff", "zmin")  # scored on batches built by intervening on the factors


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


def _rng(seed, stream):
    """An independent generator per (seed, metric family)."""
    return np.random.default_rng([seed, sum(map(ord, stream))])


def draw(metrics, sizes, seed):
    """Factor classes every requested metric needs: ``{name: int array [..., 5]}`` (plus labels)."""
    factors, labels = {}, {}
    num_factors = len(FACTOR_SIZES)
    if any(m in metrics for m in CODE_METRICS):
        rng = _rng(seed, "codes")
        factors["train"] = DSprites.sample_factors(sizes.num_train, rng)
        factors["test"] = DSprites.sample_factors(sizes.num_test, rng)
    for split, num in (("train", sizes.num_points_train), ("eval", sizes.num_points_eval)):
        if "zdiff" in metrics:
            rng = _rng(seed, "zdiff" + split)
            k = rng.integers(0, num_factors, num)
            first = DSprites.sample_factors(num * sizes.batch_size, rng).reshape(num, sizes.batch_size, -1)
            second = DSprites.sample_factors(num * sizes.batch_size, rng).reshape(num, sizes.batch_size, -1)
            second[np.arange(num), :, k] = first[np.arange(num), :, k]  # share factor k pairwise
            factors[f"zdiff_{split}_1"], factors[f"zdiff_{split}_2"], labels[f"zdiff_{split}"] = first, second, k
        if "zmin" in metrics:
            rng = _rng(seed, "zmin" + split)
            k = rng.integers(0, num_factors, num)
            batch = DSprites.sample_factors(num * sizes.batch_size, rng).reshape(num, sizes.batch_size, -1)
            fixed = DSprites.sample_factors(num, rng)
            batch[np.arange(num), :, k] = fixed[np.arange(num), k][:, None]  # one value of k per batch
            factors[f"zmin_{split}"], labels[f"zmin_{split}"] = batch, k
    if "zmin" in metrics:
        factors["zmin_variance"] = DSprites.sample_factors(sizes.num_variance, _rng(seed, "zminvar"))
    return factors, labels


@dataclasses.dataclass
class Samples:
    """What the scorers need: factor classes, their codes (same keys), labels, encoding stats."""

    factors: dict
    codes: dict
    labels: dict
    num_drawn: int  # images the metrics asked for
    num_encoded: int  # distinct images actually encoded
    encode_seconds: float


def sample(represent, metrics=METRICS, sizes=PRESETS["reference"], seed=0):
    """Draw every requested metric's factors, encode each distinct image once, gather codes."""
    factors, labels = draw(metrics, sizes, seed)
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
    return Samples(factors, codes, labels, len(inverse), len(unique), seconds)


def score(samples, metrics=METRICS, seed=0, dci_model="reference"):
    """Run the scorers on ``samples``: ``({metric: Result}, {metric: seconds})``. ``seed`` seeds
    the classifiers that draw random numbers (DCI's trees, SAP's SVMs)."""
    c, f, results, seconds = samples.codes, samples.factors, {}, {}
    split = (c.get("train"), f.get("train"), c.get("test"), f.get("test"))
    for name in metrics:
        start = time.perf_counter()
        if name == "mig":
            results[name] = mig(c["train"], f["train"])
        elif name == "modularity":
            results[name] = modularity_explicitness(*split)
        elif name == "dci":
            results[name] = dci(*split, seed=seed, model=dci_model)
        elif name == "sap":
            results[name] = sap(*split, seed=seed)
        elif name == "zdiff":
            train, test = (beta_vae.features(c[f"zdiff_{x}_1"], c[f"zdiff_{x}_2"]) for x in ("train", "eval"))
            labels = samples.labels
            results[name] = beta_vae.beta_vae_score(train, labels["zdiff_train"], test, labels["zdiff_eval"])
        elif name == "zmin":
            std = factor_vae.global_std(c["zmin_variance"])
            train, test = (factor_vae.features(c[f"zmin_{x}"], std) for x in ("train", "eval"))
            labels = samples.labels
            results[name] = factor_vae.factor_vae_score(
                train, labels["zmin_train"], test, labels["zmin_eval"], active=std >= ACTIVE_STD
            )
        else:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        seconds[name] = time.perf_counter() - start
    return results, seconds
