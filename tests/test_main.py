"""python -m bvae_tf (the stage list) and setup.cfg's console scripts (bvae-<stage>)."""

import configparser
import contextlib
import importlib
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
import unittest

from bvae_tf.__main__ import MODULES, STAGES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(*args):
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


def console_scripts():
    """{command: "module:function"} from setup.cfg."""
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=")) for line in lines)


class MainTest(unittest.TestCase):
    def test_lists_every_stage_in_one_line_each(self):
        out = run_module("bvae_tf")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr, "")
        listed = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ")]
        self.assertEqual(listed, ["data", "train", "evaluate", "sweep", "udr", "report", "runs"])
        self.assertIn("python -m bvae_tf.<stage> --help", out.stdout)
        self.assertTrue(all(len(line) <= 100 for line in out.stdout.splitlines()))

    def test_each_stage_is_a_module(self):
        for stage in STAGES:
            name = MODULES.get(stage, f"bvae_tf.{stage}")
            self.assertIsNotNone(importlib.util.find_spec(name), name)

    def test_a_stage_runs_and_an_unknown_one_is_one_error_line(self):
        out = run_module("bvae_tf", "runs", os.path.join(ROOT, "no_such_folder"))
        self.assertEqual(out.returncode, 2)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
        self.assertTrue(out.stderr.startswith("error: FOLDER: "), out.stderr)
        out = run_module("bvae_tf", "trian")
        self.assertEqual(out.returncode, 2)
        self.assertEqual(
            out.stderr, "error: no stage 'trian'; the stages are data, train, evaluate, sweep, udr, report, runs\n"
        )

    def test_ctrl_c_in_a_stage_says_how_to_continue(self):
        from unittest import mock

        from bvae_tf import sweep, train
        from bvae_tf.__main__ import run_stage

        for module, argv, hint in [
            (
                sweep,
                ["--betas", "1", "5", "--out", "my sweep"],
                "finished trials are kept and the interrupted one keeps its last finished epoch; continue with "
                "the same command: python -m bvae_tf.sweep --betas 1 5 --out 'my sweep'",
            ),
            (
                train,
                ["--beta", "5", "--overwrite"],
                "the run keeps its last finished epoch; continue it with: python -m bvae_tf.train --beta 5 --resume",
            ),
        ]:
            stderr = io.StringIO()
            with (
                mock.patch.object(module, "main", side_effect=KeyboardInterrupt),
                contextlib.redirect_stderr(stderr),
                self.assertRaises(SystemExit) as exit_,
            ):
                run_stage(module.__name__.split(".")[-1], argv)
            self.assertEqual(exit_.exception.code, 130)
            self.assertEqual(stderr.getvalue(), f"interrupted; {hint}\n")


def as_command(stage, args):
    """What the installed bvae-<stage> does: call its function with the arguments in sys.argv and
    exit with what it returns."""
    script = (
        f"import sys; from bvae_tf.__main__ import {stage}; sys.argv = ['bvae-{stage}', *{args!r}]; sys.exit({stage}())"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


class ConsoleScriptsTest(unittest.TestCase):
    def test_every_stage_has_a_command_that_resolves_to_a_callable(self):
        scripts = console_scripts()
        self.assertEqual(set(scripts), {f"bvae-{stage}" for stage in STAGES})
        for command, target in scripts.items():
            module, _, function = target.partition(":")
            self.assertTrue(callable(getattr(importlib.import_module(module), function)), command)

    def test_a_command_runs_its_stage(self):
        # What the installed bvae-runs does: call the function with the command's arguments in sys.argv.
        out = as_command("runs", ["--help"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("usage: python -m bvae_tf.runs [-h] [FOLDER ...]", out.stdout)

    def test_a_stage_that_returns_its_result_exits_0(self):
        # evaluate's main returns the report (for Python callers): the command must still exit 0.
        import numpy as np

        from bvae_tf.data.dsprites import DSprites

        with tempfile.TemporaryDirectory() as tmp:
            factors = DSprites.sample_factors(300, 0)
            np.savez(os.path.join(tmp, "codes.npz"), codes=factors.astype(float), factors=factors)
            codes = os.path.join(tmp, "codes.npz")
            out = as_command("evaluate", ["--codes", codes, "--metrics", "mig", "--preset", "fast", "--quiet"])
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertNotIn("'scores'", out.stderr)


if __name__ == "__main__":
    unittest.main()
