"""End-to-end tests of `python -m bvae_tf.evaluate` on SavedModels and on arrays."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
import tensorflow as tf

from bvae_tf import evaluate, saved_model
from bvae_tf.config import EvalSpec
from bvae_tf.data.dsprites import NUM_IMAGES, DSprites
from bvae_tf.errors import run_cli
from bvae_tf.layout import ModelFolder
from bvae_tf.metrics import METRICS, registry, sampling
from tests.helpers import slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = [
    "--preset",
    "fast",
    "--num-train",
    "300",
    "--num-test",
    "150",
    "--num-points-train",
    "60",
    "--num-points-eval",
    "30",
    "--batch-size",
    "16",
    "--num-variance",
    "300",
]
SMALL_SIZES = dict(
    num_train=300, num_test=150, num_points_train=60, num_points_eval=30, batch_size=16, num_variance=300
)
TF_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} |To enable the following)")


class Encoder(tf.Module):
    """A tiny random encoder standing in for a trained model (no bvae_tf model class involved)."""

    def __init__(self, latents=6):
        self.w = tf.Variable(np.random.default_rng(0).normal(0, 0.05, (64 * 64, latents)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 1], tf.float32, name="images")])
    def encode(self, images):
        mean = tf.tanh(tf.reshape(images, [-1, 64 * 64]) @ self.w)
        return {"mean": mean, "logvar": tf.zeros_like(mean)}

    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="latents")])
    def decode(self, latents):
        return {"probs": tf.zeros([tf.shape(latents)[0], 64, 64, 1])}


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "bvae_tf.evaluate", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def error_lines(stderr):
    """stderr without TensorFlow's native start-up log lines."""
    return [line for line in stderr.splitlines() if line.strip() and not TF_LOG.match(line)]


