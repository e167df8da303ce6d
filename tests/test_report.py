"""bvae_tf.report: every figure, Table 1 and the HTML page: from the quick pipeline's β sweep, and
from a small multi-model sweep (and its β-VAE part alone)."""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import pandas as pd

from bvae_tf import report
from bvae_tf.errors import UserError
from tests import report_fixtures
from tests.helpers import slow
from tests.test_sweep import ENV, ROOT, TINY, read

PNG = b"\x89PNG\r\n\x1a\n"
# The β study's figures: what a β-VAE-only sweep writes (traversals nearest to β=5).
BETA_FIGURES = [
    "loss_kl.png",
    "loss_recon.png",
    "loss_loss.png",
    "traversals_beta5.png",
    "metrics_vs_beta.png",
    "matrices.png",
    "reconstructions.png",
    "tradeoff_recon_vs_mig.png",
    "metric_correlations.png",  # three trials or more
]


def embedded_images(page):
    return re.findall(r"<img alt='([^']+)' src='data:image/png;base64,[A-Za-z0-9+/=]{100,}'>", page)


@slow
class PipelineReportTest(unittest.TestCase):
    """The quick pipeline end to end (data, sweep, report), then the report of a moved sweep."""

    def test_quick_pipeline_writes_every_figure_and_the_table(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        out = os.path.join(tmp, "study")
        result = subprocess.run(
            [
                sys.executable,
                os.path.join(ROOT, "pipelines", "beta_study.py"),
                "--quick",
                "--out",
                out,
                "--betas",
                "1",
                "5",
                "--seeds",
                "0",
                "1",
                "--data-dir",
                os.path.join(tmp, "data"),
                *TINY,
            ],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=900,
        )
        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:])
        self.assertRegex(result.stdout, r"beta study: 4 trials, .* expect about")
        report_dir = os.path.join(out, "report")
        figures = BETA_FIGURES
        for name in figures + ["summary.csv", "summary.md", "report.html"]:
            path = os.path.join(report_dir, name)
            self.assertTrue(os.path.isfile(path) and os.path.getsize(path) > 0, name)
        for name in figures:
            with open(os.path.join(report_dir, name), "rb") as f:
                self.assertEqual(f.read(8), PNG, name)
        results = pd.read_csv(os.path.join(out, "results.csv"))
        self.assertEqual(sorted(zip(results["value"], results["seed"])), [(1.0, 0), (1.0, 1), (5.0, 0), (5.0, 1)])
        summary = pd.read_csv(os.path.join(report_dir, "summary.csv"), header=[0, 1], index_col=[0, 1, 2])
        self.assertEqual(list(summary.index), [("beta_vae", "beta", 1.0), ("beta_vae", "beta", 5.0)])
        self.assertTrue((summary[("seeds", "n")] == 2).all())
        markdown = read(os.path.join(report_dir, "summary.md"))
        self.assertRegex(markdown, r"\| beta_vae \| 5 \| 2 \| [0-9.]+ \[-?[0-9.]+, [0-9.]+\] \|")
        page = read(os.path.join(report_dir, "report.html"))
        self.assertEqual(sorted(embedded_images(page)), sorted(figures))
        self.assertNotRegex(page, r"src='(?!data:)")
        self.assertRegex(page, r"<table[^>]*>(.|\n)*<th>MIG</th>(.|\n)*<th>5</th>\s*<td>2</td>")
        # A copied sweep, with the original gone, reports from its own files.
        moved = shutil.copytree(out, os.path.join(tmp, "moved"))
        shutil.rmtree(out)
        shutil.rmtree(os.path.join(moved, "report"))
        with contextlib.redirect_stdout(io.StringIO()):
            report.main([moved])
        moved_markdown = read(os.path.join(moved, "report", "summary.md"))
        self.assertEqual(moved_markdown.split("\n", 1)[1], markdown.split("\n", 1)[1])  # all but the title


