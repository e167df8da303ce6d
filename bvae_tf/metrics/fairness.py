"""Fairness: does a classifier of one factor, on the codes, change its predictions when another
(sensitive) factor is changed and nothing else?

Locatello, Abbati, Rainforth, Bauer, Schölkopf & Bachem, "On the Fairness of Disentangled
Representations", NeurIPS 2019 (https://arxiv.org/abs/1905.13662); as in
`disentanglement_lib/evaluation/metrics/fairness.py`. `fairness` draws its own interventions from
a ground-truth dataset and encodes them, as the reference; the registered metric draws them as
factor arrays (`draw`) so that the evaluation encodes them with everything else, and scores the
codes with `fairness_from_codes`.
"""

import dataclasses
import itertools

import numpy as np

from bvae_tf.metrics import sampling, utils
from bvae_tf.metrics.downstream import check_predictor, fit_predictor, one_blas_thread
from bvae_tf.metrics.registry import Metric, Sampler, Score

# The aggregations of a [target, sensitive] matrix, named as disentanglement_lib's
# "<prefix>:<outer>:<inner>" keys with "_" for ":". Each is the <outer> (mean or max) over one
# axis of the <inner> over the other, the diagonal (a factor against itself) left out.
AGGREGATIONS = tuple(
    f"{outer}_{axis}_{inner}_{other}"
    for axis, other in (("pred", "sens"), ("sens", "pred"))
    for outer in ("mean", "max")
    for inner in ("mean", "max")
)


@dataclasses.dataclass
class FairnessResult(utils.Result):
    # mean_fairness_mean_pred_mean_sens is the paper's score (section 4); see `aggregate`.
    mean_fairness_mean_pred_mean_sens: float
    mean_fairness_mean_pred_max_sens: float
    mean_fairness_max_pred_mean_sens: float
    mean_fairness_max_pred_max_sens: float
    mean_fairness_mean_sens_mean_pred: float
    mean_fairness_mean_sens_max_pred: float
    mean_fairness_max_sens_mean_pred: float
    mean_fairness_max_sens_max_pred: float
    max_fairness_mean_pred_mean_sens: float
    max_fairness_mean_pred_max_sens: float
    max_fairness_max_pred_mean_sens: float
    max_fairness_max_pred_max_sens: float
    max_fairness_mean_sens_mean_pred: float
    max_fairness_mean_sens_max_pred: float
    max_fairness_max_sens_mean_pred: float
    max_fairness_max_sens_max_pred: float
    mean_fairness: np.ndarray = utils.matrix("factor", "factor")  # [target, sensitive], diagonal 0
    max_fairness: np.ndarray = utils.matrix("factor", "factor")


def inter_group_fairness(counts):
    """Mean and max total variation between each sensitive group's prediction distribution and the
    overall one, from ``counts`` [predicted class, sensitive class]; the mean weights each group by
    its count. (The reference computes in float32; this in float64.)"""
    counts = np.asarray(counts, dtype=np.float64)
    group_sizes = counts.sum(axis=0)
    overall = counts.sum(axis=1) / counts.sum()
    tv = 0.5 * np.abs(counts / group_sizes - overall[:, None]).sum(axis=0)
    return float(np.sum(tv * group_sizes) / group_sizes.sum()), float(tv.max())


def aggregate(matrix, prefix):
    """{``prefix``_<outer>_<axis>_<inner>_<other>: value} for a [target, sensitive] ``matrix``.

    "mean_pred_max_sens" is the mean over targets ("pred") of the max over sensitive factors;
    "mean_sens_max_pred" the mean over sensitive factors of the max over targets; and so on.
    """
    off = ~np.eye(len(matrix), dtype=bool)
    per_axis = {"pred": matrix, "sens": matrix.T}  # rows: the outer axis
    scores = {}
    for name in AGGREGATIONS:
        outer, axis, inner, _ = name.split("_")
        rows = per_axis[axis]
        inner_values = np.array([getattr(np, inner)(row[keep]) for row, keep in zip(rows, off)])
        scores[f"{prefix}_{name}"] = float(getattr(np, outer)(inner_values))
    return scores


