"""Every command's failures are one line: argparse mistakes, our own checks, file-system errors,
Ctrl-C (`bvae_tf.errors`), and the report's reading of a damaged sweep folder."""

import argparse
import contextlib
import errno
import io
import os
import tempfile
import unittest

from bvae_tf.errors import ArgumentParser, UserError, run_cli


def run(main, argv=None, **kwargs):
    """(exit code, stderr lines) of ``run_cli(main, argv)`` in-process."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            run_cli(main, argv, **kwargs)
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        except KeyboardInterrupt:  # a failure of the test, not the end of the test run
            code = "KeyboardInterrupt escaped run_cli"
    return code, [line for line in stderr.getvalue().splitlines() if line.strip()]


class ParserTest(unittest.TestCase):
    def parser(self):
        parser = ArgumentParser(prog="python -m tool")
        parser.add_argument("--learning-rate", type=float, default=1e-3)
        parser.add_argument("--betas", type=float, nargs="+")
        parser.add_argument("--seed", type=int, default=0)
        return parser

    def test_negative_and_scientific_numbers_are_values(self):
        args = self.parser().parse_args(
            ["--learning-rate", "-1e-3", "--betas", "1", "-.5", "-2.5E+1", "-inf", "--seed", "-1"]
        )
        self.assertEqual(args.learning_rate, -1e-3)
        self.assertEqual(args.betas[:3], [1.0, -0.5, -25.0])
        self.assertEqual(args.betas[3], float("-inf"))
        self.assertEqual(args.seed, -1)

    def test_mistake_is_one_error_line_and_exit_2(self):
        for argv, message in [
            (["--bogus"], "unrecognized arguments: --bogus"),
            (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
            (["--learning-rate"], "argument --learning-rate: expected one argument"),
        ]:
            code, lines = run(lambda argv: self.parser().parse_args(argv), argv)
            self.assertEqual(code, 2)
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith(f"error: {message}"), lines)
            self.assertIn("python -m tool --help", lines[0])

    def test_subcommands_inherit_it(self):
        """`python -m bvae_tf.data` (a parser with subcommands) uses it."""
        from bvae_tf.data.__main__ import main

        for argv, message in [
            (["prepare", "--bogus"], "unrecognized arguments: --bogus"),
            (["prepare", "--subset", "-1e3"], "argument --subset: invalid int value: '-1e3'"),
            ([], "the following arguments are required: command"),
        ]:
            code, lines = run(main, argv)
            self.assertEqual(code, 2)
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith(f"error: {message}"), lines)

    def test_negative_learning_rate_reaches_our_check(self):
        """`train --learning-rate -1e-3`: our check's message, not argparse's "expected one argument"."""
        from bvae_tf.config import TrainConfig
        from bvae_tf.train import add_model_arguments, add_output_arguments, add_training_arguments

        parser = ArgumentParser(prog="python -m bvae_tf.train")
        for add in (add_model_arguments, add_training_arguments, add_output_arguments):
            add(parser)
        code, lines = run(lambda argv: TrainConfig.from_args(parser.parse_args(argv)), ["--learning-rate", "-1e-3"])
        self.assertEqual(code, 2)
        self.assertEqual(lines, ["error: --learning-rate must be positive, got -0.001"])


class HelpDefaultsTest(unittest.TestCase):
    """``--help`` states each flag's default from the value itself, so no help text can go stale."""

    @staticmethod
    def stage_parsers():
        """Every stage's and pipeline's parser (subcommands included), caught as its ``main`` parses ``[]``."""
        import importlib.util
        from unittest import mock

        from bvae_tf.__main__ import MODULES, STAGES

        class Caught(Exception):
            pass

        parsers = []

        def catch(parser, *args, **kwargs):
            parsers.append(parser)
            raise Caught

        pipelines = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipelines")
        mains = [importlib.import_module(MODULES.get(stage, f"bvae_tf.{stage}")).main for stage in STAGES]
        for name in ("beta_study", "zoo_comparison"):
            spec = importlib.util.spec_from_file_location(name, os.path.join(pipelines, f"{name}.py"))
            spec.loader.exec_module(module := importlib.util.module_from_spec(spec))
            mains.append(module.main)
        with mock.patch.object(ArgumentParser, "parse_args", catch):
            for main in mains:
                with contextlib.suppress(Caught):
                    main([])
        for parser in parsers:
            yield parser
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    yield from action.choices.values()

    def test_every_default_is_shown_as_it_is_and_written_nowhere_else(self):
        from unittest import mock

        from bvae_tf.errors import shown_default

        parsers = list(self.stage_parsers())
        self.assertEqual(len(parsers), 11, [p.prog for p in parsers])  # 7 stages (data: 2 subcommands), 2 pipelines
        checked = 0
        for parser in parsers:
            with mock.patch.dict(os.environ, {"COLUMNS": "100000"}):  # no line breaks inside a help text
                text = " ".join(parser.format_help().split())
            for action in parser._actions:
                shown = shown_default(action)
                if shown is None or not action.help:
                    continue
                with self.subTest(parser=parser.prog, flag=action.dest):
                    self.assertNotIn("(default", action.help)  # the formatter states it, from the value
                    if "default" not in action.help:  # one that says in words what its default means
                        self.assertIn(f"{' '.join(action.help.split())} (default {shown})", text)
                        checked += 1
        self.assertGreater(checked, 40)

    def test_shown_default(self):
        from bvae_tf.errors import shown_default

        parser = ArgumentParser(prog="python -m tool")
        for flag, default, shown in [
            ("--learning-rate", 1e-3, "0.001"),
            ("--traversal-beta", 5.0, "5"),
            ("--seeds", [0, 1], "0 1"),
            ("--name", "beta_sweep", "beta_sweep"),
            ("--out", None, None),
            ("--resume", False, None),
            ("--metric-option", [], None),
        ]:
            action = parser.add_argument(flag, default=default, help="x")
            self.assertEqual(shown_default(action), shown, flag)
        self.assertIn("--learning-rate LEARNING_RATE x (default 0.001)", " ".join(parser.format_help().split()))