def summary_rows(report_dir):
    """summary.csv as {(model, hyperparameter, value): seeds}."""
    summary = pd.read_csv(os.path.join(report_dir, "summary.csv"), header=[0, 1], index_col=[0, 1, 2])
    return {key: int(n) for key, n in zip(summary.index, summary[("seeds", "n")])}


@slow
class ModelZooReportTest(unittest.TestCase):
    """A two-model sweep (β-VAE β 1 and 4, the latter with two seeds; β-TCVAE β 2) built without the
    sweep module, in the new results schema; reported once for the class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.sweep = os.path.join(cls.tmp, "zoo")
        with contextlib.redirect_stdout(io.StringIO()):  # each epoch's summary line
            report_fixtures.build_sweep(cls.sweep, report_fixtures.ZOO_TRIALS, os.path.join(cls.tmp, "data"))
        cls.report_dir = report.make_report(cls.sweep)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def figures(self):
        return sorted(name for name in os.listdir(self.report_dir) if name.endswith(".png"))

    def test_figures_per_model_and_the_comparison(self):
        expected = [
            "losses_beta_vae.png",
            "losses_beta_tcvae.png",
            "traversals_beta_vae.png",
            "traversals_beta_tcvae.png",
            "metrics_vs_beta_beta_vae.png",
            "metrics_vs_beta_beta_tcvae.png",
            "models_comparison.png",
            "matrices.png",
            "reconstructions.png",
            "tradeoff_recon_vs_mig.png",
            "metric_correlations.png",
        ]
        self.assertEqual(self.figures(), sorted(expected))
        for name in expected:
            with open(os.path.join(self.report_dir, name), "rb") as f:
                self.assertEqual(f.read(8), PNG, name)

    def test_table_has_a_row_per_model_and_value_with_its_seeds(self):
        self.assertEqual(
            summary_rows(self.report_dir),
            {("beta_vae", "beta", 1.0): 1, ("beta_vae", "beta", 4.0): 2, ("beta_tcvae", "beta", 2.0): 1},
        )
        markdown = read(os.path.join(self.report_dir, "summary.md"))
        self.assertIn("| model | β | n | recon (val) |", markdown)
        self.assertRegex(markdown, r"\| beta_vae \| 4 \| 2 \| [0-9.]+ \[-?[0-9.]+, [0-9.]+\] \|")
        # One seed: the mean alone, no interval.
        self.assertRegex(markdown, r"\| beta_tcvae \| 2 \| 1 \| [0-9.]+ \|")
        self.assertNotRegex(markdown, r"\| beta_tcvae \|.*\[")
        self.assertIn("4 trials, beta_vae β ∈ {1, 4}, beta_tcvae β ∈ {2}, seeds [0, 1].", markdown)

    def test_html_embeds_every_figure_and_the_table(self):
        page = read(os.path.join(self.report_dir, "report.html"))
        self.assertEqual(sorted(embedded_images(page)), self.figures())
        self.assertNotRegex(page, r"src='(?!data:)")
        self.assertRegex(page, r"<th>model</th>(.|\n)*<th>beta_tcvae</th>\s*<th>2</th>\s*<td>1</td>")
        markdown = read(os.path.join(self.report_dir, "summary.md"))
        self.assertEqual(sorted(re.findall(r"\]\(([^)]+\.png)\)", markdown)), self.figures())

    def test_beta_vae_alone_gives_the_beta_study_report(self):
        """The β-VAE trials alone: the β study's figure names and table."""
        sweep = os.path.join(self.tmp, "beta_only")
        report_fixtures.one_model(self.sweep, sweep)
        with contextlib.redirect_stdout(io.StringIO()):
            report.main([sweep, "--traversal-beta", "5"])
        out = os.path.join(sweep, "report")
        self.assertEqual(
            sorted(n for n in os.listdir(out) if n.endswith(".png")),  # β=4 is nearest to 5
            sorted(n.replace("beta5", "beta4") for n in BETA_FIGURES),
        )
        self.assertEqual(summary_rows(out), {("beta_vae", "beta", 1.0): 1, ("beta_vae", "beta", 4.0): 2})
        self.assertIn("3 trials, β ∈ {1, 4}, seeds [0, 1].", read(os.path.join(out, "summary.md")))


