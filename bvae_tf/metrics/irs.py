"""Interventional Robustness Score (IRS).

Suter, Miladinović, Schölkopf & Bauer, "Robustly Disentangled Causal Mechanisms: Validating Deep
Representations for Interventional Robustness", ICML 2019 (https://arxiv.org/abs/1811.00007); as
in `disentanglement_lib/evaluation/metrics/irs.py` (its "scalable" version, on one sample).
"""

import dataclasses

import numpy as np

from bvae_tf.metrics import utils
from bvae_tf.metrics.registry import MatrixView, Metric, Score
from bvae_tf.metrics.sampling import CODES


@dataclasses.dataclass
class IRSResult(utils.Result):
    irs: float
    num_active_dims: int  # latents with non-zero variance (the ones IRS scores)
    disentanglement_scores: np.ndarray = utils.matrix("latent")  # best row of irs_matrix; 0 if dropped
    max_deviation: np.ndarray = utils.matrix("latent")  # max |z - mean z|: each latent's weight in IRS
    irs_matrix: np.ndarray = utils.matrix("latent", "factor")  # 1 - mean quantile deviation / max_deviation


def irs(codes, factors, diff_quantile=0.99):
    """IRS: how little each latent moves while one factor is held fixed, relative to its whole range.

    For each factor and each of its values, the ``diff_quantile`` quantile of |z - E[z | value]|
    over the points with that value is averaged over the values; one minus that over the latent's
    largest deviation from its mean is the latent's robustness to the other factors. A latent's
    score is its best factor; IRS is their mean weighted by each latent's largest deviation.

    The factor classes are grouped with the same 20-bin discretizer as the codes elsewhere (as
    the reference does, so factors with more than 20 classes share bins). Latents of zero variance
    are dropped (their row and score are 0, their weight 0); with none left IRS is 0.
    ``num_active_dims`` counts the kept latents (disentanglement_lib's field of that name sums
    their code values instead, a bug we do not copy).

    Args:
      codes: float [N, L] representation (encoder means).
      factors: int [N, K] factor class indices.
      diff_quantile: in [0, 1]; 0.99 as disentanglement_lib, 1.0 is the paper's maximum.
    Returns:
      `IRSResult`.
    """
    codes = utils.check_codes(codes)
    factors = utils.check_factors(factors, len(codes))
    if not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must be in [0, 1], got {diff_quantile}")
    groups = utils.histogram_discretize(factors)
    # Active: a latent that takes two values. (The reference tests var > 0, which a constant column
    # can pass by rounding, its deviations from the mean then ~1e-17 or 0: a division by 0 below.)
    active = np.ptp(codes, axis=0) > 0
    z = codes[:, active]
    max_deviation = np.zeros(codes.shape[1])
    max_deviation[active] = np.abs(z - z.mean(axis=0)).max(axis=0)
    matrix = np.zeros((codes.shape[1], factors.shape[1]))
    for k, column in enumerate(groups.T):
        values = np.unique(column)
        deviation = np.zeros(z.shape[1])
        for value in values:
            members = z[column == value]
            deviation += np.percentile(np.abs(members - members.mean(axis=0)), diff_quantile * 100, axis=0)
        matrix[active, k] = 1.0 - deviation / len(values) / max_deviation[active]
    scores = matrix.max(axis=1) * active
    return IRSResult(
        irs=float(np.average(scores, weights=max_deviation)) if active.any() else 0.0,
        num_active_dims=int(active.sum()),
        disentanglement_scores=scores,
        max_deviation=max_deviation,
        irs_matrix=matrix,
    )


@dataclasses.dataclass(frozen=True)
class IRSOptions:
    diff_quantile: float = 0.99  # the quantile of |z - E[z | factor value]| (disentanglement_lib's)

    def __post_init__(self):
        if not 0.0 <= self.diff_quantile <= 1.0:
            raise ValueError(f"diff_quantile must be in [0, 1], got {self.diff_quantile}")


def _score(samples, options, seed):
    return irs(samples.codes["train"], samples.factors["train"], options.diff_quantile)


# One uniform sample, as the reference's 10,000 points: the code-based metrics' (`num_train`), so
# IRS costs no extra encoding and scores `evaluate --codes` with factors too.
METRIC = Metric(
    "irs",
    CODES,
    _score,
    (Score("irs", "irs", "IRS"), Score("num_active_dims", "irs_active_dims", high=None)),
    options=IRSOptions(),
    views=(MatrixView("irs_matrix", "IRS matrix", per_latent="disentanglement_scores"),),
    default=False,
)