class RunCliTest(unittest.TestCase):
    def test_user_error(self):
        def main(argv):
            raise UserError("--beta must be >= 0")

        self.assertEqual(run(main), (2, ["error: --beta must be >= 0"]))

    def test_returns_mains_result(self):
        self.assertEqual(run_cli(lambda argv: argv, 7), 7)

    def test_file_system_errors_are_one_line_naming_the_path(self):
        for error, line in [
            (
                PermissionError(errno.EACCES, "Permission denied", "/shared/runs/x"),
                "error: /shared/runs/x: Permission denied",
            ),
            (
                OSError(errno.ENOSPC, "No space left on device", "/data/d/train.tfrecord"),
                "error: /data/d/train.tfrecord: No space left on device",
            ),
            (
                OSError(errno.EROFS, "Read-only file system", "/ro/a", None, "/ro/b"),
                "error: /ro/a -> /ro/b: Read-only file system",
            ),
            (OSError(errno.ENOSPC, "No space left on device"), "error: No space left on device"),
        ]:

            def main(argv, error=error):
                raise error

            self.assertEqual(run(main), (2, [line]))

    def test_real_write_to_a_read_only_folder(self):
        """A write our code does (`files.write_text`) into a folder it may not write: the final path named."""
        from bvae_tf.files import write_text

        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            target = os.path.join(tmp, "locked", "metrics.json")
            os.makedirs(os.path.dirname(target), mode=0o555)
            with as_other_user():
                code, lines = run(lambda argv: write_text(target, "{}"))
            self.assertEqual((code, lines), (2, [f"error: {target}: Permission denied"]))

    def test_disk_full_names_the_file_being_written(self):
        """ENOSPC from a write (no file name in the error) names the file write_atomic was writing."""
        from bvae_tf.files import write_atomic

        def fill(temp):
            with open(temp, "w"):  # created, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")

        with tempfile.TemporaryDirectory() as tmp:
            target = os.path.join(tmp, "history.csv")
            code, lines = run(lambda argv: write_atomic(target, fill))
            self.assertEqual((code, lines), (2, [f"error: {target}: No space left on device"]))
            self.assertEqual(os.listdir(tmp), [])

    def test_ctrl_c(self):
        def main(argv):
            raise KeyboardInterrupt

        self.assertEqual(run(main), (130, ["interrupted"]))
        self.assertEqual(run(main, interrupted="resume with --resume"), (130, ["interrupted; resume with --resume"]))
        self.assertEqual(
            run(main, interrupted=lambda: "resume: python -m bvae_tf.train --beta 5 --resume"),
            (130, ["interrupted; resume: python -m bvae_tf.train --beta 5 --resume"]),
        )
        self.assertEqual(run(main, interrupted=lambda: None), (130, ["interrupted"]))

    def test_the_row_a_progress_bar_holds_on_a_terminal_is_cleared_first(self):
        """Ctrl-C mid-epoch: the message starts its own row instead of trailing the training bar."""

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        def main(argv):
            print("\repoch 2/5 36/63 [======      ] 1.6 s left", end="")
            raise KeyboardInterrupt

        terminal, stderr = Terminal(), io.StringIO()
        with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit):
            run_cli(main)
        self.assertEqual(terminal.getvalue(), "\repoch 2/5 36/63 [======      ] 1.6 s left\r\033[K")
        self.assertEqual(stderr.getvalue(), "interrupted\n")

    def test_bugs_still_raise(self):
        def main(argv):
            raise ZeroDivisionError("a bug")

        with self.assertRaises(ZeroDivisionError):
            run(main)