class LoadSweepTest(unittest.TestCase):
    """What the report reads and tables, without any model: a results.csv and histories only."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def write(self, text):
        with open(os.path.join(self.tmp, "results.csv"), "w") as f:
            f.write(text)

    def fake_sweep(self, trials):
        """results.csv (trial k's metrics all 0.1 * (k + 1)) and a 2-epoch history.csv per trial; no models."""
        results = report_fixtures.fake_sweep(self.tmp, trials, models=False)
        for column in report.metric_labels():
            results[column] = [0.1 * (k + 1) for k in range(len(results))]
        results.to_csv(os.path.join(self.tmp, "results.csv"), index=False)

    def test_an_unfinished_sweep_says_how_many_trials_its_grid_has(self):
        from bvae_tf.report import _overview

        self.fake_sweep([("beta_vae", "beta", 1.0, 0), ("beta_vae", "beta", 4.0, 0)])
        self.assertEqual(report.load_sweep(self.tmp)[0].attrs["planned"], None)  # no sweep.json: unknown
        grid = {"settings": [["beta_vae", 1.0], ["beta_vae", 4.0], ["beta_vae", 16.0]], "seeds": [0, 1]}
        with open(os.path.join(self.tmp, "sweep.json"), "w") as f:
            json.dump(grid, f)
        results = report.load_sweep(self.tmp)[0]
        self.assertEqual(
            _overview(results),
            "2 of the sweep's 6 trials (unfinished: rerun its command to continue it), β ∈ {1, 4}, seeds [0].",
        )
        grid["settings"] = grid["settings"][:2]
        grid["seeds"] = [0]
        with open(os.path.join(self.tmp, "sweep.json"), "w") as f:
            json.dump(grid, f)
        self.assertEqual(_overview(report.load_sweep(self.tmp)[0]), "2 trials, β ∈ {1, 4}, seeds [0].")

    def test_failed_trials_are_left_out_and_named(self):
        self.fake_sweep([("beta_vae", "beta", 1.0, 0), ("beta_vae", "beta", 4.0, 0)])
        table = pd.read_csv(os.path.join(self.tmp, "results.csv"))
        table["status"] = ["finished", "failed: loss became NaN in epoch 2"]
        table.loc[1, list(report.metric_labels())] = np.nan
        table.to_csv(os.path.join(self.tmp, "results.csv"), index=False)
        results, histories = report.load_sweep(self.tmp)
        self.assertEqual(list(results["value"]), [1.0])
        self.assertEqual(set(histories["value"]), {1.0})
        self.assertEqual(results.attrs["left_out"], ["beta_vae_beta4_seed0 (failed: loss became NaN in epoch 2)"])
        table["status"] = "failed: loss became NaN in epoch 1"
        table.to_csv(os.path.join(self.tmp, "results.csv"), index=False)
        with self.assertRaisesRegex(UserError, "no finished trial to report; failed: beta_vae_beta1_seed0"):
            report.load_sweep(self.tmp)

    def test_names_that_leave_the_sweep_are_refused(self):
        """A crafted results.csv: a model (or hyperparameter) that is a path out of the sweep. The
        trial folder it points to exists outside, so only the check stops the report reading it."""
        sweep = os.path.join(self.tmp, "sweep")  # its runs/../../outside is self.tmp/outside
        outside = os.path.join(self.tmp, "outside", "pwn_beta1_seed0")
        os.makedirs(outside)
        pd.DataFrame({"epoch": [0], "loss": [1.0]}).to_csv(os.path.join(outside, "history.csv"), index=False)
        os.makedirs(sweep)
        for model, hyperparameter, bad in (
            ("../../outside/pwn", "beta", "model '../../outside/pwn' is not one of bvae_tf's models"),
            ("beta_vae", "../../../outside/x", "hyperparameter '../../../outside/x' of model beta_vae is not"),
        ):
            with open(os.path.join(sweep, "results.csv"), "w") as f:
                f.write(f"model,hyperparameter,value,seed\n{model},{hyperparameter},1,0\n")
            with self.assertRaises(UserError) as caught:
                report.load_sweep(sweep)
            message = str(caught.exception)
            self.assertIn(os.path.join(sweep, "results.csv"), message)
            self.assertIn(bad, message)
            self.assertNotIn("\n", message)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["outside", "sweep"])
        self.assertEqual(os.listdir(sweep), ["results.csv"])

    def test_trial_names(self):
        self.assertEqual(report.trial_name("beta_vae", "beta", 5.0, 0), "beta_vae_beta5_seed0")
        self.assertEqual(report.trial_name("annealed_vae", "c_max", 25, 1), "annealed_vae_c_max25_seed1")
        self.assertEqual(report.setting("lambda_od", 5.0), "λ_od=5")

    def test_table_rows_per_model_and_value_mean_alone_for_one_seed(self):
        self.fake_sweep(
            [
                ("factor_vae", "gamma", 30.0, 0),
                ("beta_vae", "beta", 4.0, 1),
                ("beta_vae", "beta", 4.0, 0),
                ("factor_vae", "gamma", 10.0, 0),
            ]
        )
        results, histories = report.load_sweep(self.tmp)
        self.assertEqual(report.models(results), ["beta_vae", "factor_vae"])  # the zoo's order
        self.assertEqual(sorted(histories["epoch"].unique()), [1, 2])
        table = report.summarize(results)
        self.assertEqual(
            list(table.index), [("beta_vae", "beta", 4.0), ("factor_vae", "gamma", 10.0), ("factor_vae", "gamma", 30.0)]
        )
        self.assertEqual(list(table[("seeds", "n")]), [2, 1, 1])
        text = report.format_table(table)
        self.assertEqual(list(text.index.names), ["model", "setting"])
        self.assertEqual([setting for _, setting in text.index], ["β=4", "γ=10", "γ=30"])
        # 0.2 and 0.3: mean 0.25, standard error 0.05, t(0.975, 1 dof) = 12.7062: 0.25 ± 0.6353,
        # [-0.385, 0.885] cut to MIG's range [0, 1].
        self.assertEqual(text.loc[("beta_vae", "β=4"), "MIG"], "0.250 [0.000, 0.885]")
        self.assertEqual(text.loc[("factor_vae", "γ=10"), "MIG"], "0.400")  # one seed: no interval
        self.assertEqual(list(text["n"]), ["2", "1", "1"])
        self.assertEqual(text.loc[("factor_vae", "γ=10"), "active latents"], "3.0")  # counts and nats: 1 decimal
        self.assertEqual(text.loc[("factor_vae", "γ=10"), "recon (val)"], "74.0")
        self.assertEqual(report.best_value(results[results["model"] == "factor_vae"]), 10.0)
        trials = report.format_trials(results)  # Table 2: Table 1's order, seeds ascending
        self.assertEqual(
            list(trials.index),
            [
                ("beta_vae", "β=4", "0"),
                ("beta_vae", "β=4", "1"),
                ("factor_vae", "γ=10", "0"),
                ("factor_vae", "γ=30", "0"),
            ],
        )
        self.assertEqual(list(trials["MIG"]), ["0.300", "0.200", "0.400", "0.100"])
        self.assertEqual(list(trials.columns), list(text.columns[1:]))  # Table 1's, without n
        self.assertIn("| beta_vae | β=4 | 1 | ", report.markdown(trials))

    def test_metric_figures_say_how_many_seeds_make_a_point(self):
        self.assertEqual(report.spread_label(pd.Series([1, 1])), "one seed (n=1): no interval")
        self.assertEqual(report.spread_label(pd.Series([3, 3])), "mean and 95 % interval over n=3 seeds")
        self.assertEqual(report.spread_label(pd.Series([2, 3])), "mean and 95 % interval over n=2–3 seeds")

    def test_comparison_metric_and_loss_figures_from_files_only(self):
        self.fake_sweep(
            [
                ("beta_vae", "beta", 1.0, 0),
                ("beta_vae", "beta", 4.0, 0),
                ("annealed_vae", "c_max", 0.0, 0),
                ("annealed_vae", "c_max", 25.0, 0),
                ("dip_vae_ii", "lambda_od", 5.0, 0),
            ]
        )
        results, histories = report.load_sweep(self.tmp)
        names = [
            report.plot_comparison(results, self.tmp),
            report.plot_metrics(results[results["model"] == "annealed_vae"], self.tmp, "m.png"),  # C_max=0: symlog
            report.plot_losses(histories[histories["model"] == "beta_vae"], "beta", self.tmp, "l.png"),
        ]
        self.assertEqual(names, ["models_comparison.png", "m.png", "l.png"])
        for name in names:
            with open(os.path.join(self.tmp, name), "rb") as f:
                self.assertEqual(f.read(8), PNG, name)

    def test_bad_or_missing_results_are_user_errors(self):
        from bvae_tf.errors import UserError

        with self.assertRaisesRegex(UserError, "results.csv is missing"):
            report.load_sweep(self.tmp)
        self.write("")
        with self.assertRaisesRegex(UserError, "no finished trial"):
            report.load_sweep(self.tmp)
        self.write("model,value,seed\nbeta_vae,1,0\n")
        with self.assertRaisesRegex(UserError, "hyperparameter missing"):
            report.load_sweep(self.tmp)
        self.write("model,hyperparameter,value,seed\nbeta_vae,beta,1,0\nbeta_vae,gamma,1,0\n")
        with self.assertRaisesRegex(UserError, r"results.csv: hyperparameter 'gamma' of model beta_vae is not the one"):
            report.load_sweep(self.tmp)
        self.write("model,hyperparameter,value,seed\nbeta_vae,beta,1,zero\n")
        with self.assertRaisesRegex(UserError, r"results.csv: seed 'zero' is not a finite int"):
            report.load_sweep(self.tmp)
        self.write("model,hyperparameter,value,seed\nbeta_vae,beta,inf,0\n")
        with self.assertRaisesRegex(UserError, r"results.csv: value 'inf' is not a finite float"):
            report.load_sweep(self.tmp)
        self.write("model,hyperparameter,value,seed\nbeta_vae,beta,1,0\n")
        with self.assertRaisesRegex(UserError, "beta_vae_beta1_seed0 of results.csv has no run folder"):
            report.load_sweep(self.tmp)


