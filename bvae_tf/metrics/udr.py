"""Unsupervised Disentanglement Ranking (UDR).

Duan, Matthey, Saraiva, Watters, Burgess, Lerchner & Higgins, "Unsupervised Model Selection for
Variational Disentangled Representation Learning", ICLR 2020 (https://arxiv.org/abs/1905.12614);
as `compute_udr_sklearn` in `disentanglement_lib/evaluation/udr/metrics/udr.py`. A disentangled
model is one whose informative latents match, one to one up to sign and order, those of other
models of the same kind trained with other seeds: UDR scores a set of models, not one.
"""

import dataclasses

import numpy as np
import scipy.stats
from sklearn.linear_model import Lasso
from sklearn.preprocessing import StandardScaler

from bvae_tf.metrics import utils

KL_THRESHOLD = 0.01  # a latent whose mean KL (nats) is at most this is uninformative
LASSO_ALPHA = 0.1
CORRELATIONS = ("lasso", "spearman")


@dataclasses.dataclass
class UDRResult(utils.Result):
    num_models: int
    model_scores: np.ndarray = utils.matrix("model")  # median of the model's pairwise scores
    pairwise_scores: np.ndarray = utils.matrix("model", "model")  # [i, j]: i's latents predict j's; NaN diagonal
    active_latents: np.ndarray = utils.matrix("model")  # latents with mean KL above the threshold


def relative_strength(corr):
    """Score of a correlation matrix [a, b] of non-negative strengths: the mean over columns of
    max² / sum and the same over rows, averaged. 1 for a (scaled) permutation matrix of ones; a
    row or column with no strength (sum 0) or a NaN counts 0."""
    if corr.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = np.nan_to_num(corr.max(axis=0) ** 2 / corr.sum(axis=0))
        rows = np.nan_to_num(corr.max(axis=1) ** 2 / corr.sum(axis=1))
    return float((columns.mean() + rows.mean()) / 2)


def lasso_strengths(x, y, seed):
    """|coefficients| [a, b] of a Lasso (alpha 0.1) predicting every column b of ``y`` from ``x``."""
    return np.abs(Lasso(alpha=LASSO_ALPHA, random_state=seed).fit(x, y).coef_).T


def spearman_strengths(x, y):
    """|Spearman correlation| [a, b] between column a of ``x`` and b of ``y``; NaN for a constant column.

    Pearson correlation of the ranks (average ranks for ties), which is what `scipy.stats.spearmanr`
    computes, done for all pairs at once instead of one call per pair.
    """
    ranks = [scipy.stats.rankdata(v, axis=0) for v in (x, y)]
    with np.errstate(divide="ignore", invalid="ignore"):
        rx, ry = ((r - r.mean(axis=0)) / r.std(axis=0) for r in ranks)
        return np.abs(rx.T @ ry / len(x))


def _check(codes, kl):
    codes, kl = (list(v) if isinstance(v, np.ndarray) else v for v in (codes, kl))  # [M, ...] arrays too
    if not isinstance(codes, (list, tuple)) or len(codes) < 2:
        raise ValueError("codes must be a list of at least 2 arrays [N, L], one per model")
    codes = [utils.check_codes(c, f"codes[{m}]") for m, c in enumerate(codes)]
    if any(c.shape != codes[0].shape for c in codes):
        raise ValueError(f"codes must all have the same shape [N, L], got {[c.shape for c in codes]}")
    if not isinstance(kl, (list, tuple)) or len(kl) != len(codes):
        raise ValueError(f"kl must be a list of {len(codes)} arrays [L] (one per model), got {type(kl).__name__}")
    kl = [np.asarray(k, dtype=np.float64) for k in kl]
    for m, k in enumerate(kl):
        if k.shape != (codes[0].shape[1],) or not np.isfinite(k).all():
            raise ValueError(f"kl[{m}] must be {codes[0].shape[1]} finite mean KL values, got shape {k.shape}")
    return codes, kl


def udr(codes, kl, correlation="lasso", seed=0, kl_threshold=KL_THRESHOLD):
    """UDR of each of M models from their codes on the same N inputs.

    Each model's codes are standardized per latent and its uninformative latents (mean KL <=
    ``kl_threshold``) zeroed. For every ordered pair (i, j) the strengths with which i's latents
    explain j's ("lasso": |Lasso coefficients|, "spearman": |rank correlations|), restricted to
    both models' informative latents, give the pair's `relative_strength`; a model's UDR is the
    median of the scores of the pairs (j, i), j != i.

    A model without an informative latent scores 0 against every other (disentanglement_lib
    fails on the empty matrix). The reference zeroes latents at the fixed 0.01 whatever its
    threshold; here ``kl_threshold`` sets both (the same at the default). ``seed`` goes to the Lasso, as the reference passes its random
    state (it only matters for Lasso's random coordinate selection, not the default cyclic one).

    Args:
      codes: list of M >= 2 float arrays [N, L] (encoder means), row n of each from the same input
        (or one array [M, N, L]).
      kl: list of M arrays [L] (or one [M, L]), each model's mean KL per latent over those inputs.
    Returns:
      `UDRResult`.
    """
    if correlation not in CORRELATIONS:
        raise ValueError(f"unknown UDR correlation {correlation!r}; choose from {', '.join(CORRELATIONS)}")
    codes, kl = _check(codes, kl)
    active = [k > kl_threshold for k in kl]
    codes = [StandardScaler().fit_transform(c) * a for c, a in zip(codes, active)]
    num_models = len(codes)
    pairwise = np.full((num_models, num_models), np.nan)
    for i in range(num_models):
        for j in range(num_models):
            if i != j:
                if correlation == "lasso":
                    corr = lasso_strengths(codes[i], codes[j], seed)
                else:
                    corr = spearman_strengths(codes[i], codes[j])
                pairwise[i, j] = relative_strength(corr[np.ix_(active[i], active[j])])
    off_diagonal = ~np.eye(num_models, dtype=bool)
    return UDRResult(
        num_models=num_models,
        model_scores=np.array([np.median(pairwise[off_diagonal[:, i], i]) for i in range(num_models)]),
        pairwise_scores=pairwise,
        active_latents=np.array([a.sum() for a in active]),
    )
