"""An evaluation's files: nothing of the user's removed, never two evaluations mixed in one folder,
written as one unit, bad folders and sizes refused before any work (the second fault battery)."""

import contextlib
import errno
import io
import json
import os
import tempfile
import threading
import unittest
from unittest import mock

import numpy as np
import tensorflow as tf

from bvae_tf import evaluate
from bvae_tf.data.dsprites import DSprites
from bvae_tf.errors import UserError, run_cli
from bvae_tf.layout import ModelFolder
from tests.test_errors import as_other_user
from tests.test_evaluate import Encoder

QUICK = ["--quiet", "--preset", "fast", "--dci-model", "fast", "--num-train", "300", "--num-test", "150"]


def scored(argv):
    """``evaluate.main(argv)``'s exit code and stderr lines (its table goes to a buffer)."""
    stderr, code = io.StringIO(), 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        try:
            run_cli(evaluate.main, argv)
        except SystemExit as stop:  # run_cli's exit for an error
            code = stop.code
    return code, [line for line in stderr.getvalue().splitlines() if line.strip()]


def contents(folder):
    """{name: bytes} of the files in ``folder`` (less the lock file)."""
    found = {}
    for name in os.listdir(folder):
        if name != ".lock":
            with open(os.path.join(folder, name), "rb") as f:
                found[name] = f.read()
    return found


class CodesFolderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.data = os.path.join(self.tmp, "mydata")
        os.makedirs(self.data)
        factors = DSprites.sample_factors(600, 0)
        rng = np.random.default_rng(0)
        for name, noise in (("a", 0.1), ("b", 2.0)):
            codes = factors + rng.normal(0, noise, factors.shape)
            np.savez(os.path.join(self.data, f"{name}.npz"), codes=codes, factors=factors)

    def path(self, *names):
        return os.path.join(self.data, *names)

    def test_the_users_files_beside_the_input_are_kept(self):
        mine = ["dci_raw_measurements.csv", "mig_notes.csv", "sap_experiment_log.csv", "matrices.npz"]
        for name in mine:
            with open(self.path(name), "w") as f:
                f.write("mine")
        self.assertEqual(scored(["--codes", self.path("a.npz"), *QUICK])[0], 0)
        for name in mine:  # outputs go to their own folder; nothing here is touched
            with open(self.path(name)) as f:
                self.assertEqual(f.read(), "mine", name)
        self.assertTrue(
            os.path.isfile(
                self.path("evaluations", "a-fast-seed0-mig+modularity+dci+sap-" + self.digest(), "metrics.json")
            )
        )

    def digest(self):
        names = os.listdir(self.path("evaluations"))
        return names[0].rsplit("-", 1)[1]

    def test_with_out_only_the_files_of_the_replaced_evaluation_are_removed(self):
        out = self.path("scores")
        self.assertEqual(scored(["--codes", self.path("a.npz"), "--out", out, *QUICK])[0], 0)
        with open(os.path.join(out, "dci_raw_measurements.csv"), "w") as f:
            f.write("mine")  # a user's file that starts with a metric's name
        self.assertTrue(os.path.isfile(os.path.join(out, "sap_score_matrix.csv")))
        code, _ = scored(["--codes", self.path("a.npz"), "--out", out, "--metrics", "mig", *QUICK, "--overwrite"])
        self.assertEqual(code, 0)
        self.assertFalse(os.path.exists(os.path.join(out, "sap_score_matrix.csv")))  # ours, from the replaced one
        with open(os.path.join(out, "dci_raw_measurements.csv")) as f:
            self.assertEqual(f.read(), "mine")
        with open(os.path.join(out, "metrics.json")) as f:
            listed = json.load(f)["files"]
        self.assertIn("mig_mutual_info.csv", listed)
        self.assertNotIn("dci_raw_measurements.csv", listed)

    def test_a_second_npz_never_replaces_the_first(self):
        self.assertEqual(scored(["--codes", self.path("a.npz"), *QUICK])[0], 0)
        self.assertEqual(scored(["--codes", self.path("b.npz"), *QUICK])[0], 0)
        folders = sorted(os.listdir(self.path("evaluations")))
        self.assertEqual([name[:2] for name in folders], ["a-", "b-"])  # keyed to their input
        out = self.path("shared")
        self.assertEqual(scored(["--codes", self.path("a.npz"), "--out", out, *QUICK])[0], 0)
        code, lines = scored(["--codes", self.path("b.npz"), "--out", out, *QUICK])
        self.assertEqual(code, 2)
        self.assertRegex(
            lines[-1], r"^error: --out: .* holds an evaluation with other settings or input \(source differ\)"
        )

    def test_a_metrics_json_that_is_not_an_evaluation_is_one_line(self):
        out = self.path("odd")
        os.makedirs(out)
        for content in ("", "[1, 2]", '{"scores": 1}', "{not json"):
            with self.subTest(content=content):
                with open(os.path.join(out, "metrics.json"), "w") as f:
                    f.write(content)
                code, lines = scored(["--codes", self.path("a.npz"), "--out", out, *QUICK])
                self.assertEqual(code, 2)
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], r"^error: --out: .*metrics\.json is not an evaluation's metrics\.json")
                with open(os.path.join(out, "metrics.json")) as f:
                    self.assertEqual(f.read(), content)  # left as it was

    def test_a_full_disk_while_writing_leaves_the_previous_evaluation_whole(self):
        out = self.path("full")
        self.assertEqual(scored(["--codes", self.path("a.npz"), "--out", out, *QUICK])[0], 0)
        before = contents(out)
        real = np.savez

        def full(*args, **kwargs):
            real(*args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")

        with mock.patch("numpy.savez", full):
            code, lines = scored(["--codes", self.path("a.npz"), "--out", out, *QUICK, "--seed", "1", "--overwrite"])
        self.assertEqual(code, 2)
        self.assertIn("No space left on device", lines[-1])
        after = contents(out)
        self.assertEqual(after, before)  # every file of the previous evaluation, and no temporary

    def test_sizes_beyond_memory_are_refused_before_any_work(self):
        for flags in (["--num-train", "99999999999"], ["--encode-batch", "99999999999"]):
            with self.subTest(flags=flags):
                code, lines = scored(["--codes", self.path("a.npz"), "--out", self.path("big"), *QUICK, *flags])
                self.assertEqual(code, 2)
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], r"^error: these sizes need about [\d,]+ GiB of memory .*lower the sizes")
                self.assertFalse(os.path.exists(self.path("big")))


