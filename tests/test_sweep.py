"""β sweeps: resuming after a kill, keras-tuner's distributed mode, bad flags."""

import contextlib
import glob
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import unittest
from unittest import mock

import pandas as pd

from bvae_tf import sweep
from bvae_tf.config import TrainConfig
from bvae_tf.errors import UserError, run_cli
from bvae_tf.layout import RunFolder, SweepFolder
from tests.helpers import slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Tiny trials: one epoch on 64 images, metrics on a few hundred points (seconds each).
TINY = [
    "--epochs",
    "1",
    "--subset",
    "64",
    "--val-size",
    "32",
    "--latent-dim",
    "4",
    "--metric-size",
    "num_train=300",
    "--metric-size",
    "num_test=150",
    "--metric-size",
    "num_points_train=60",
    "--metric-size",
    "num_points_eval=40",
    "--metric-size",
    "batch_size=8",
    "--metric-size",
    "num_variance=300",
    "--dci-model",
    "fast",
]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


def sweep_command(out, data_dir, *extra):
    return [sys.executable, "-m", "bvae_tf.sweep", "--out", out, "--data-dir", data_dir, *TINY, *extra]


def read(path):
    with open(path) as f:
        return f.read()


def wait(process, timeout):
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@slow
class SweepTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.out = os.path.join(self.tmp, "sweep")
        self.data = os.path.join(self.tmp, "data")

    def kill_after(self, command, finished, name):
        """Run the sweep and SIGKILL it as soon as `finished` trials have written their result."""
        with open(os.path.join(self.tmp, name), "w") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.time() + 300
            while len(glob.glob(os.path.join(self.out, "runs", "*", "result.json"))) < finished:
                self.assertIsNone(process.poll(), read(log.name)[-3000:])
                self.assertLess(time.time(), deadline, f"{finished} trials did not finish in time")
                time.sleep(0.2)
            process.send_signal(signal.SIGKILL)
            process.wait()

    def finished_trials(self):
        """Each finished trial's history and SavedModel time: both must survive a restart untouched."""
        return {
            path: (
                read(os.path.join(os.path.dirname(path), "history.csv")),
                os.path.getmtime(
                    os.path.join(self.out, "saved_models", os.path.basename(os.path.dirname(path)), "saved_model.pb")
                ),
            )
            for path in glob.glob(os.path.join(self.out, "runs", "*", "result.json"))
        }

    def test_killed_sweep_resumes_without_retraining(self):
        command = sweep_command(self.out, self.data, "--betas", "1", "50", "--seeds", "0", "1")
        # Killed in the first trial's last moments (before keras-tuner records it) ...
        self.kill_after(command, 1, "first.log")
        first = self.finished_trials()
        # ... and again once keras-tuner has recorded finished trials (its reloaded grid must go on).
        self.kill_after(command, 3, "second.log")
        second = self.finished_trials()
        self.assertGreaterEqual(len(second), 3)
        for path, state in first.items():
            self.assertEqual(second[path], state)
        last = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
        self.assertEqual(last.returncode, 0, last.stdout[-3000:] + last.stderr[-3000:])
        results = pd.read_csv(os.path.join(self.out, "results.csv"))
        self.assertEqual(
            sorted(zip(results["model"], results["value"], results["seed"])),
            [("beta_vae", 1.0, 0), ("beta_vae", 1.0, 1), ("beta_vae", 50.0, 0), ("beta_vae", 50.0, 1)],
        )
        self.assertEqual(set(results["hyperparameter"]), {"beta"})
        for column in ("mig", "zdiff", "zmin", "modularity", "dci_disentanglement", "sap", "val_recon", "val_kl"):
            self.assertTrue(results[column].notna().all(), column)
        for row in results.itertuples():  # training time: the run's epochs as history.csv timed them
            history = pd.read_csv(os.path.join(self.out, row.run_dir, "history.csv"))
            self.assertAlmostEqual(row.train_seconds, history["epoch_seconds"].sum(), places=6)
        # No finished trial was retrained or re-exported.
        final = self.finished_trials()
        for path, state in second.items():
            self.assertEqual(final[path], state)
        for history, _ in final.values():
            self.assertEqual(len(history.strip().splitlines()), 2)  # header + one epoch
        # A different grid in the same folder is refused, with a clear message and exit 2.
        other = subprocess.run(
            sweep_command(self.out, self.data, "--betas", "2", "--seeds", "0"),
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(other.returncode, 2)
        self.assertRegex(other.stderr.strip().splitlines()[-1], r"^error: .*other settings \(settings")

    def test_diverged_trial_is_recorded_as_failed_without_metrics(self):
        command = sweep_command(self.out, self.data, "--betas", "1", "--seeds", "0", "--learning-rate", "1e10")
        result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 1, result.stdout[-3000:] + result.stderr[-3000:])
        self.assertRegex(result.stdout.strip().splitlines()[-1], r"^0 of 1 trials finished, 1 failed: see the status")
        results = pd.read_csv(os.path.join(self.out, "results.csv"))
        self.assertEqual(len(results), 1)
        self.assertRegex(results.loc[0, "status"], r"^failed: loss became NaN in epoch 1")
        for column in ("mig", "zdiff", "active_latents_std", "val_loss"):  # no metrics: absent or empty
            self.assertTrue(column not in results or results[column].isna().all(), column)
        self.assertFalse(os.path.exists(os.path.join(self.out, "saved_models", "beta_vae_beta1_seed0", "metrics.json")))

    def test_distributed_chief_and_two_workers(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = sweep_command(self.out, self.data, "--model", "beta_tcvae", "--values", "1", "4", "--seeds", "0", "1")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bvae_tf.data",
                "prepare",
                "--out",
                self.data,
                "--subset",
                "64",
                "--val-size",
                "32",
                "--quiet",
            ],
            cwd=ROOT,
            env=ENV,
            check=True,
            capture_output=True,
        )
        processes = {}
        for role in ("chief", "tuner0", "tuner1"):
            env = dict(
                ENV, KERASTUNER_TUNER_ID=role, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port)
            )
            log = open(os.path.join(self.tmp, f"{role}.log"), "w")
            processes[role] = (subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)
            if role == "chief":
                time.sleep(3)  # let the chief open its oracle server first
        try:
            for role, (process, log) in processes.items():
                self.assertEqual(wait(process, 600), 0, f"{role}: " + read(log.name)[-3000:])
        finally:
            for process, log in processes.values():
                if process.poll() is None:
                    process.kill()
                log.close()
        results = pd.read_csv(os.path.join(self.out, "results.csv"))
        self.assertEqual(len(results), 4)
        self.assertEqual(set(results["worker"]), {"tuner0", "tuner1"})
        self.assertEqual(
            sorted(set(zip(results["model"], results["value"]))), [("beta_tcvae", 1.0), ("beta_tcvae", 4.0)]
        )
        self.assertTrue(results["mig"].notna().all())
        for row in results.itertuples():
            self.assertFalse(os.path.isabs(row.saved_model))  # relative: the sweep folder can move
            self.assertFalse(os.path.isabs(row.evaluation))
            with open(os.path.join(self.out, row.evaluation, "metrics.json")) as f:
                self.assertIn("mig", json.load(f)["scores"])