class IntervalTest(unittest.TestCase):
    """The 95 % intervals of Table 1 and the figures, on known numbers."""

    def test_student_t_below_ten_seeds(self):
        from scipy import stats

        values = [0.21, 0.25, 0.19, 0.30, 0.27]
        mean, low, high = report.interval(values)
        expected = stats.t.interval(0.95, 4, loc=np.mean(values), scale=np.std(values, ddof=1) / np.sqrt(5))
        self.assertAlmostEqual(mean, 0.244)
        np.testing.assert_allclose([low, high], expected, rtol=1e-12)
        # By hand: two seeds 1 and 3, mean 2, standard error 1, t(0.975, 1 dof) = 12.7062047.
        mean, low, high = report.interval([1.0, 3.0])
        self.assertEqual(mean, 2.0)
        np.testing.assert_allclose([low, high], [2 - 12.7062047, 2 + 12.7062047], rtol=1e-7)

    def test_a_metrics_interval_is_cut_to_its_range(self):
        # Seeds 0.02 and 0.04 of a score in [0, 1]: 0.03 ± 12.7062047 x 0.01 = [-0.097, 0.157] -> [0, 0.157].
        mean, low, high = report.interval([0.02, 0.04], bounds=(0.0, 1.0))
        self.assertAlmostEqual(mean, 0.03)
        self.assertEqual(low, 0.0)
        self.assertAlmostEqual(high, 0.03 + 0.127062047, places=9)
        self.assertEqual(report.interval([0.96, 0.98], bounds=(0.0, 1.0))[2], 1.0)
        self.assertLess(report.interval([0.02, 0.04])[1], -0.09)  # unbounded: as computed
        results = pd.DataFrame(
            {"model": "beta_vae", "hyperparameter": "beta", "value": 1.0, "seed": [0, 1], "mig": [0.02, 0.04]}
        )
        results["val_kl"] = results["val_loss"] = [1.0, 30.0]  # 15.5 - 12.706 x 14.5 = -168.7
        from bvae_tf.report.stats import intervals

        table = intervals(results, ["mig", "val_kl", "val_loss"])
        self.assertEqual(table["mig"]["low"].iloc[0], 0.0)
        self.assertEqual(table["val_kl"]["low"].iloc[0], 0.0)  # a KL divergence is never negative
        self.assertAlmostEqual(table["val_loss"]["low"].iloc[0], 15.5 - 12.7062047 * 14.5, places=5)  # may be

    def test_one_seed_identical_seeds_and_missing_values(self):
        self.assertEqual(report.interval([0.4])[0], 0.4)
        self.assertTrue(np.isnan(report.interval([0.4])[1:]).all())
        self.assertEqual(report.interval([0.4, 0.4, np.nan]), (0.4, 0.4, 0.4))
        self.assertTrue(np.isnan(report.interval([np.nan])).all())

    def test_seeded_percentile_bootstrap_from_ten_seeds(self):
        values = np.linspace(0.0, 1.0, 12)
        mean, low, high = report.interval(values, seed=3)
        self.assertAlmostEqual(mean, 0.5)
        self.assertEqual(report.interval(values, seed=3), (mean, low, high))  # same seed, same interval
        # The percentile bootstrap of the mean: its resampled means' 2.5 and 97.5 percentiles,
        # near mean ± 1.96 x the plug-in standard error (0.3105 / sqrt(12) = 0.0896).
        self.assertAlmostEqual(low, 0.5 - 1.96 * 0.0896, delta=0.02)
        self.assertAlmostEqual(high, 0.5 + 1.96 * 0.0896, delta=0.02)
        t_low, t_high = report.interval(values[:9])[1:]  # nine seeds: Student's t, not the bootstrap
        from scipy import stats

        np.testing.assert_allclose(
            [t_low, t_high], stats.t.interval(0.95, 8, loc=values[:9].mean(), scale=stats.sem(values[:9]))
        )

    def test_variance_shares_and_findings(self):
        results = pd.DataFrame(
            {
                "model": "beta_vae",
                "hyperparameter": "beta",
                "value": [1.0, 1.0, 4.0, 4.0, 16.0, 16.0],
                "seed": [0, 1] * 3,
                "mig": [0.10, 0.12, 0.11, 0.13, 0.40, 0.42],
            }
        )
        shares = report.variance_shares(results)
        # Setting means 0.11, 0.12, 0.41 around 0.2133: between 0.11647; within 6 x 0.0001; total 0.11707.
        self.assertAlmostEqual(shares.loc["MIG", "within settings (seeds)"], 0.0006 / 0.117067, places=4)
        self.assertAlmostEqual(shares.loc["MIG", "between settings"], 1 - 0.0006 / 0.117067, places=4)
        # β=1: 0.11 ± 12.706 x 0.01 = [-0.017, 0.237] -> [0, 0.237]: β=4 overlaps, β=16 ([0.283, 0.537]) does not.
        (sentence,) = report.findings(results)
        self.assertIn("against β=1", sentence)
        self.assertIn("MIG: β=16 (higher)", sentence)
        self.assertNotIn("β=4 (", sentence)
        one_seed = results[results["seed"] == 0]
        self.assertIn("one seed per setting", report.findings(one_seed)[0])
        self.assertTrue(report.variance_shares(one_seed).empty)  # no seed spread measured: no shares
        # β=1 has one seed left: left out. β=4 and β=16: means 0.12 and 0.41 around 0.265, total
        # 0.155² + 0.135² + 0.135² + 0.155² = 0.0845, within 4 x 0.0001.
        partial = results.drop(index=[1])
        within = report.variance_shares(partial).loc["MIG", "within settings (seeds)"]
        self.assertAlmostEqual(within, 0.0004 / 0.0845, places=6)
        self.assertTrue(report.variance_shares(results.drop(index=[1, 3])).empty)  # β=16 alone has two seeds


