"""Time the metric families' array functions at disentanglement_lib's sizes; prints JSON (seconds).

    python tools/bench_families.py [--skip-gbt]

Synthetic codes, L = 10 (5 latents: a factor each plus noise; 5 of noise) over factors of
dSprites' sizes (3, 6, 40, 32, 32): the cost depends on the sizes, not on a model. IRS and the
unsupervised scores on 10,000 points; the downstream task at training sizes 10, 100, 1,000 and
10,000 (5,000 test points, a fresh draw per size) for both predictors; UDR for 3 models x 1,000
points for both correlations; fairness at its reference sizes (10,000 training points, 100 test
points per class) on a dataset whose observations are the factors themselves (so no rendering or
encoder cost is included). ``--skip-gbt`` leaves out the gradient-boosting runs (the slow ones).

    python tools/bench_families.py --registered [--preset fast] [--skip-gbt]

times each registered family (irs, unsupervised, downstream, fairness) as `evaluate` runs it, at
the preset's sizes (default reference), on a `from_factors` representation of dSprites (the same
codes as above: no rendering or encoder), per metric: its scoring seconds, the images it drew.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bvae_tf.metrics.downstream import downstream_task  # noqa: E402
from bvae_tf.metrics.fairness import fairness  # noqa: E402
from bvae_tf.metrics.irs import irs  # noqa: E402
from bvae_tf.metrics.udr import udr  # noqa: E402
from bvae_tf.metrics.unsupervised import unsupervised  # noqa: E402

SIZES = np.array([3, 6, 40, 32, 32])
TRAIN_SIZES = (10, 100, 1000, 10_000)
NUM_TEST = 5000


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def draw(num, seed):
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, s, num) for s in SIZES], axis=1)
    codes = np.concatenate(
        [factors / (SIZES - 1) + 0.05 * rng.normal(size=factors.shape), rng.normal(size=(num, 5))], 1
    )
    return codes, factors


class FactorsAsObservations:
    """disentanglement_lib's ground-truth protocol over dSprites' factor sizes; observation = factors."""

    factors_num_values = list(SIZES)
    num_factors = len(SIZES)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in SIZES], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        return factors.astype(np.float64)

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)


def representation(observations):
    return np.concatenate([observations / (SIZES - 1), np.sin(3 * observations)], axis=1)


def timed(results, name, fn):
    log(f"{name} ...")
    start = time.perf_counter()
    value = fn()
    results[name] = {"seconds": round(time.perf_counter() - start, 3), "score": value}
    log(f"{name}: {results[name]}")


def registered(preset, skip_gbt):
    """{metric: {seconds, images drawn, headline scores}} of each registered family through `evaluate`."""
    from bvae_tf.evaluate import evaluate_representation
    from bvae_tf.metrics import METRICS, from_factors

    results = {}
    options = {"downstream": {"predictors": "logistic_regression"}, "fairness": {"predictor": "logistic_regression"}}
    for name in ("irs", "unsupervised", "downstream", "fairness"):
        log(f"{name} ({preset}) ...")
        report = evaluate_representation(
            from_factors(representation), metrics=[name], preset=preset, options=options if skip_gbt else None
        )
        shown = [s.column for s in METRICS[name].scores if s.label]
        results[name] = {
            "seconds": round(report["time"]["score_s"], 3),
            "images_drawn": report["num_images_drawn"],
            "options": report["metric_options"].get(name),
            "scores": {c: report["scores"][c] for c in shown},
        }
        log(f"{name}: {results[name]}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-gbt", action="store_true", help="leave out the gradient-boosting runs")
    parser.add_argument("--registered", action="store_true", help="time the registered families through evaluate")
    parser.add_argument("--preset", default="reference", choices=("reference", "fast"), help="with --registered")
    args = parser.parse_args()
    if args.registered:
        results = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg(), "preset": args.preset}
        results.update(registered(args.preset, args.skip_gbt))
        results["load_average_after"] = os.getloadavg()
        print(json.dumps(results, indent=1))
        return
    predictors = ("logistic_regression",) if args.skip_gbt else ("logistic_regression", "gbt")
    results = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    codes, factors = draw(10_000, 0)
    timed(results, "irs_10000", lambda: irs(codes, factors).irs)
    timed(results, "unsupervised_10000", lambda: unsupervised(codes).gaussian_total_correlation)
    for predictor in predictors:
        for num in TRAIN_SIZES:
            train, test = draw(num, num), draw(NUM_TEST, num + 1)
            timed(
                results,
                f"downstream_{predictor}_{num}",
                lambda p=predictor, a=train, b=test: downstream_task(*a, *b, p).mean_test_accuracy,
            )
    rng = np.random.default_rng(1)
    base = rng.normal(size=(1000, 10))
    models = [base, base[:, ::-1] + 0.1 * rng.normal(size=(1000, 10)), rng.normal(size=(1000, 10))]
    kls = [np.ones(10)] * 3
    for correlation in ("lasso", "spearman"):
        timed(results, f"udr_{correlation}_3x1000", lambda c=correlation: udr(models, kls, c).model_scores.tolist())
    for predictor in predictors:
        timed(
            results,
            f"fairness_{predictor}_10000",
            lambda p=predictor: (
                fairness(
                    FactorsAsObservations(), representation, np.random.RandomState(0), predictor=p
                ).mean_fairness_mean_pred_mean_sens
            ),
        )
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