def a_result(**changes):
    """A results.csv row as ModelSweep.run_trial writes it."""
    result = {
        "trial_id": "03",
        "worker": "tuner0",
        "model": "beta_tcvae",
        "hyperparameter": "beta",
        "value": 6.0,
        "seed": 2,
        "status": "finished",
        "epochs": 3,
        "train_loss": 120.5,
        "train_recon": 100.0,
        "train_kl": 20.5,
        "val_loss": 130.0,
        "val_recon": None,
        "val_kl": float("nan"),
        "active_latents_kl": 4,
        "active_latents_std": 5,
        "mig": 0.25,
        "dci_disentanglement": 0.5,
        "train_seconds": 30.5,
        "eval_seconds": 12.0,
        "run_dir": "runs/beta_tcvae_beta6_seed2",
        "saved_model": "saved_models/beta_tcvae_beta6_seed2",
    }
    return {**result, **changes}


class HParamsTest(unittest.TestCase):
    """Each trial as a session of TensorBoard's HParams plugin, read back with TensorBoard's own reader."""

    def read(self, path):
        from tensorboard.backend.event_processing import event_accumulator
        from tensorboard.plugins.hparams import metadata
        from tensorboard.util import tensor_util

        events = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.TENSORS: 0})
        events.Reload()
        content = events.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        hparams = {
            name: value.string_value if value.HasField("string_value") else value.number_value
            for name, value in start.hparams.items()
        }
        scalars = {}
        for tag in events.Tags()["tensors"]:
            if events.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
                continue
            (point,) = events.Tensors(tag)
            scalars[tag] = (point.step, float(tensor_util.make_ndarray(point.tensor_proto)))
        return start.group_name, hparams, scalars

    def test_hyperparameters_and_every_number_of_the_trial(self):
        path = os.path.join(tempfile.mkdtemp(), "hparams", "beta_tcvae_beta6_seed2")
        config = TrainConfig.from_dict(model="beta_tcvae", beta=6.0, seed=2, epochs=3, batch_size=64, latent_dim=8)
        sweep.write_hparams(path, config, a_result())
        sweep.write_hparams(path, config, a_result(mig=0.5))  # a rerun replaces the session
        group, hparams, scalars = self.read(path)
        self.assertEqual(group, "beta_tcvae_beta6_seed2")
        self.assertEqual(
            hparams,
            {
                "model": "beta_tcvae",
                "hyperparameter": "beta",
                "value": 6.0,
                "seed": 2.0,
                "dataset": "dsprites_full",
                "learning_rate": 0.001,
                "batch_size": 64.0,
                "epochs": 3.0,
                "latent_dim": 8.0,
            },
        )
        self.assertEqual(
            scalars,
            {
                "epochs_completed": (3, 3.0),
                "train_loss": (3, 120.5),
                "train_recon": (3, 100.0),
                "train_kl": (3, 20.5),
                "val_loss": (3, 130.0),
                "active_latents_kl": (3, 4.0),
                "active_latents_std": (3, 5.0),
                "mig": (3, 0.5),
                "dci_disentanglement": (3, 0.5),
                "train_seconds": (3, 30.5),
                "eval_seconds": (3, 12.0),
            },
        )
        self.assertEqual(os.listdir(os.path.dirname(path)), ["beta_tcvae_beta6_seed2"])  # no temporary left

    def test_a_failed_trial_has_its_settings_and_no_scores(self):
        path = os.path.join(tempfile.mkdtemp(), "failed")
        result = a_result(status="failed: loss became NaN in epoch 2", epochs=2, mig=None, dci_disentanglement=None)
        sweep.write_hparams(path, TrainConfig.from_dict(model="beta_tcvae", beta=6.0, seed=2), result)
        _, hparams, scalars = self.read(path)
        self.assertEqual(hparams["model"], "beta_tcvae")
        self.assertNotIn("mig", scalars)
        self.assertEqual(scalars["train_loss"], (2, 120.5))
        self.assertEqual(sweep.outcome(result), "failed: loss became NaN in epoch 2")
        self.assertEqual(sweep.outcome(a_result()), "done: MIG 0.250, 3 epochs trained in 30.5 s")


