"""bvae_tf.metrics.registry: a metric declared once, in one module, reaches every consumer."""

import contextlib
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
from bvae_tf.metrics import registry
from tests import toy_metric
from tests.helpers import slow

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