@contextlib.contextmanager
def as_other_user():
    """Run the block as user ``nobody`` when we are root (root ignores permissions); else as we are."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


class OutputIsAFileTest(unittest.TestCase):
    """--out naming a file: that flag and that cause, not another flag's "permission denied" nor
    "does not exist; run <the command just run>"."""

    def test_each_command_names_out(self):
        import importlib.util

        from bvae_tf.data.__main__ import main as data_main

        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipelines", "beta_study.py")
        spec = importlib.util.spec_from_file_location("beta_study", path)
        study = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(study)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "f")
            open(out, "w").close()
            for main, argv in [
                (data_main, ["prepare", "--out", out, "--subset", "64", "--val-size", "16"]),
                (study.main, ["--quick", "--out", out, "--data-dir", f"{tmp}/data"]),
            ]:
                stderr = io.StringIO()
                with (
                    self.subTest(argv=argv),
                    contextlib.redirect_stderr(stderr),
                    contextlib.redirect_stdout(io.StringIO()),
                ):
                    with self.assertRaises(SystemExit) as exit_:
                        run_cli(main, argv)
                    self.assertEqual(exit_.exception.code, 2)
                    self.assertEqual(
                        stderr.getvalue().strip(), f"error: --out: {out} is a file, not a folder; choose a folder"
                    )
            self.assertEqual(os.listdir(tmp), ["f"])


class ReportInputsTest(unittest.TestCase):
    """`report` on a damaged sweep folder: one error line (load_sweep), never pandas' traceback."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(__import__("shutil").rmtree, self.tmp)

    def test_empty_results_csv(self):
        from bvae_tf import report

        open(os.path.join(self.tmp, "results.csv"), "w").close()
        with self.assertRaisesRegex(UserError, "results.csv"):
            report.load_sweep(self.tmp)

    def test_empty_history_csv(self):
        from bvae_tf import report

        with open(os.path.join(self.tmp, "results.csv"), "w") as f:
            f.write("model,hyperparameter,value,seed\nbeta_vae,beta,1,0\n")
        run_dir = os.path.join(self.tmp, "runs", "beta_vae_beta1_seed0")
        os.makedirs(run_dir)
        open(os.path.join(run_dir, "history.csv"), "w").close()
        with self.assertRaisesRegex(UserError, r"history.csv is empty or not a CSV file \(trial beta_vae_beta1_seed0"):
            report.load_sweep(self.tmp)


if __name__ == "__main__":
    unittest.main()