class FakeSweepReportTest(unittest.TestCase):
    """``python -m bvae_tf.report`` end to end on fake sweeps (untrained SavedModels): one seed, several."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def run_report(self, trials):
        sweep = os.path.join(self.tmp, "sweep")
        report_fixtures.fake_sweep(sweep, trials)
        out = subprocess.run(
            [sys.executable, "-m", "bvae_tf.report", sweep], cwd=ROOT, env=ENV, capture_output=True, text=True
        )
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("report written to", out.stdout)
        report_dir = os.path.join(sweep, "report")
        self.assertEqual(sorted(n for n in os.listdir(report_dir) if n.endswith(".png")), sorted(BETA_FIGURES))
        return read(os.path.join(report_dir, "summary.md")), read(os.path.join(report_dir, "report.html"))

    def test_one_seed(self):
        markdown, page = self.run_report([("beta_vae", "beta", beta, 0) for beta in (1.0, 5.0, 50.0)])
        self.assertRegex(markdown, r"\| beta_vae \| 50 \| 1 \| 73\.0 \|")  # the value alone
        self.assertNotRegex(markdown, r"\d \[")
        self.assertIn("one seed per setting, so no intervals", markdown)
        self.assertIn("<div class='wide'><table", page)

    def test_several_seeds(self):
        trials = [("beta_vae", "beta", beta, seed) for beta in (1.0, 5.0, 50.0) for seed in (0, 1, 2)]
        markdown, page = self.run_report(trials)
        # recon 77, 78, 79: mean 78, standard error 1 / sqrt(3), t(0.975, 2 dof) = 4.3027: ± 2.484.
        self.assertRegex(markdown, r"\| beta_vae \| 50 \| 3 \| 78\.0 \[75\.5, 80\.5\] \|")
        self.assertIn("## What this study shows", markdown)
        self.assertRegex(markdown, r"MIG: β=5 \(higher\), β=50 \(higher\)")
        self.assertRegex(markdown, r"\| MIG \| \d+ % \| \d+ % \|")
        self.assertEqual(sorted(embedded_images(page)), sorted(BETA_FIGURES))
        # Table 2: the nine trials, each its own recon (77, 78, 79 at β=50), in the page too.
        every_trial = markdown.split("## Table 2")[1].split("## ")[0]
        self.assertEqual(len(re.findall(r"^\| beta_vae \|", every_trial, re.M)), 9)
        self.assertRegex(every_trial, r"\| beta_vae \| 50 \| 2 \| 79\.0 \|")
        self.assertIn("Table 2: every trial", page)
        self.assertIn("<p>9 trials, β ∈ {1, 5, 50}, seeds [0, 1, 2].</p>", page)  # the overview, as in summary.md


if __name__ == "__main__":
    unittest.main()
