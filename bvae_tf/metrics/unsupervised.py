"""Unsupervised scores: Gaussian total correlation, Gaussian Wasserstein correlation, mean pairwise MI.

Locatello, Bauer, Lucic, Rätsch, Gelly, Schölkopf & Bachem, "Challenging Common Assumptions in the
Unsupervised Learning of Disentangled Representations", ICML 2019 (https://arxiv.org/abs/1811.12359);
as in `disentanglement_lib/evaluation/metrics/unsupervised_metrics.py`. They need no factors: they
measure how far the codes are from having independent dimensions.
"""

import dataclasses

import numpy as np
import scipy.linalg

from bvae_tf.metrics import utils
from bvae_tf.metrics.registry import MatrixView, Metric, Score
from bvae_tf.metrics.sampling import CODES


@dataclasses.dataclass
class UnsupervisedResult(utils.Result):
    gaussian_total_correlation: float  # nats
    gaussian_wasserstein_correlation: float
    gaussian_wasserstein_correlation_norm: float  # the above / trace of the covariance
    mutual_info_score: float  # mean MI (nats) between distinct discretized latents
    mutual_info: np.ndarray = utils.matrix("latent", "latent")  # diagonal set to 0
    covariance: np.ndarray = utils.matrix("latent", "latent")


def gaussian_total_correlation(cov):
    """KL(N(0, cov) || N(0, diag(cov))) in nats: the total correlation of a Gaussian."""
    return 0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1])


def gaussian_wasserstein_correlation(cov):
    """2 tr(cov) - 2 tr(sqrtm(cov diag(cov)[:, None])): the reference's (squared) W2 distance
    between N(0, cov) and the product of its marginals."""
    root = scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])
    return 2.0 * np.trace(cov) - 2.0 * np.real(np.trace(root))


def unsupervised(codes):
    """The four unsupervised scores of disentanglement_lib on codes [N, L].

    The Gaussian scores come from the covariance of the codes (``np.cov``, N - 1 normalization).
    A latent of zero variance is left out of them: it is independent of the others, so it adds
    nothing to either correlation (the reference instead returns NaN, from log 0 - log 0, for
    total correlation). Covariance of lower rank among the varying latents (e.g. N <= L, or a
    latent copying another) makes the total correlation +inf, as in the reference.

    ``mutual_info_score`` is the mean MI between distinct latents after the 20-bin discretization,
    over all L (L - 1) ordered pairs, constant latents included (their MI is 0), as the
    reference; 0 when L = 1 (no pairs; the reference divides 0 by 0).

    Returns:
      `UnsupervisedResult`.
    """
    codes = utils.check_codes(codes)
    if len(codes) < 2:
        raise ValueError(f"codes must have at least 2 rows for a covariance, got {len(codes)}")
    num_latents = codes.shape[1]
    cov = np.cov(codes.T).reshape(num_latents, num_latents)
    varying = np.diag(cov) > 0
    kept = cov[np.ix_(varying, varying)]
    total = float(gaussian_total_correlation(kept)) if varying.any() else 0.0
    wasserstein = float(gaussian_wasserstein_correlation(kept)) if varying.any() else 0.0
    trace = np.trace(cov)
    discrete = utils.histogram_discretize(codes)
    mi = utils.mutual_info_matrix(discrete, discrete)
    np.fill_diagonal(mi, 0.0)
    pairs = num_latents * (num_latents - 1)
    return UnsupervisedResult(
        gaussian_total_correlation=total,
        gaussian_wasserstein_correlation=wasserstein,
        gaussian_wasserstein_correlation_norm=wasserstein / trace if trace > 0 else 0.0,
        mutual_info_score=float(mi.sum() / pairs) if pairs else 0.0,
        mutual_info=mi,
        covariance=cov,
    )


def _score(samples, options, seed):
    return unsupervised(samples.codes["train"])


def _lower(field, column, label=None, high=None):
    return Score(field, column, label, high=high, higher_is_better=False)


# The reference's 10,000 uniform points are the code-based metrics' `num_train` (no extra encoding;
# `evaluate --codes` scores them too). Every score is lower for more independent latents.
METRIC = Metric(
    "unsupervised",
    CODES,
    _score,
    (
        _lower("gaussian_total_correlation", "gaussian_total_correlation", "Gaussian TC"),
        _lower("gaussian_wasserstein_correlation", "gaussian_wasserstein_correlation"),
        _lower(
            "gaussian_wasserstein_correlation_norm", "gaussian_wasserstein_correlation_norm", "Gaussian W corr", 2.0
        ),
        _lower("mutual_info_score", "unsupervised_mi", "Mean latent MI"),
    ),
    views=(MatrixView("mutual_info", "MI between latents (unsupervised)", rows="latent"),),
    default=False,
)
