"""Separated Attribute Predictability (SAP).

Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", ICLR 2018 (https://arxiv.org/abs/1711.00848); discrete-factor version
of `disentanglement_lib/evaluation/metrics/sap_score.py`.
"""

import dataclasses
import os

import numpy as np
from joblib import Parallel, delayed
from sklearn.svm import LinearSVC

from bvae_tf.metrics import utils
from bvae_tf.metrics.registry import Metric, Score
from bvae_tf.metrics.sampling import CODES, train_test


@dataclasses.dataclass
class SAPResult(utils.Result):
    score: float
    active_latents: int
    score_matrix: np.ndarray = utils.matrix("latent", "factor")  # test accuracy, SVM on one latent


def _accuracy(z_train, y_train, z_test, y_test, seed):
    if len(np.unique(y_train)) < 2:  # a constant factor: predict its one value (see `sap`)
        return float(np.mean(y_test == y_train[0]))
    with utils.quiet_fit():
        model = LinearSVC(C=0.01, class_weight="balanced", random_state=seed).fit(z_train[:, None], y_train)
    return float(np.mean(model.predict(z_test[:, None]) == y_test))


def sap(train_codes, train_factors, test_codes, test_factors, seed=0, n_jobs=None):
    """SAP = mean over factors of the gap between the two latents that best predict it alone.

    ``seed`` fixes liblinear's coordinate order (the reference leaves it unseeded); the SVM
    fits run in parallel (``n_jobs``, default: all CPUs).

    A factor constant in the training sample has nothing to predict, and disentanglement_lib
    cannot score it (LinearSVC needs two classes). Here every latent "predicts" it by its one
    value (accuracy 1 on a sample where it is constant too), so its gap is 0 and counts in the
    mean, as in MIG; compare scores only between samples in which the same factors vary.

    Returns:
      `SAPResult`.
    """
    train_codes, train_factors, test_codes, test_factors = utils.check_split(
        train_codes, train_factors, test_codes, test_factors
    )
    pairs = [(i, j) for i in range(train_codes.shape[1]) for j in range(train_factors.shape[1])]
    scores = Parallel(n_jobs=n_jobs or os.cpu_count() or 1, backend="threading")(
        delayed(_accuracy)(train_codes[:, i], train_factors[:, j], test_codes[:, i], test_factors[:, j], seed)
        for i, j in pairs
    )
    matrix = np.array(scores).reshape(train_codes.shape[1], train_factors.shape[1])
    return SAPResult(
        score=float(np.mean(utils.top_two_gap(matrix))),
        active_latents=int(utils.active_latents(train_codes).sum()),
        score_matrix=matrix,
    )


def _score(samples, options, seed):
    return sap(*train_test(samples), seed=seed)


METRIC = Metric("sap", CODES, _score, (Score("score", "sap", "SAP"),))
