"""DCI: Disentanglement, Completeness, Informativeness.

Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled
Representations", ICLR 2018 (https://openreview.net/forum?id=By-7dz-AZ); as in
`disentanglement_lib/evaluation/metrics/dci.py` (gradient-boosted trees importances).
"""

import dataclasses

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier

from bvae_tf.metrics import utils
from bvae_tf.metrics.registry import Metric, Score
from bvae_tf.metrics.sampling import CODES, train_test

EPS = 1e-11  # added inside the logs, as the reference does
# "reference" is disentanglement_lib's classifier (sklearn defaults). "fast" (20 stages at a 5x
# learning rate, ~5x faster) is for quick looks only: it does NOT match the reference (D and C
# differ by up to ~0.07 in our checks) and no faster model we tried did; see the report.
MODELS = {
    "reference": {},
    "fast": {"n_estimators": 20, "learning_rate": 0.5},
}
# The per-factor fits run in threads: sklearn grows each tree without the GIL (sampled while DCI
# ran: both fit threads runnable 80 % of the time, the rest is the last fit alone).
BACKEND = "threading"


@dataclasses.dataclass
class DCIResult(utils.Result):
    disentanglement: float
    completeness: float
    informativeness: float  # mean test accuracy
    informativeness_train: float
    active_latents: int
    importance: np.ndarray = utils.matrix("latent", "factor")  # |feature importances|
    disentanglement_per_latent: np.ndarray = utils.matrix("latent")
    completeness_per_factor: np.ndarray = utils.matrix("factor")


def _entropy(p, base):
    """Entropy of each column of ``p`` (normalized first), in log ``base``; 0 when base is 1."""
    p = p / p.sum(axis=0, keepdims=True)
    return -np.sum(p * np.log(p), axis=0) / np.log(base) if base > 1 else np.zeros(p.shape[1])


def disentanglement_completeness(importance):
    """D (importance-weighted mean over latents) and C (mean over factors) of an [L, K] matrix."""
    num_latents, num_factors = importance.shape
    # Clipped at 0: a uniform row's entropy comes out a rounding error above 1 (D = -2.2e-16).
    per_latent = np.maximum(1.0 - _entropy(importance.T + EPS, num_factors), 0.0)
    per_factor = np.maximum(1.0 - _entropy(importance + EPS, num_latents), 0.0)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    code_weight = weights.sum(axis=1) / weights.sum()
    return float(np.sum(per_latent * code_weight)), float(np.mean(per_factor)), per_latent, per_factor


def _fit_factor(x_train, y_train, x_test, y_test, seed, model):
    if len(np.unique(y_train)) < 2:  # a constant factor: nothing to predict (see `dci`)
        return np.zeros(x_train.shape[1]), 1.0, float(np.mean(y_test == y_train[0]))
    model = GradientBoostingClassifier(random_state=seed, **MODELS[model]).fit(x_train, y_train)
    return (
        np.abs(model.feature_importances_),
        np.mean(model.predict(x_train) == y_train),
        np.mean(model.predict(x_test) == y_test),
    )


def dci(train_codes, train_factors, test_codes, test_factors, seed=0, model="reference", n_jobs=None):
    """DCI with scikit-learn's `GradientBoostingClassifier`, one per factor; ``model`` picks its
    settings from `MODELS` ("reference": sklearn defaults, as disentanglement_lib).

    ``seed`` fixes the trees' tie-breaking (the reference leaves it unseeded). The per-factor
    fits are independent, so they run in parallel threads (sklearn grows trees without the GIL;
    ``n_jobs``, default: one per factor); the numbers do not depend on ``n_jobs``.

    A factor constant in the training sample (e.g. codes given with one shape only) has nothing
    to predict, and disentanglement_lib cannot score it (its classifier raises "y contains 1
    class"). Here it gets an importance column of zeros (no latent is used for it), hence a
    completeness of 0 that counts in C's mean, as MIG and SAP count a gap of 0 for it; its
    accuracy is that of predicting its one value (1 on the training sample). So compare scores
    only between samples in which the same factors vary.

    Returns:
      `DCIResult`.
    """
    if model not in MODELS:
        raise ValueError(f"unknown DCI model {model!r}; choose from {', '.join(MODELS)}")
    train_codes, train_factors, test_codes, test_factors = utils.check_split(
        train_codes, train_factors, test_codes, test_factors
    )
    num_factors = train_factors.shape[1]
    # By default every factor's fit runs at once, in its own thread: the fits are uneven (a stage
    # grows one tree per class: 3 to 40 on dSprites), so with fewer cores than factors the OS
    # sharing the cores among all of them ends sooner than a pool of one thread per core, whose
    # last fit runs alone (on 2 cores: 2 threads idle one core for ~25 % of the time; 5 threads
    # were 9 % faster). With fewer threads, the costliest fits start first, so the last to start
    # is a cheap one. Results stay in factor order.
    jobs = min(n_jobs or num_factors, num_factors)
    trees = [len(np.unique(y)) if len(np.unique(y)) > 2 else 1 for y in train_factors.T]
    order = sorted(range(num_factors), key=lambda k: -trees[k])
    fitted = Parallel(n_jobs=jobs, backend=BACKEND)(
        delayed(_fit_factor)(train_codes, train_factors[:, k], test_codes, test_factors[:, k], seed, model)
        for k in order
    )
    fits = [None] * num_factors
    for k, fit in zip(order, fitted):
        fits[k] = fit
    importance = np.stack([f[0] for f in fits], axis=1)
    d, c, per_latent, per_factor = disentanglement_completeness(importance)
    return DCIResult(
        disentanglement=d,
        completeness=c,
        informativeness=float(np.mean([f[2] for f in fits])),
        informativeness_train=float(np.mean([f[1] for f in fits])),
        active_latents=int(utils.active_latents(train_codes).sum()),
        importance=importance,
        disentanglement_per_latent=per_latent,
        completeness_per_factor=per_factor,
    )


@dataclasses.dataclass(frozen=True)
class DCIOptions:
    model: str = "reference"  # a key of MODELS: the gradient-boosted trees' settings

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")


def _score(samples, options, seed):
    return dci(*train_test(samples), seed=seed, model=options.model)


METRIC = Metric(
    "dci",
    CODES,
    _score,
    (
        Score("disentanglement", "dci_disentanglement", "DCI disentanglement"),
        Score("completeness", "dci_completeness", "DCI completeness"),
        Score("informativeness", "dci_informativeness", "DCI informativeness"),
        Score("informativeness_train", "dci_informativeness_train"),
    ),
    options=DCIOptions(),
)
