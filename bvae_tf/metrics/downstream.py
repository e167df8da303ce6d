"""Downstream task: how well a standard classifier predicts each factor from the codes.

Locatello, Bauer, Lucic, Rätsch, Gelly, Schölkopf & Bachem, "Challenging Common Assumptions in the
Unsupervised Learning of Disentangled Representations", ICML 2019 (https://arxiv.org/abs/1811.12359),
section 6; as in `disentanglement_lib/evaluation/metrics/downstream_task.py` with the predictors of
its `utils.py`. The reference repeats it at training sizes 10, 100, 1,000 and 10,000 (5,000 test
points each, fresh draws per size): one call of `downstream_task` is one size; the registered
metric runs them all.
"""

import dataclasses
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from bvae_tf.errors import UserError
from bvae_tf.metrics import sampling, utils
from bvae_tf.metrics.registry import Metric, Sampler, Score

NUM_FOLDS = 5
PREDICTORS = ("logistic_regression", "gbt")


@dataclasses.dataclass
class DownstreamResult(utils.Result):
    mean_test_accuracy: float
    min_test_accuracy: float
    mean_train_accuracy: float
    min_train_accuracy: float
    test_accuracy: np.ndarray = utils.matrix("factor")
    train_accuracy: np.ndarray = utils.matrix("factor")


def one_blas_thread():
    """Single-threaded BLAS for the fits: their matrices are [points, latents] with ~10 latents,
    too thin for threads to pay; on a busy 2-core machine OpenBLAS's threads made
    `LogisticRegressionCV` up to 20x slower (0.9 s -> 16 s on 10 points)."""
    return threadpool_limits(limits=1, user_api="blas")


def check_predictor(predictor):
    if predictor not in PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}; choose from {', '.join(PREDICTORS)}")


def fit_predictor(predictor, x, y, seed):
    """A classifier of ``predictor`` kind fitted on codes ``x`` [N, L] to classes ``y`` [N].

    "logistic_regression": `LogisticRegressionCV(Cs=10, cv=KFold(5))` (C picked by accuracy over 5
    unshuffled folds); "gbt": sklearn's default `GradientBoostingClassifier`. Both as
    disentanglement_lib, which leaves them unseeded; ``seed`` fixes their tie-breaking here.

    Tiny training sets (the reference's smallest is 10 points), where disentanglement_lib raises:
    - ``y`` with a single class: no classifier can be fitted, so it predicts that class
      (`DummyClassifier`): train accuracy 1, test accuracy the share of that class;
    - fewer points than folds: one fold per point (leave-one-out) instead of 5.
    Classes with fewer members than folds, or missing from some training folds, are left to
    scikit-learn exactly as in the reference (plain KFold, no stratification), so that every case
    the reference can score gets its numbers.
    """
    check_predictor(predictor)
    if len(np.unique(y)) < 2:
        return DummyClassifier(strategy="most_frequent").fit(x, y)
    if predictor == "gbt":
        return GradientBoostingClassifier(random_state=seed).fit(x, y)
    # scoring="accuracy" is the reference's (then default) choice of C, spelled out: sklearn 1.11
    # changes the default. Its other announced changes (l1_ratios, fitted attributes) leave this L2
    # fit as it is, so their FutureWarnings are silenced.
    folds = KFold(n_splits=min(NUM_FOLDS, len(y)))
    model = LogisticRegressionCV(Cs=10, cv=folds, scoring="accuracy", random_state=seed)
    with utils.quiet_fit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return model.fit(x, y)


def _accuracies(predictor, x_train, y_train, x_test, y_test, seed):
    model = fit_predictor(predictor, x_train, y_train, seed)
    return float(np.mean(model.predict(x_train) == y_train)), float(np.mean(model.predict(x_test) == y_test))