class Evaluate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        module = Encoder()
        for name, signatures in (
            ("encode", {"encode": module.encode}),
            ("gaussian", {"gaussian_encoder": module.encode}),
            ("decoder_only", {"decode": module.decode}),
        ):
            tf.saved_model.save(module, os.path.join(cls.dir, name), signatures=signatures)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def assert_user_error(self, argv, pattern):
        """In-process: exit 2 and a single `error: ...` line matching ``pattern``."""
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            with self.assertRaises(SystemExit) as exit_:
                run_cli(evaluate.main, argv)
        self.assertEqual(exit_.exception.code, 2)
        lines = error_lines(stderr.getvalue())
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], "^error: .*" + pattern)

    def test_cli_progress_lines_when_not_a_terminal_and_no_cache_flag(self):
        model, out = self.path("progress_model"), self.path("progress_out")
        module = Encoder()
        tf.saved_model.save(module, model, signatures={"encode": module.encode})
        stderr = io.StringIO()  # not a terminal: plain lines
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()) as stdout:
            run_cli(evaluate.main, [model, "--metrics", "mig,sap", "--out", out, "--no-cache", *SMALL])
        lines = error_lines(stderr.getvalue())
        self.assertTrue(lines[0].startswith(f"evaluating {model}: mig, sap; preset fast, seed 0"), lines)
        self.assertRegex(lines[1], r"^sampling: 450 images drawn, \d+ distinct$")
        self.assertRegex(lines[2], r"^encoding: [\d,]+ images \.\.\.$")
        self.assertTrue(any(re.match(r"^encoding: done, ([\d,]+)/\1 images in .*images/s$", line) for line in lines))
        self.assertEqual(lines[-5:-1], ["scoring mig (1/2) ...", lines[-4], "scoring sap (2/2) ...", lines[-2]])
        self.assertRegex(lines[-4], r"^scoring mig \(1/2\): \d+\.\d s$")
        self.assertRegex(lines[-1], r"^evaluated in ")
        self.assertFalse(any("\r" in line for line in lines))  # no bar in a log
        self.assertIn("mig", stdout.getvalue())  # the table stays on stdout
        self.assertFalse(os.path.exists(ModelFolder(model).encodings))  # --no-cache
        with open(os.path.join(out, "metrics.json")) as f:
            self.assertEqual(json.load(f)["encodings"]["status"], "off")
        # With the cache (the default): written in the model's evaluations/; --quiet prints nothing.
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            run_cli(evaluate.main, [model, "--metrics", "mig,sap", "--out", out, "--quiet", *SMALL])
        self.assertEqual(error_lines(stderr.getvalue()), [])
        self.assertTrue(os.path.exists(ModelFolder(model).encodings))
        self.assertFalse(os.path.exists(os.path.join(out, "traversal.png")))  # an encode-only model: no traversal

    def test_a_saved_model_is_loaded_once_until_it_is_rewritten(self):
        model, out = self.path("loaded_once"), self.path("loaded_once_out")
        module = Encoder()
        tf.saved_model.save(module, model, signatures={"encode": module.encode, "decode": module.decode})
        saved_model.forget()
        with mock.patch.object(saved_model, "SavedModel", wraps=saved_model.SavedModel) as loads:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                run_cli(evaluate.main, [model, "--metrics", "mig", "--out", out, "--quiet", *SMALL])
            self.assertEqual(loads.call_count, 1)  # encoding and the traversal share one load
            self.assertTrue(os.path.exists(os.path.join(out, "traversal.png")))
            self.assertIs(saved_model.load(model + os.sep), saved_model.load(model))
            self.assertEqual(loads.call_count, 1)
            smaller = Encoder(latents=3)
            tf.saved_model.save(smaller, model, signatures={"encode": smaller.encode})
            codes = saved_model.load(model).encoder()(np.zeros((2, 64, 64, 1), np.float32))
            self.assertEqual(loads.call_count, 2)  # rewritten: loaded again, not the stale one
            self.assertEqual(codes.shape, (2, 3))
        saved_model.forget()

    @slow
    def test_cli_writes_every_metric_and_same_seed_gives_same_numbers(self):
        out = self.path("out1")
        result = run(self.path("encode"), "--out", out, *SMALL)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertIn("mig", result.stdout)
        with open(os.path.join(out, "metrics.json")) as f:
            report = json.load(f)
        self.assertEqual(set(report["metrics"]), set(registry.default_metrics()))
        for key in (
            "mig",
            "zdiff",
            "zmin",
            "modularity",
            "explicitness",
            "dci_disentanglement",
            "dci_completeness",
            "dci_informativeness",
            "sap",
        ):
            self.assertTrue(np.isfinite(report["scores"][key]), key)
        self.assertEqual(report["seed"], 0)
        self.assertEqual(report["metric_options"]["dci"], {"model": "reference"})  # the default of every preset
        self.assertEqual(report["sizes"]["num_train"], 300)
        self.assertEqual(report["num_latents"], 6)
        # Every image the samplers drew is counted; each distinct one is encoded once.
        spec = EvalSpec.create(preset="fast", sizes=SMALL_SIZES)
        drawn = [
            classes
            for sampler in sampling.samplers_of([METRICS[name] for name in registry.default_metrics()])
            for classes in sampler.draw(spec.sizes_of(sampler.name), 0, DSprites())[0].values()
        ]
        indices = np.concatenate([DSprites.classes_to_indices(c.reshape(-1, 5)) for c in drawn])
        self.assertEqual(report["num_images_drawn"], len(indices))
        self.assertEqual(report["num_images_distinct"], len(np.unique(indices)))
        self.assertLess(report["num_images_distinct"], report["num_images_drawn"])
        self.assertIn("tensorflow", report["versions"])
        self.assertGreater(report["time"]["encode_s"], 0)
        with np.load(os.path.join(out, "matrices.npz")) as matrices:
            self.assertEqual(matrices["mig_mutual_info"].shape, (6, 5))
            self.assertEqual(matrices["dci_importance"].shape, (6, 5))
        self.assertTrue(os.path.exists(os.path.join(out, "sap_score_matrix.csv")))
        self.assertFalse([f for f in os.listdir(out) if ".tmp" in f])
        # Progress on stderr (a pipe: plain lines), the table on stdout.
        self.assertIn("encoding: done", result.stderr)
        defaults = registry.default_metrics()
        for i, name in enumerate(defaults, 1):
            self.assertRegex(result.stderr, rf"scoring {name} \({i}/{len(defaults)}\): (\d+\.\d s|\d+m \d\ds)")
        self.assertNotIn("scoring", result.stdout)
        self.assertEqual(report["encodings"]["status"], "missing")
        self.assertEqual(report["encodings"]["encoded"], report["num_images_distinct"])
        # The same seed in-process (the sweep's entry point), every code now from the cache the
        # CLI wrote, gives the same numbers (without the cache too: test_encodings).
        again = evaluate.evaluate_model(self.path("encode"), preset="fast", seed=0, sizes=SMALL_SIZES)
        self.assertEqual(again["encodings"]["from_cache"], report["num_images_distinct"])
        self.assertEqual(again["scores"], report["scores"])

    def test_gaussian_encoder_signature_and_seed_changes_numbers(self):
        a = evaluate.evaluate_model(
            self.path("gaussian"), metrics=["mig", "zmin"], preset="fast", seed=0, sizes=SMALL_SIZES
        )
        b = evaluate.evaluate_model(self.path("gaussian"), EvalSpec.create(["mig", "zmin"], "fast", 1, SMALL_SIZES))
        self.assertEqual(set(a["scores"]), {"mig", "zmin", "zmin_train"})
        self.assertNotEqual(a["scores"]["mig"], b["scores"]["mig"])
        self.assertEqual(a["active_latents"], 6)

    def test_codes_file_with_factors_and_full_grid(self):
        factors = DSprites.sample_factors(900, 0)
        np.savez(self.path("pairs.npz"), codes=factors.astype(np.float32), factors=factors)
        stderr = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
            run_cli(
                evaluate.main,
                ["--codes", self.path("pairs.npz"), "--metrics", "mig,modularity,sap", "--out", self.path("pairs")],
            )
        self.assertIn("scoring modularity (2/3) ...", stderr.getvalue())  # progress, but nothing to encode
        self.assertNotIn("encoding", stderr.getvalue())
        self.assertFalse(os.path.exists(self.path("encodings.npz")))  # no cache for given codes
        with open(self.path("pairs", "metrics.json")) as f:
            self.assertGreater(json.load(f)["scores"]["mig"], 0.7)
        grid = DSprites.indices_to_classes(np.arange(NUM_IMAGES)).astype(np.float32)
        report = evaluate.evaluate_codes(grid, metrics=["zdiff", "zmin"], preset="fast", sizes=SMALL_SIZES)
        self.assertEqual(report["scores"]["zmin"], 1.0)
        self.assertEqual(report["scores"]["zdiff"], 1.0)

    def test_bad_inputs_exit_2_with_one_line(self):
        for args, pattern in (
            ((self.path("nothing_here"),), "no SavedModel"),
            ((self.path("decoder_only"),), "no usable signature"),
        ):
            result = run(*args, *SMALL)
            self.assertEqual(result.returncode, 2, result.stderr[-2000:])
            self.assertNotIn("Traceback", result.stderr)
            lines = error_lines(result.stderr)
            self.assertEqual(len(lines), 1, lines)
            self.assertRegex(lines[0], "^error: .*" + pattern)

    def test_an_evaluation_never_silently_replaces_another(self):
        factors = DSprites.sample_factors(600, 0)
        np.savez(self.path("own.npz"), codes=factors.astype(np.float32), factors=factors)
        out = self.path("own_scores")
        quiet = ["--quiet", "--dci-model", "fast"]
        with contextlib.redirect_stdout(io.StringIO()):
            run_cli(evaluate.main, ["--codes", self.path("own.npz"), "--metrics", "mig,sap", "--out", out, *quiet])
            run_cli(evaluate.main, ["--codes", self.path("own.npz"), "--metrics", "mig,sap", "--out", out, *quiet])
        self.assertTrue(os.path.isfile(os.path.join(out, "sap_score_matrix.csv")))
        with open(os.path.join(out, "metrics.json")) as f:
            before = f.read()
        self.assert_user_error(
            ["--codes", self.path("own.npz"), "--metrics", "mig", "--seed", "1", "--out", out, *quiet],
            r"holds an evaluation with other settings or input \(metrics, seed differ\)",
        )
        with open(os.path.join(out, "metrics.json")) as f:
            self.assertEqual(f.read(), before)
        with contextlib.redirect_stdout(io.StringIO()):
            run_cli(
                evaluate.main,
                [
                    "--codes",
                    self.path("own.npz"),
                    "--metrics",
                    "mig",
                    "--seed",
                    "1",
                    "--out",
                    out,
                    "--overwrite",
                    *quiet,
                ],
            )
        with open(os.path.join(out, "metrics.json")) as f:
            replaced = json.load(f)
        self.assertEqual((set(replaced["metrics"]), replaced["seed"]), ({"mig"}, 1))
        self.assertFalse(os.path.exists(os.path.join(out, "sap_score_matrix.csv")))  # no stale file of sap
        self.assertTrue(os.path.isfile(os.path.join(out, "mig_mutual_info.csv")))
        self.assert_user_error(["--codes", self.path("own.npz"), "--out", self.path("own.npz")], "is a file")

    def test_bad_arrays_and_flags_exit_2(self):
        factors = DSprites.sample_factors(60, 0)
        cases = {
            "wrong_shape": (dict(codes=np.zeros(60, np.float32), factors=factors), "codes must be"),
            "no_latent": (dict(codes=np.zeros((60, 0), np.float32), factors=factors), r"no latent dimension.*L >= 1"),
            "wrong_dtype": (dict(codes=np.zeros((60, 3), np.float32), factors=factors.astype(float)), "integer"),
            "out_of_range": (dict(codes=np.zeros((60, 3), np.float32), factors=factors + 40), "out of range"),
            "no_codes": (dict(z=np.zeros((60, 3))), "no `codes`"),
            "not_grid": (dict(codes=np.zeros((60, 3), np.float32)), "whole grid"),
        }
        for name, (arrays, pattern) in cases.items():
            np.savez(self.path(name + ".npz"), **arrays)
            with self.subTest(name):
                self.assert_user_error(["--codes", self.path(name + ".npz")], pattern)
        ok = self.path("ok.npz")
        np.savez(ok, codes=np.zeros((60, 3), np.float32), factors=factors)
        self.assert_user_error(["--codes", ok, "--metrics", "zdiff"], "whole factor grid")
        self.assert_user_error(["--codes", ok, "--metrics", "mig,bogus"], "unknown metric")
        self.assert_user_error(["--codes", ok, "--num-train", "0"], "num_train")
        self.assert_user_error(["--codes", self.path("missing.npz")], "no such file")
        self.assert_user_error([], "either a SavedModel")


if __name__ == "__main__":
    unittest.main()
