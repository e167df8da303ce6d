"""bvae_tf.udr: UDR over a sweep's trials (udr.csv, udr.png), and its refusals."""

import contextlib
import io
import os
import shutil
import tempfile
import unittest

import numpy as np
import pandas as pd

from bvae_tf import report, udr
from bvae_tf.data import get_dataset
from bvae_tf.errors import UserError
from bvae_tf.metrics.sampling import example_observations
from bvae_tf.metrics.udr import udr as udr_scores
from bvae_tf.report.families import plot_metric_correlations, rank_correlations, with_udr
from tests.report_fixtures import fake_sweep

TRIALS = [
    ("beta_vae", "beta", 1.0, 0),
    ("beta_vae", "beta", 1.0, 1),
    ("beta_vae", "beta", 4.0, 0),
    ("beta_tcvae", "beta", 2.0, 0),
]


class UDRCommand(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.sweep = os.path.join(cls.tmp, "sweep")
        cls.results = fake_sweep(cls.sweep, TRIALS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_writes_udr_csv_and_figure(self):
        # One trial of beta_tcvae is too few: UDR compares a model's trials with each other.
        with self.assertRaisesRegex(
            UserError, r"at least 2 finished trials each; too few: beta_tcvae on dsprites_full \(1\)"
        ):
            udr.main([self.sweep, "--num-points", "200"])
        results = pd.read_csv(os.path.join(self.sweep, "results.csv"))
        results[results["model"] == "beta_vae"].to_csv(os.path.join(self.sweep, "results.csv"), index=False)
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            table = udr.main([self.sweep, "--num-points", "200", "--seed", "3"])
        self.assertIn("udr_lasso", printed.getvalue())
        written = pd.read_csv(os.path.join(self.sweep, "udr.csv"))
        self.assertEqual(list(written.columns), ["trial", "model", "value", "seed", "udr_lasso", "udr_spearman"])
        self.assertEqual(len(written), 3)
        self.assertEqual(sorted(written["trial"]), sorted(table["trial"]))
        self.assertTrue((written["model"] == "beta_vae").all())
        # fake_sweep copies one SavedModel to every trial: identical models score alike, and as
        # the array function scores the codes of the same seeded inputs.
        saved = os.path.join(self.sweep, "saved_models", table["trial"][0])
        codes, kl = udr.encode(saved, example_observations(get_dataset("dsprites_full"), 200, 3))
        for correlation in ("lasso", "spearman"):
            expected = udr_scores([codes] * 3, [kl] * 3, correlation, 3).model_scores
            np.testing.assert_allclose(written[f"udr_{correlation}"], expected, atol=1e-9)
            self.assertTrue(0.3 < expected[0] <= 1.0, expected)
        self.assertEqual(written["udr_lasso"].nunique(), 1)
        with open(os.path.join(self.sweep, "udr.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # The report shows them: the figure, the table, and UDR among the rank correlations.
        with contextlib.redirect_stdout(io.StringIO()):
            out = report.make_report(self.sweep)
        with open(os.path.join(out, "summary.md")) as f:
            summary = f.read()
        self.assertIn("## UDR of each trial", summary)
        self.assertIn(f"| {table['trial'][0]} | beta_vae |", summary)
        self.assertIn("](udr.png)", summary)
        self.assertIn("](metric_correlations.png)", summary)
        with open(os.path.join(out, "report.html")) as f:
            page = f.read()
        self.assertIn("alt='metric_correlations.png'", page)
        self.assertIn("UDR (lasso)</th>", page)

    def test_kl_from_mean_and_logvar(self):
        saved = os.path.join(self.sweep, "saved_models", os.listdir(os.path.join(self.sweep, "saved_models"))[0])
        observations = np.zeros((3, 64, 64, 1), np.float32)
        observations[:, :8, :8] = 1.0
        codes, kl = udr.encode(saved, observations)
        self.assertEqual(codes.shape, (3, 4))
        np.testing.assert_allclose(kl, 0.5 * (codes**2).mean(axis=0), rtol=1e-6)  # logvar 0: KL = mean² / 2

    def test_refuses_bad_arguments(self):
        with self.assertRaisesRegex(UserError, "--num-points must be >= 10, got 3"):
            udr.main([self.sweep, "--num-points", "3"])


class MetricCorrelations(unittest.TestCase):
    def test_known_ranks(self):
        results = pd.DataFrame(
            {
                "trial": list("abcde"),
                "mig": [0.1, 0.2, 0.3, 0.4, 0.5],
                "dci_disentanglement": [0.9, 0.7, 0.5, 0.3, 0.1],  # reversed ranks
                "sap": [0.1, 0.4, 0.2, 0.5, 0.3],
                "zdiff": [0.5] * 5,  # constant: no rank, left out
                "train_seconds": [5, 4, 3, 2, 1],  # not a metric
            }
        )
        table = rank_correlations(
            with_udr(
                results,
                pd.DataFrame({"trial": list("abcde"), "udr_lasso": [1, 2, 3, 4, 5], "udr_spearman": [2, 1, 3, 4, 5]}),
            )
        )
        self.assertEqual(list(table.index), ["MIG", "DCI disentanglement", "SAP", "UDR (lasso)", "UDR (Spearman)"])
        self.assertAlmostEqual(table.loc["MIG", "DCI disentanglement"], -1.0)
        self.assertAlmostEqual(table.loc["MIG", "UDR (lasso)"], 1.0)
        self.assertAlmostEqual(table.loc["MIG", "SAP"], 0.5)
        self.assertAlmostEqual(table.loc["MIG", "UDR (Spearman)"], 0.9)

    def test_figure_on_a_fake_sweep(self):
        with tempfile.TemporaryDirectory() as tmp:
            results = fake_sweep(os.path.join(tmp, "sweep"), TRIALS, models=False)
            results["trial"] = range(len(results))
            name = plot_metric_correlations(results, tmp)
            self.assertEqual(name, "metric_correlations.png")
            with open(os.path.join(tmp, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertIsNone(
                plot_metric_correlations(results[["trial", "mig"]], tmp)
            )  # one metric: nothing to compare


if __name__ == "__main__":
    unittest.main()
