"""Modularity and Explicitness.

Ridgeway & Mozer, "Learning Deep Disentangled Embeddings With the F-Statistic Loss",
NeurIPS 2018 (https://arxiv.org/abs/1802.05312); as in
`disentanglement_lib/evaluation/metrics/modularity.py`.
"""

import dataclasses

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bvae_tf.metrics import utils
from bvae_tf.metrics.registry import MatrixView, Metric, Score
from bvae_tf.metrics.sampling import CODES, train_test


@dataclasses.dataclass
class ModularityResult(utils.Result):
    modularity: float
    explicitness: float  # test
    explicitness_train: float
    active_latents: int
    modularity_per_latent: np.ndarray = utils.matrix("latent")
    explicitness_per_factor: np.ndarray = utils.matrix("factor")  # test
    mutual_info: np.ndarray = utils.matrix("latent", "factor")


def modularity_per_latent(mutual_info):
    """1 - sum_{j != argmax} m_ij^2 / (theta_i^2 (K - 1)); 0 for a latent with no information."""
    squared = np.square(mutual_info)
    top = squared.max(axis=1)
    num_factors = max(squared.shape[1] - 1, 1)
    delta = (squared.sum(axis=1) - top) / np.where(top > 0, top * num_factors, 1.0)
    return np.where(top > 0, 1.0 - delta, 0.0)


def _mean_auc(model, codes, labels):
    """Mean one-vs-rest ROC-AUC over the classes that occur (and do not fill) ``labels``."""
    proba = model.predict_proba(codes)
    aucs = [
        roc_auc_score(labels == c, proba[:, k])
        for k, c in enumerate(model.classes_)
        if 0 < np.sum(labels == c) < len(labels)
    ]
    return float(np.mean(aucs)) if aucs else 0.5


def modularity(train_codes, train_factors, test_codes, test_factors, num_bins=utils.NUM_BINS):
    """Modularity from the 20-bin MI matrix of the train codes; explicitness = mean one-vs-rest
    ROC-AUC of a per-factor logistic regression on standardized codes, on the test points.

    Returns:
      `ModularityResult`.
    """
    train_codes, train_factors, test_codes, test_factors = utils.check_split(
        train_codes, train_factors, test_codes, test_factors
    )
    mi = utils.mutual_info_matrix(utils.histogram_discretize(train_codes, num_bins), train_factors)
    per_latent = modularity_per_latent(mi)
    x_train, x_test = utils.standardize(train_codes, test_codes)
    train_auc, test_auc = [], []
    for y_train, y_test in zip(train_factors.T, test_factors.T):
        if len(np.unique(y_train)) < 2:  # nothing to predict
            train_auc.append(0.5)
            test_auc.append(0.5)
            continue
        with utils.quiet_fit():
            model = LogisticRegression().fit(x_train, y_train)
        train_auc.append(_mean_auc(model, x_train, y_train))
        test_auc.append(_mean_auc(model, x_test, y_test))
    return ModularityResult(
        modularity=float(np.mean(per_latent)),
        explicitness=float(np.mean(test_auc)),
        explicitness_train=float(np.mean(train_auc)),
        active_latents=int(utils.active_latents(train_codes).sum()),
        modularity_per_latent=per_latent,
        explicitness_per_factor=np.array(test_auc),
        mutual_info=mi,
    )


def _score(samples, options, seed):
    return modularity(*train_test(samples), num_bins=options.num_bins)


METRIC = Metric(
    "modularity",
    CODES,
    _score,
    (
        Score("modularity", "modularity", "Modularity"),
        Score("explicitness", "explicitness", "Explicitness"),
        Score("explicitness_train", "explicitness_train"),
    ),
    options=utils.Binning(),
    views=(MatrixView("mutual_info", "MI, per-latent modularity (Modularity)", per_latent="modularity_per_latent"),),
)