def downstream_task(
    train_codes, train_factors, test_codes, test_factors, predictor="logistic_regression", seed=0, n_jobs=None
):
    """Train and test accuracy of one classifier per factor (see `fit_predictor`), and their
    mean and min over factors. The per-factor fits run in parallel threads (``n_jobs``, default:
    one per factor, as DCI); the numbers do not depend on ``n_jobs``.

    Returns:
      `DownstreamResult`.
    """
    check_predictor(predictor)
    train_codes, train_factors, test_codes, test_factors = utils.check_split(
        train_codes, train_factors, test_codes, test_factors
    )
    num_factors = train_factors.shape[1]
    # Warning filters are process-wide: set here, around all the threads, not only in each fit
    # (a thread leaving its own `catch_warnings` would restore the filters under another's fit).
    with one_blas_thread(), utils.quiet_fit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        fits = Parallel(n_jobs=min(n_jobs or num_factors, num_factors), backend="threading")(
            delayed(_accuracies)(predictor, train_codes, train_factors[:, k], test_codes, test_factors[:, k], seed)
            for k in range(num_factors)
        )
    train, test = np.array(fits).T
    return DownstreamResult(
        mean_test_accuracy=float(test.mean()),
        min_test_accuracy=float(test.min()),
        mean_train_accuracy=float(train.mean()),
        min_train_accuracy=float(train.min()),
        test_accuracy=test,
        train_accuracy=train,
    )


# The registered metric: both predictors at the reference's training sizes, each size a fresh
# training and test draw. Its columns are fixed (one per predictor, size and statistic); a size
# above `downstream_max_train` (or a predictor not asked for) is not run and scores NaN.
TRAIN_SIZES = (10, 100, 1_000, 10_000)
SHORT = {"logistic_regression": "lr", "gbt": "gbt"}
STATISTICS = ("mean_test_accuracy", "min_test_accuracy", "mean_train_accuracy", "min_train_accuracy")
FIELDS = tuple(f"{SHORT[p]}_{n}_{s}" for p in PREDICTORS for n in TRAIN_SIZES for s in STATISTICS)
# One float per column; built from FIELDS rather than spelt out 32 times.
DownstreamScores = dataclasses.make_dataclass(
    "DownstreamScores", [(name, float) for name in FIELDS], bases=(utils.Result,), namespace={"__module__": __name__}
)


@dataclasses.dataclass(frozen=True)
class DownstreamSizes:
    """The downstream task's sample: the reference's sizes."""

    downstream_max_train: int = 10_000  # the training sizes 10, 100, 1,000, 10,000 up to this one
    downstream_num_test: int = 5_000  # test points per training size


def draw(sizes, seed, dataset):
    """Per training size n: n uniform training points and ``downstream_num_test`` test points, fresh draws."""
    if sizes.downstream_max_train < TRAIN_SIZES[0]:
        raise UserError(f"size downstream_max_train must be >= {TRAIN_SIZES[0]}, got {sizes.downstream_max_train}")
    factors = {}
    for n in TRAIN_SIZES:
        if n <= sizes.downstream_max_train:
            rng = sampling.rng(seed, f"downstream{n}")
            factors[f"downstream_train_{n}"] = sampling.latents(dataset, n, rng)
            factors[f"downstream_test_{n}"] = sampling.latents(dataset, sizes.downstream_num_test, rng)
    return factors, {}


@dataclasses.dataclass(frozen=True)
class DownstreamOptions:
    predictors: str = "logistic_regression,gbt"  # comma-separated, from PREDICTORS

    def __post_init__(self):
        names = self.predictors.split(",")
        for name in names:
            check_predictor(name)
        if len(set(names)) != len(names):
            raise ValueError(f"predictors must not repeat a name, got {self.predictors!r}")


def _score(samples, options, seed):
    scores = dict.fromkeys(FIELDS, float("nan"))
    for predictor in options.predictors.split(","):
        for n in TRAIN_SIZES:
            if f"downstream_train_{n}" in samples.codes:
                train, test = f"downstream_train_{n}", f"downstream_test_{n}"
                codes, factors = samples.codes, samples.factors
                result = downstream_task(codes[train], factors[train], codes[test], factors[test], predictor, seed)
                scores.update({f"{SHORT[predictor]}_{n}_{s}": getattr(result, s) for s in STATISTICS})
    return DownstreamScores(**scores)


def _column(field):
    predictor, n = field.split("_")[:2]
    label = f"Downstream {predictor.upper()} ({int(n):,})" if n == "10000" and "mean_test" in field else None
    return Score(field, f"downstream_{field}", label)


METRIC = Metric(
    "downstream",
    Sampler(
        "downstream", draw, uniform="downstream_test_10", sizes=DownstreamSizes(), fast=DownstreamSizes(1_000, 1_000)
    ),
    _score,
    tuple(_column(field) for field in FIELDS),
    options=DownstreamOptions(),
    default=False,
    cost="with gbt, minutes at the reference sizes",
)