class SweepBadInputTest(unittest.TestCase):
    def test_bad_flags_exit_2_and_write_nothing(self):
        tmp = tempfile.mkdtemp()
        out = os.path.join(tmp, "sweep")
        for flags, message in [
            (["--metrics", "zdiff"], "must include mig"),
            (["--betas", "1", "-1"], "--betas must be finite numbers >= 0"),
            (["--betas", "1", "nan"], "--betas must be finite numbers >= 0"),
            (["--betas", "1", "inf"], "--betas must be finite numbers >= 0"),
            (["--betas", "1", "1"], "give the same trial"),
            (["--betas", "1", "1.0000001"], "give the same trial"),
            (["--model", "factor_vae", "--betas", "1"], "--betas sets β-VAE's grid"),
            (["--values", "1", "2"], "--values needs exactly one --model"),
            (["--model", "factor_vae", "dip_vae_i", "--values", "1"], "--values needs exactly one --model"),
            (["--study", "reference", "--model", "factor_vae"], "--study reference sets the whole grid"),
            (["--model", "factor_vae", "--values", "10", "-5"], "--values must be finite numbers >= 0"),
            (["--model", "beta_tcvae", "--values", "-1"], "--values must be finite numbers >= 0, got -1$"),
            (["--metric-size", "num_train=lots"], "NAME=N"),
            (["--learning-rate", "0"], "--learning-rate must be positive"),
            (["--learning-rate", "inf"], "--learning-rate must be a finite number, got inf"),
        ]:
            argv = sweep_command(out, os.path.join(tmp, "data"), *flags)[3:]  # in-process: no TF start-up per case
            stderr = io.StringIO()
            with self.subTest(flags=flags), contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
                run_cli(sweep.main, argv)
            self.assertEqual(exit_.exception.code, 2, stderr.getvalue())
            self.assertRegex(stderr.getvalue().strip(), f"^error: [^\n]*{message}[^\n]*$")  # one line
            self.assertEqual(os.listdir(tmp), [])
        # The command itself, once, in a subprocess: the same line and exit code, no traceback.
        result = subprocess.run(
            sweep_command(out, os.path.join(tmp, "data"), "--betas", "1", "-1"),
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(result.returncode, 2, result.stderr[-2000:])
        self.assertNotIn("Traceback", result.stderr)
        self.assertRegex(result.stderr.strip().splitlines()[-1], "^error: --betas must be finite numbers >= 0")

    def test_out_that_is_a_file_is_named(self):
        tmp = tempfile.mkdtemp()
        open(os.path.join(tmp, "f"), "w").close()
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
            run_cli(sweep.main, sweep_command(os.path.join(tmp, "f"), os.path.join(tmp, "data"))[3:])
        self.assertEqual(exit_.exception.code, 2)
        self.assertEqual(
            stderr.getvalue().strip(), f"error: --out: {tmp}/f is a file, not a folder; choose a folder"
        )  # not "--runs-dir: cannot write under ... (permission denied)"
        self.assertEqual(os.listdir(tmp), ["f"])

    def test_a_changed_training_setting_is_named(self):
        tmp = tempfile.mkdtemp()
        config = sweep.config_from_args(
            sweep.build_parser().parse_args(
                ["--out", os.path.join(tmp, "sweep"), "--data-dir", os.path.join(tmp, "data"), *TINY]
            )
        )
        folder = SweepFolder(config.out_dir)
        os.makedirs(folder.path)
        identity = config.to_dict()
        identity["training"]["epochs"] = 3
        with open(folder.config, "w") as f:
            json.dump(identity, f)
        with self.assertRaisesRegex(UserError, r"other settings \(--epochs differ\); rerun it with the same flags"):
            sweep.search(config, folder, "chief")


def diverged(config):
    """What `train` returns for a run whose loss became NaN in its first epoch (no export)."""
    run = RunFolder(os.path.join(config.runs_dir, config.run_name))
    os.makedirs(run.path, exist_ok=True)
    history = pd.DataFrame({"epoch": [0], "loss": [float("nan")]})
    return types.SimpleNamespace(
        nan_epoch=1, final={}, history=history, active_latents=[], train_seconds=1.0, run=run, saved_model=run.path
    )


class RunAndReportTest(unittest.TestCase):
    """The pipelines' last step: the chief draws the report, a worker does not, nor a sweep whose
    every trial failed (sweep and report mocked)."""

    def run_and_report(self, table):
        config = types.SimpleNamespace(out_dir="sweeps/x")
        with (
            mock.patch.object(sweep, "run_sweep", return_value=table),
            mock.patch("bvae_tf.report.make_report", return_value="sweeps/x/report") as make_report,
            contextlib.redirect_stdout(io.StringIO()) as stdout,
        ):
            code = sweep.run_and_report(config)
        return code, make_report.call_args_list, stdout.getvalue()

    def test_chief_reports(self):
        code, calls, stdout = self.run_and_report(pd.DataFrame({"status": ["finished", "finished"]}))
        self.assertEqual((code, calls), (0, [mock.call("sweeps/x")]))
        self.assertEqual(stdout, "report written to sweeps/x/report (open report.html)\n")

    def test_worker_leaves_the_report_to_the_chief(self):
        self.assertEqual(self.run_and_report(None), (0, [], ""))

    def test_failures_exit_1_with_a_report_of_the_rest(self):
        code, calls, _ = self.run_and_report(pd.DataFrame({"status": ["finished", "failed: loss became NaN"]}))
        self.assertEqual((code, len(calls)), (1, 1))
        self.assertEqual(self.run_and_report(pd.DataFrame({"status": ["failed: loss became NaN"]})), (1, [], ""))


class GridOracleTest(unittest.TestCase):
    """The grid oracle hands every worker of a distributed sweep its own trial at once, in grid
    order, and does so again when reloaded mid-sweep (with the interrupted trial first)."""

    def oracle(self, folder):
        import keras_tuner as kt

        hyperparameters = kt.HyperParameters()
        hyperparameters.Choice("seed", [0, 1], ordered=True)
        hyperparameters.Choice("setting", ["a", "b", "c"])
        oracle = sweep.ResumableGridOracle(
            objective=kt.Objective("mig", direction="max"),
            max_trials=6,
            hyperparameters=hyperparameters,
            allow_new_entries=False,
            tune_new_entries=False,
        )
        oracle._set_project_dir(folder, "tuner")
        self.enterContext(contextlib.redirect_stdout(io.StringIO()))  # keras-tuner's trial banners
        return oracle

    @staticmethod
    def point(trial):
        return trial.hyperparameters.values["seed"], trial.hyperparameters.values["setting"]

    def test_three_workers_get_three_trials_at_once(self):
        with tempfile.TemporaryDirectory() as tmp:
            oracle = self.oracle(tmp)
            trials = [oracle.create_trial(f"tuner{i}") for i in range(3)]
            self.assertEqual([trial.status for trial in trials], ["RUNNING"] * 3)  # not IDLE for two of them
            self.assertEqual([self.point(trial) for trial in trials], [(0, "a"), (0, "b"), (0, "c")])

    def test_a_reloaded_sweep_hands_out_the_interrupted_trial_then_the_next_ones(self):
        with tempfile.TemporaryDirectory() as tmp:
            oracle = self.oracle(tmp)
            first, second = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
            oracle.update_trial(first.trial_id, {"mig": 0.5})
            oracle.end_trial(first)
            oracle.save()  # stopped here: (0, "b") was running
            reloaded = self.oracle(tmp)
            reloaded.reload()
            trials = [reloaded.create_trial(f"tuner{i}") for i in range(3)]
            self.assertEqual([trial.status for trial in trials], ["RUNNING"] * 3)
            self.assertEqual([self.point(trial) for trial in trials], [(0, "b"), (0, "c"), (1, "a")])
            self.assertEqual(trials[0].trial_id, second.trial_id)  # resumed, not a second trial of (0, "b")
            for trial in trials:
                reloaded.update_trial(trial.trial_id, {"mig": 0.5})
                reloaded.end_trial(trial)
            rest = [reloaded.create_trial(f"tuner{i}") for i in range(3)]
            self.assertEqual([self.point(trial) for trial in rest[:2]], [(1, "b"), (1, "c")])
            self.assertEqual(rest[2].status, "STOPPED")  # the whole grid is handed out, each point once


class TrialOutcomeTest(unittest.TestCase):
    """What a sweep says when its trials fail (training mocked: seconds, no TensorFlow training)."""

    def run_sweep(self, tmp, train):
        argv = sweep_command(os.path.join(tmp, "sweep"), os.path.join(tmp, "data"), "--betas", "1", "2")[3:]
        stdout, stderr = io.StringIO(), io.StringIO()
        with mock.patch.object(sweep, "train", train), contextlib.redirect_stdout(stdout):
            with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
                sys.exit(run_cli(sweep.main, argv))
        return exit_.exception.code, stdout.getvalue(), stderr.getvalue()

    def test_all_trials_failed_is_said_and_exits_1(self):
        tmp = tempfile.mkdtemp()
        code, stdout, _ = self.run_sweep(tmp, diverged)
        self.assertEqual(code, 1)
        self.assertIn("sweep: trial 1 of 2: beta_vae_beta1_seed0: training", stdout)
        self.assertIn("sweep: trial 2 of 2: beta_vae_beta2_seed0: training", stdout)
        last = stdout.strip().splitlines()[-1]
        self.assertEqual(
            last, f"0 of 2 trials finished, 2 failed: see the status column of {tmp}/sweep/results.csv"
        )  # not "2 trials finished"
        table = pd.read_csv(f"{tmp}/sweep/results.csv")
        self.assertEqual(list(table["status"]), ["failed: loss became NaN in epoch 1"] * 2)

    def test_a_trials_error_is_one_line_not_keras_tuners_runtime_error(self):
        tmp = tempfile.mkdtemp()
        full = mock.Mock(side_effect=OSError(28, "No space left on device", f"{tmp}/sweep/runs/x/history.csv"))
        code, stdout, stderr = self.run_sweep(tmp, full)
        self.assertEqual(code, 2)
        errors = [line for line in stderr.splitlines() if line.startswith("error")]
        self.assertEqual(errors, [f"error: {tmp}/sweep/runs/x/history.csv: No space left on device"])
        self.assertNotIn("Traceback", stderr)
        self.assertNotIn("RuntimeError", stdout + stderr)
        self.assertEqual(full.call_count, 1)  # the sweep stopped at the first failure


if __name__ == "__main__":
    unittest.main()