def _encode(observations, representation_function, batch_size):
    return np.concatenate(
        [
            np.asarray(representation_function(observations[start : start + batch_size]))
            for start in range(0, len(observations), batch_size)
        ]
    )


def _training_sample(ground_truth_data, representation_function, num, random_state, batch_size):
    """Draws ``num`` points in batches of ``batch_size``, as the reference does (the random stream,
    hence the points, depends on the batches)."""
    codes, factors = [], []
    for start in range(0, num, batch_size):
        batch_factors, observations = ground_truth_data.sample(min(batch_size, num - start), random_state)
        factors.append(np.asarray(batch_factors))
        codes.append(np.asarray(representation_function(observations)))
    return np.concatenate(codes), np.concatenate(factors)


def fairness_from_codes(train_codes, train_factors, intervened, sizes, predictor="gbt", seed=0):
    """Fairness scores from codes already computed: the array part of `fairness`.

    Args:
      train_codes, train_factors: float [N, L] codes of drawn points and their int [N, K] factors.
      intervened: {(i, j): float [sizes[j], n, L]} for every target i != sensitive j: row c holds
        the codes of the same n factor vectors with factor j set to c.
      sizes: the number of classes of each of the K factors.
      predictor: "gbt" or "logistic_regression" (`downstream.fit_predictor`), seeded with ``seed``.
    Returns:
      `FairnessResult`: for each target i a predictor fitted on the training codes classifies every
      intervened code; the predictions counted per value c of j give the (i, j) total variations.
    """
    check_predictor(predictor)
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"fairness needs at least 2 factors (a target and a sensitive one), got {len(sizes)}")
    codes = utils.check_codes(train_codes, "train_codes")
    factors = utils.check_factors(train_factors, len(codes), "train_factors")
    mean_tv = np.zeros((len(sizes), len(sizes)))
    max_tv = np.zeros((len(sizes), len(sizes)))
    for i in range(len(sizes)):
        with one_blas_thread():
            model = fit_predictor(predictor, codes, factors[:, i], seed)
        for j in range(len(sizes)):
            if i == j:
                continue
            groups = np.asarray(intervened[i, j], np.float64)
            if groups.ndim != 3 or groups.shape[0] != sizes[j] or groups.shape[2] != codes.shape[1]:
                raise ValueError(
                    f"intervened[{i}, {j}] must be codes [{sizes[j]}, n, {codes.shape[1]}], got {groups.shape}"
                )
            predictions = model.predict(groups.reshape(-1, codes.shape[1])).reshape(groups.shape[:2])
            counts = np.stack([np.bincount(p, minlength=sizes[i]) for p in predictions], axis=1)
            mean_tv[i, j], max_tv[i, j] = inter_group_fairness(counts)
    return FairnessResult(
        **aggregate(mean_tv, "mean_fairness"),
        **aggregate(max_tv, "max_fairness"),
        mean_fairness=mean_tv,
        max_fairness=max_tv,
    )