class SweepSizesTest(unittest.TestCase):
    def test_a_sweep_checks_its_metric_sizes_before_training(self):
        from bvae_tf.config import EvalSpec, SweepConfig, TrainConfig
        from bvae_tf.sweep import run_sweep

        out = os.path.join(tempfile.mkdtemp(), "sweep")
        config = SweepConfig(
            [("beta_vae", 1.0)],
            out_dir=out,
            training=TrainConfig(epochs=1, verbose=0),
            evaluation=EvalSpec.create(preset="fast", sizes={"num_train": 99_999_999_999}),
        )
        with self.assertRaisesRegex(UserError, r"these sizes need about [\d,]+ GiB of memory"):
            run_sweep(config)
        self.assertFalse(os.path.exists(out))


class ModelFolderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        os.chmod(cls.tmp, 0o755)
        cls.model = os.path.join(cls.tmp, "model")
        module = Encoder()
        tf.saved_model.save(module, cls.model, signatures={"encode": module.encode})

    def test_two_evaluations_into_one_folder_at_once(self):
        out = os.path.join(self.tmp, "cs")
        started, release = threading.Event(), threading.Event()
        real = evaluate.evaluate_model

        def slow(*args, **kwargs):  # the first evaluation holds the folder while the second starts
            started.set()
            release.wait(60)
            return real(*args, **kwargs)

        results = {}
        with mock.patch.object(evaluate, "evaluate_model", slow):
            first = threading.Thread(target=lambda: results.update(first=scored([self.model, "--out", out, *QUICK])))
            first.start()
            started.wait(60)
            results["second"] = scored([self.model, "--out", out, *QUICK, "--seed", "2", "--metrics", "mig,sap"])
            release.set()
            first.join(120)
        self.assertEqual(results["second"][0], 2)
        self.assertRegex(results["second"][1][-1], r"^error: .*cs: this evaluation folder is in use by process \d+")
        self.assertEqual(results["first"][0], 0)
        with open(os.path.join(out, "metrics.json")) as f:
            self.assertEqual(json.load(f)["seed"], 0)  # the first's result, whole

    def test_a_diverged_model_is_refused_unless_asked_and_then_flagged(self):
        with open(ModelFolder(self.model).card, "w") as f:
            json.dump({"stopped_on_nan_in_epoch": 1, "kl_per_latent": [0.0] * 6}, f)
        try:
            code, lines = scored([self.model, *QUICK, "--metrics", "mig"])
            self.assertEqual(code, 2)
            self.assertRegex(lines[-1], r"^error: .*stopped on NaN in epoch 1 .*--allow-diverged")
            self.assertFalse(os.path.exists(ModelFolder(self.model).evaluations))
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                report = evaluate.main([self.model, *QUICK, "--metrics", "mig", "--allow-diverged", "--no-cache"])
            self.assertTrue(report["diverged"])
            self.assertIn("WARNING: this model's training stopped on NaN", stdout.getvalue())
        finally:
            os.remove(ModelFolder(self.model).card)

    def test_a_read_only_model_folder_is_refused_before_the_work(self):
        os.chmod(self.model, 0o555)
        try:
            with mock.patch.object(evaluate, "evaluate_model", side_effect=AssertionError("scored")), as_other_user():
                code, lines = scored([self.model, *QUICK])
        finally:
            os.chmod(self.model, 0o755)
        self.assertEqual(code, 2)
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(
            lines[0], r"^error: --out \(default .*\): cannot write under .*model(/evaluations)? \(permission denied\)"
        )

    def test_writing_into_a_given_folder_checks_its_settings_again(self):
        out = os.path.join(self.tmp, "again")
        report = evaluate.evaluate_codes(
            DSprites.sample_factors(300, 0).astype(float),
            DSprites.sample_factors(300, 0),
            metrics=["mig"],
            preset="fast",
        )
        spec = evaluate.EvalSpec.create(["mig"], "fast")
        evaluate.write_report(report, out, spec, {"codes_sha256": "x"}, with_sizes=False)
        with self.assertRaisesRegex(UserError, r"other settings or input \(source differ\)"):
            evaluate.write_report(report, out, spec, {"codes_sha256": "y"}, with_sizes=False)


if __name__ == "__main__":
    unittest.main()
