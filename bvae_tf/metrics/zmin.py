"""FactorVAE score, a.k.a. Z-min.

Kim & Mnih, "Disentangling by Factorising", ICML 2018 (https://arxiv.org/abs/1802.05983); as in
`disentanglement_lib/evaluation/metrics/factor_vae.py`, but reporting the true number of
active latents.
"""

import dataclasses
import warnings

import numpy as np

from bvae_tf.metrics import sampling, utils
from bvae_tf.metrics.registry import Metric, Sampler, Score


@dataclasses.dataclass
class ZMinResult(utils.Result):
    score: float  # eval accuracy
    train_accuracy: float
    active_latents: int
    votes: np.ndarray = utils.matrix("factor", "latent")  # train votes (factor held fixed, latent of least variance)


def global_std(codes):
    """Std (ddof=1) of each latent over a uniform sample, used to rescale the batches."""
    return np.std(np.asarray(codes, np.float64), axis=0, ddof=1)


def features(batch_codes, std):
    """One point per batch: per-latent variance (ddof=1) of the codes divided by the global std.

    batch_codes: [P, B, L]; std: [L] from `global_std` (latents with std 0 are left unscaled).
    """
    scaled = np.asarray(batch_codes, np.float64) / np.where(std > 0, std, 1.0)
    return np.var(scaled, axis=1, ddof=1)


def _votes(features, labels, active, num_factors):
    votes = np.zeros((num_factors, features.shape[1]), dtype=np.int64)
    active_index = np.flatnonzero(active)
    chosen = active_index[np.argmin(features[:, active_index], axis=1)]
    np.add.at(votes, (labels, chosen), 1)
    return votes


def zmin(train_features, train_labels, eval_features, eval_labels, active=None):
    """Majority-vote accuracy: each active latent predicts the factor that most often made it the
    least-varying one; accuracy = correct votes / all votes. 0 (with a warning) with no active latent.

    Args:
      train_features, eval_features: float [P, L] from `features`.
      train_labels, eval_labels: int [P] index of the factor held fixed in each batch.
      active: bool [L], latents whose global std is >= 0.05; default: all.
    Returns:
      `ZMinResult`.
    """
    x_train, y_train, x_eval, y_eval = utils.check_features(train_features, train_labels, eval_features, eval_labels)
    active = np.ones(x_train.shape[1], bool) if active is None else np.asarray(active, bool)
    num_factors = int(max(y_train.max(), y_eval.max())) + 1
    if not active.any():
        warnings.warn("zmin: no active latent (all std < 0.05); the score is 0", stacklevel=2)
        return ZMinResult(0.0, 0.0, 0, np.zeros((num_factors, x_train.shape[1]), np.int64))
    train_votes = _votes(x_train, y_train, active, num_factors)
    eval_votes = _votes(x_eval, y_eval, active, num_factors)
    classifier = np.argmax(train_votes, axis=0)
    latents = np.arange(x_train.shape[1])
    return ZMinResult(
        score=float(eval_votes[classifier, latents].sum() / eval_votes.sum()),
        train_accuracy=float(train_votes[classifier, latents].sum() / train_votes.sum()),
        active_latents=int(active.sum()),
        votes=train_votes,
    )


@dataclasses.dataclass(frozen=True)
class BatchSizes:
    """Z-min's sample: the reference's sizes."""

    num_points_train: int = 10_000  # training points (one batch each)
    num_points_eval: int = 5_000  # evaluation points
    batch_size: int = 64  # images per batch
    num_variance: int = 10_000  # uniform points for the global variance


def draw(sizes, seed, dataset):
    """Batches in which one factor k (chosen uniformly per batch) keeps one value; a uniform
    sample for the global variance."""
    factors, labels = {}, {}
    for split, num in (("train", sizes.num_points_train), ("eval", sizes.num_points_eval)):
        rng = sampling.rng(seed, "zmin" + split)
        k = rng.integers(0, dataset.num_factors, num)
        batch = sampling.latents(dataset, num * sizes.batch_size, rng).reshape(num, sizes.batch_size, -1)
        fixed = sampling.latents(dataset, num, rng)
        batch[np.arange(num), :, k] = fixed[np.arange(num), k][:, None]  # one value of k per batch
        factors[f"zmin_{split}"], labels[f"zmin_{split}"] = batch, k
    factors["zmin_variance"] = sampling.latents(dataset, sizes.num_variance, sampling.rng(seed, "zminvar"))
    return factors, labels


def _score(samples, options, seed):
    codes, labels = samples.codes, samples.labels
    std = global_std(codes["zmin_variance"])
    train, test = (features(codes[f"zmin_{x}"], std) for x in ("train", "eval"))
    return zmin(train, labels["zmin_train"], test, labels["zmin_eval"], active=std >= utils.ACTIVE_STD)


METRIC = Metric(
    "zmin",
    Sampler("zmin", draw, uniform="zmin_variance", sizes=BatchSizes(), fast=BatchSizes(200, 100, 32, 1_000)),
    _score,
    (
        Score("score", "zmin", "Z-min (FactorVAE score)"),
        Score("train_accuracy", "zmin_train"),
    ),
)