def fairness(
    ground_truth_data,
    representation_function,
    random_state,
    num_train=10_000,
    num_test_points_per_class=100,
    batch_size=16,
    predictor="gbt",
    seed=0,
):
    """Fairness scores of an encoder on a ground-truth dataset.

    For each target factor i a ``predictor`` (see `downstream.fit_predictor`) is fitted on
    ``num_train`` drawn points. For each sensitive factor j != i, ``num_test_points_per_class``
    factor vectors are drawn once; for each value c of j, j is set to c in all of them, they are
    rendered, encoded and classified, and the predictions are counted into column c of a
    [values of i, values of j] table, whose `inter_group_fairness` gives the (i, j) entries of
    ``mean_fairness`` and ``max_fairness``. The scalars are their `aggregate`s
    (`fairness_from_codes` does this part on codes computed elsewhere).

    Draws follow the reference's order and batching, so with the same dataset, encoder and
    ``random_state`` the points are disentanglement_lib's. Its fairness study uses gradient
    boosting ("gbt", the default; the predictors are unseeded there, ``seed`` here).

    Args:
      ground_truth_data: has disentanglement_lib's ground-truth protocol: ``num_factors``,
        ``factors_num_values``, ``sample_factors(num, random_state)``,
        ``sample_observations_from_factors(factors, random_state)``, ``sample(num, random_state)``.
      representation_function: observations [n, ...] -> codes [n, L].
      random_state: a `numpy.random.RandomState` (or an int seed for one) for every draw.
      batch_size: the training draws' batch (as the reference's) and the encoding batch.
    Returns:
      `FairnessResult`.
    """
    check_predictor(predictor)
    for name, value in (("num_train", num_train), ("num_test_points_per_class", num_test_points_per_class)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if not isinstance(random_state, np.random.RandomState):
        random_state = np.random.RandomState(random_state)
    sizes = list(ground_truth_data.factors_num_values)
    if len(sizes) < 2:
        raise ValueError(f"fairness needs at least 2 factors (a target and a sensitive one), got {len(sizes)}")
    codes, factors = _training_sample(ground_truth_data, representation_function, num_train, random_state, batch_size)
    codes = utils.check_codes(codes, "representation_function's codes")
    factors = utils.check_factors(factors, len(codes), "ground_truth_data's factors")
    intervened = {}
    for i, j in itertools.permutations(range(len(sizes)), 2):  # the reference's order of draws
        drawn = np.asarray(ground_truth_data.sample_factors(num_test_points_per_class, random_state))
        groups = []
        for c in range(sizes[j]):
            changed = drawn.copy()
            changed[:, j] = c
            observations = ground_truth_data.sample_observations_from_factors(changed, random_state)
            groups.append(_encode(observations, representation_function, batch_size))
        intervened[i, j] = np.stack(groups)
    return fairness_from_codes(codes, factors, intervened, sizes, predictor, seed)


@dataclasses.dataclass(frozen=True)
class FairnessSizes:
    """Fairness's sample: the reference's sizes."""

    fairness_num_train: int = 10_000  # uniform points the predictors are fitted on
    fairness_points_per_class: int = 100  # factor vectors per (target, sensitive factor), each set to every value


def draw(sizes, seed, dataset):
    """Uniform training points, and for each (target i, sensitive j != i) ``fairness_points_per_class``
    uniform factor vectors repeated once per value c of j with j set to c ([values of j, n, F])."""
    rng = sampling.rng(seed, "fairness")
    factors = {"fairness_train": sampling.latents(dataset, sizes.fairness_num_train, rng)}
    values = list(dataset.factors_num_values)
    for i, j in itertools.permutations(range(len(values)), 2):
        drawn = sampling.latents(dataset, sizes.fairness_points_per_class, rng)
        groups = np.repeat(drawn[None], values[j], axis=0)
        groups[:, :, j] = np.arange(values[j])[:, None]
        factors[f"fairness_{i}_{j}"] = groups
    return factors, {"fairness_sizes": np.array(values)}


@dataclasses.dataclass(frozen=True)
class FairnessOptions:
    predictor: str = "gbt"  # disentanglement_lib's fairness study: gradient boosting

    def __post_init__(self):
        check_predictor(self.predictor)


def _score(samples, options, seed):
    sizes = samples.labels["fairness_sizes"]
    intervened = {(i, j): samples.codes[f"fairness_{i}_{j}"] for i, j in itertools.permutations(range(len(sizes)), 2)}
    codes, factors = samples.codes["fairness_train"], samples.factors["fairness_train"]
    return fairness_from_codes(codes, factors, intervened, sizes, options.predictor, seed)


METRIC = Metric(
    "fairness",
    Sampler("fairness", draw, uniform="fairness_train", sizes=FairnessSizes(), fast=FairnessSizes(1_000, 20)),
    _score,
    (
        Score("mean_fairness_mean_pred_mean_sens", "fairness_mean", "Fairness", higher_is_better=False),
        Score("max_fairness_mean_pred_mean_sens", "fairness_max", higher_is_better=False),
    ),
    options=FairnessOptions(),
    default=False,
    cost="with gbt, minutes at the reference sizes",
)
