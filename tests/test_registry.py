"""bvae_tf.metrics.registry: a metric declared once, in one module, reaches every consumer."""

import contextlib
import dataclasses
import io
import json
import os
import tempfile
import unittest

import numpy as np
import pandas as pd

from bvae_tf import evaluate, report, sweep
from bvae_tf.config import EvalSpec, SweepConfig, TrainConfig
from bvae_tf.data.dsprites import DSprites
from bvae_tf.errors import UserError
from bvae_tf.metrics import registry
from bvae_tf.metrics.downstream import DownstreamScores
from bvae_tf.metrics.fairness import FairnessResult
from bvae_tf.metrics.irs import IRSResult
from bvae_tf.metrics.unsupervised import UnsupervisedResult
from tests import toy_metric
from tests.helpers import slow

RESULTS = {
    "irs": IRSResult,
    "unsupervised": UnsupervisedResult,
    "downstream": DownstreamScores,
    "fairness": FairnessResult,
}
TINY_SIZES = dict(num_train=300, num_test=150, num_points_train=60, num_points_eval=40, batch_size=8, num_variance=300)


class RegistryTest(unittest.TestCase):
    def setUp(self):
        registry.register(toy_metric.METRIC)  # the one place a new metric is registered
        self.addCleanup(registry.unregister, "toy")
        self.tmp = tempfile.mkdtemp()

    def test_names_and_columns_must_be_new(self):
        with self.assertRaisesRegex(ValueError, "already registered"):
            registry.register(toy_metric.METRIC)
        clash = registry.Metric("toy2", toy_metric.METRIC.sampler, toy_metric._score, (registry.Score("score", "mig"),))
        with self.assertRaisesRegex(ValueError, "already taken"):
            registry.register(clash)

    def test_toy_metric_reaches_evaluate_table_and_files(self):
        factors = DSprites.sample_factors(900, 0)
        codes = factors + np.random.default_rng(0).normal(0, 0.1, factors.shape)
        path = os.path.join(self.tmp, "codes.npz")
        np.savez(path, codes=codes, factors=factors)
        out = os.path.join(self.tmp, "scores")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):  # its progress lines
            evaluate.main(["--codes", path, "--out", out, "--preset", "fast", "--dci-model", "fast"])
        self.assertRegex(printed.getvalue(), r"toy_score\s+0\.9\d{3}")
        with open(os.path.join(out, "metrics.json")) as f:
            scores = json.load(f)
        expected = toy_metric.toy(codes, factors).score  # on all points; the evaluation uses a subset
        self.assertAlmostEqual(scores["scores"]["toy_score"], expected, delta=0.01)
        self.assertEqual(set(scores["metrics"]["toy"]), {"score"})
        matrix = pd.read_csv(os.path.join(out, "toy_correlation.csv"), index_col=0)
        self.assertEqual(matrix.shape, (5, 5))
        self.assertGreater(matrix.loc["z0", "shape"], 0.99)

    @slow
    def test_toy_metric_reaches_sweep_results_and_report_table(self):
        out = os.path.join(self.tmp, "sweep")
        config = SweepConfig(
            settings=[("beta_vae", 1.0)],
            seeds=[0],
            out_dir=out,
            training=TrainConfig.from_dict(
                epochs=1, subset=64, val_size=32, latent_dim=4, verbose=0, data_dir=os.path.join(self.tmp, "data")
            ),
            evaluation=EvalSpec.create(preset="fast", sizes=TINY_SIZES, dci_model="fast"),
        )
        self.assertIn("toy", config.evaluation.metrics)
        with contextlib.redirect_stdout(io.StringIO()):
            sweep.run_sweep(config)
            report.make_report(out)
        results = pd.read_csv(os.path.join(out, "results.csv"))
        self.assertIn("toy_score", results.columns)
        self.assertTrue(0 <= results.loc[0, "toy_score"] <= 1)
        with open(os.path.join(out, "report", "summary.md")) as f:
            self.assertRegex(f.read(), r"\| Toy score \|")


if __name__ == "__main__":
    unittest.main()


class FamiliesContract(unittest.TestCase):
    """The metric families are registered metrics like the six, asked for by name only."""

    FAMILIES = ("irs", "unsupervised", "downstream", "fairness")

    def test_registered_but_not_default(self):
        from bvae_tf.metrics import METRICS

        self.assertEqual(registry.default_metrics(), ("mig", "zdiff", "zmin", "modularity", "dci", "sap"))
        for name in self.FAMILIES:
            self.assertFalse(METRICS[name].default, name)
        self.assertEqual(evaluate.code_metrics(), ["mig", "modularity", "dci", "sap", "irs", "unsupervised"])
        self.assertEqual(evaluate.code_metrics(defaults=True), ["mig", "modularity", "dci", "sap"])  # --codes default
        # The default evaluation's identity is unchanged: its sizes are those of its own samplers.
        self.assertEqual(set(evaluate.how_computed(EvalSpec())["sizes"]), set(TINY_SIZES))

    def test_columns_sizes_and_options(self):
        from bvae_tf.metrics import METRICS

        for name in self.FAMILIES:
            metric = METRICS[name]
            fields = {f.name for f in dataclasses.fields(metric.sampler.sizes)}
            result_fields = {f.name for f in dataclasses.fields(RESULTS[name])}
            self.assertLessEqual({score.field for score in metric.scores}, result_fields, name)
            fast, reference = dataclasses.asdict(metric.sampler.fast), dataclasses.asdict(metric.sampler.sizes)
            self.assertTrue(all(fast[k] <= reference[k] for k in fields), name)
            for view in metric.views:
                self.assertIn(view.field, result_fields)
        labelled = registry.score_labels()
        self.assertEqual(labelled["gaussian_total_correlation"], "Gaussian TC")
        self.assertEqual(
            [c for c in labelled if c.startswith("downstream")],
            ["downstream_lr_10000_mean_test_accuracy", "downstream_gbt_10000_mean_test_accuracy"],
        )
        tc = next(s for s in METRICS["unsupervised"].scores if s.column == "gaussian_total_correlation")
        self.assertEqual((tc.low, tc.high, tc.higher_is_better), (0.0, None, False))
        self.assertEqual(len(METRICS["downstream"].scores), 2 * 4 * 4)  # predictors x sizes x statistics
        spec = EvalSpec.create(self.FAMILIES, preset="fast")
        self.assertEqual(spec.sizes_of("downstream").downstream_max_train, 1_000)  # no gbt at 10,000 in fast
        self.assertEqual(spec.option_values["fairness"], {"predictor": "gbt"})
        spec = EvalSpec.create(["downstream"], options={"downstream.predictors": "gbt", "irs.diff_quantile": "0.5"})
        self.assertEqual((spec.options_of("downstream").predictors, spec.options_of("irs").diff_quantile), ("gbt", 0.5))
        with self.assertRaisesRegex(UserError, "--metric-option fairness: unknown predictor 'svm'"):
            EvalSpec.create(["fairness"], options={"fairness.predictor": "svm"})
