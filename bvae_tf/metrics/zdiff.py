"""β-VAE score, a.k.a. Z-diff.

Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained Variational
Framework", ICLR 2017 (https://openreview.net/forum?id=Sy2fzU9gl); as in
`disentanglement_lib/evaluation/metrics/beta_vae.py`.
"""

import dataclasses

import numpy as np
from sklearn.linear_model import LogisticRegression

from bvae_tf.metrics import sampling, utils
from bvae_tf.metrics.registry import MatrixView, Metric, Sampler, Score


@dataclasses.dataclass
class ZDiffResult(utils.Result):
    score: float  # eval accuracy
    train_accuracy: float
    # Mean training feature per fixed factor: the latent whose |Δz| drops when factor k is held
    # fixed is the one that encodes k (the report's "Z-diff" factor x latent view).
    mean_abs_diff: np.ndarray = utils.matrix("factor", "latent")


def features(codes1, codes2):
    """One point per batch pair: mean over the batch of |z1 - z2|. codes: [P, B, L] -> [P, L]."""
    return np.mean(np.abs(np.asarray(codes1, np.float64) - np.asarray(codes2, np.float64)), axis=1)


def zdiff(train_features, train_labels, eval_features, eval_labels):
    """Accuracy of a multinomial logistic regression (sklearn defaults, no scaling) that predicts
    the fixed factor from the batch feature; chance is 1 / number of factors.

    Args:
      train_features, eval_features: float [P, L] from `features`.
      train_labels, eval_labels: int [P] index of the factor held fixed in each pair of batches.
    Returns:
      `ZDiffResult`.
    """
    x_train, y_train, x_eval, y_eval = utils.check_features(train_features, train_labels, eval_features, eval_labels)
    if len(np.unique(y_train)) < 2:
        raise ValueError("train_labels must name at least two different factors")
    with utils.quiet_fit():
        model = LogisticRegression().fit(x_train, y_train)
    num_factors = max(int(y_train.max()), int(y_eval.max())) + 1
    mean_abs_diff = np.stack(
        [
            x_train[y_train == k].mean(axis=0) if np.any(y_train == k) else np.full(x_train.shape[1], np.nan)
            for k in range(num_factors)
        ]
    )
    return ZDiffResult(
        score=float(np.mean(model.predict(x_eval) == y_eval)),
        train_accuracy=float(np.mean(model.predict(x_train) == y_train)),
        mean_abs_diff=mean_abs_diff,
    )


@dataclasses.dataclass(frozen=True)
class PairSizes:
    """Z-diff's sample: the reference's sizes."""

    num_points_train: int = 10_000  # training points (one pair of batches each)
    num_points_eval: int = 5_000  # evaluation points
    batch_size: int = 64  # images per batch


def draw(sizes, seed, dataset):
    """Pairs of batches sharing one factor k (chosen uniformly per pair) and nothing else by design."""
    factors, labels = {}, {}
    for split, num in (("train", sizes.num_points_train), ("eval", sizes.num_points_eval)):
        rng = sampling.rng(seed, "zdiff" + split)
        k = rng.integers(0, dataset.num_factors, num)
        first = sampling.latents(dataset, num * sizes.batch_size, rng).reshape(num, sizes.batch_size, -1)
        second = sampling.latents(dataset, num * sizes.batch_size, rng).reshape(num, sizes.batch_size, -1)
        second[np.arange(num), :, k] = first[np.arange(num), :, k]  # share factor k pairwise
        factors[f"zdiff_{split}_1"], factors[f"zdiff_{split}_2"], labels[f"zdiff_{split}"] = first, second, k
    return factors, labels


def _score(samples, options, seed):
    codes, labels = samples.codes, samples.labels
    train, test = (features(codes[f"zdiff_{x}_1"], codes[f"zdiff_{x}_2"]) for x in ("train", "eval"))
    return zdiff(train, labels["zdiff_train"], test, labels["zdiff_eval"])


METRIC = Metric(
    "zdiff",
    Sampler("zdiff", draw, uniform="zdiff_train_1", sizes=PairSizes(), fast=PairSizes(200, 100, 32)),
    _score,
    (
        Score("score", "zdiff", "Z-diff (β-VAE score)"),
        Score("train_accuracy", "zdiff_train"),
    ),
    views=(MatrixView("mean_abs_diff", "mean |Δz| with the factor fixed (Z-diff)", latent_rows=False),),
)
