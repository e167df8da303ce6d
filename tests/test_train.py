"""python -m bvae_tf.train: the files of a run, TensorBoard tags, SavedModel, resume, bad input."""

import contextlib
import glob
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import unittest
from unittest import mock

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from bvae_tf.config import TrainConfig
from bvae_tf.errors import run_cli
from bvae_tf.export import export_model
from bvae_tf.model import BetaVAE
from bvae_tf.train import build_parser, main, train
from tests.helpers import slow
from tests.test_locks import hold_in_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "bvae_tf.train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


def read_json(path):
    with open(path) as f:
        return json.load(f)


def event_tags(folder):
    """{tag: plugin name} over every event file in ``folder``."""
    tags = {}
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, value.metadata.plugin_data.plugin_name or None)
                if value.metadata.plugin_data.plugin_name:
                    tags[value.tag] = value.metadata.plugin_data.plugin_name
    return tags


@slow
class CommandLineRunTest(unittest.TestCase):
    """The acceptance command, once, in a subprocess."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.args = [
            "--beta",
            "5",
            "--epochs",
            "1",
            "--subset",
            "2000",
            "--val-size",
            "100",
            "--verbose",
            "0",
            "--runs-dir",
            f"{cls.tmp}/runs",
            "--saved-models-dir",
            f"{cls.tmp}/saved_models",
            "--data-dir",
            f"{cls.tmp}/data",
        ]
        cls.out = run_module(cls.args, cls.tmp)
        cls.run_dir = os.path.join(cls.tmp, "runs", "beta_vae_beta5_seed0")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_writes_every_file(self):
        self.assertEqual(self.out.returncode, 0, self.out.stderr[-3000:])
        self.assertIn("epoch 1/1 | loss", self.out.stdout)
        # TensorFlow's start-up notes (CUDA probe, oneDNN, CPU features) and INFO lines stay off the console.
        notes = [
            line
            for line in self.out.stderr.splitlines()
            if re.match(r"^I\d{4} |^WARNING: All log messages before absl|^To enable the following", line)
        ]
        self.assertEqual(notes, [])
        for path in ("config.json", "history.csv", "checkpoints/latest.weights.h5", "backup/training_metadata.json"):
            self.assertTrue(os.path.isfile(os.path.join(self.run_dir, path)), path)
        config = read_json(os.path.join(self.run_dir, "config.json"))
        self.assertEqual(config["settings"]["beta"], 5.0)
        self.assertEqual(config["settings"]["latent_dim"], 10)
        self.assertEqual(set(config["versions"]), {"bvae_tf", "tensorflow", "keras"})
        self.assertEqual(config["data"]["counts"], {"train": 2000, "validation": 100})
        with open(os.path.join(self.run_dir, "history.csv")) as f:
            header = f.readline().strip().split(",")
        for column in (
            "loss",
            "recon",
            "kl",
            "kl_9",
            "active_latents",
            "val_loss",
            "beta",
            "learning_rate",
            "epoch_seconds",
        ):
            self.assertIn(column, header)
        export = os.path.join(self.tmp, "saved_models", "beta_vae_beta5_seed0")
        self.assertTrue(os.path.isfile(os.path.join(export, "saved_model.pb")))
        card = read_json(os.path.join(export, "model_card.json"))
        self.assertEqual(card["beta"], 5.0)
        self.assertIn("val_loss", card["final"])
        self.assertIsInstance(card["active_latents"], list)

    def test_tensorboard_tags(self):
        train_tags = event_tags(os.path.join(self.run_dir, "logs", "train"))
        for tag in (
            "epoch_loss",
            "epoch_recon",
            "epoch_kl",
            "epoch_kl_0",
            "epoch_active_latents",
            "epoch_beta",
            "epoch_learning_rate",
        ):
            self.assertEqual(train_tags.get(tag), "scalars", tag)
        self.assertEqual(train_tags.get("inputs_vs_reconstructions"), "images")
        self.assertEqual(train_tags.get("latent_traversal"), "images")
        self.assertEqual(train_tags.get("latent_mean/z0"), "histograms")
        validation_tags = event_tags(os.path.join(self.run_dir, "logs", "validation"))
        self.assertEqual(validation_tags.get("epoch_loss"), "scalars")

    def test_existing_run_is_refused(self):
        before = sorted(os.listdir(self.run_dir))
        out = run_module(self.args, self.tmp)
        self.assertEqual(out.returncode, 2)
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        self.assertEqual(len(errors), 1, out.stderr)
        self.assertTrue(errors[0].startswith("error: --runs-dir"), out.stderr)
        self.assertEqual(out.stderr.strip().splitlines()[-1], errors[0])
        self.assertNotIn("Traceback", out.stderr)
        self.assertEqual(sorted(os.listdir(self.run_dir)), before)


@slow
class InProcessTrainTest(unittest.TestCase):
    """``train()`` as a sweep calls it: export, resume."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.config = dict(
            beta=4.0,
            epochs=1,
            subset=256,
            val_size=64,
            batch_size=32,
            verbose=0,
            runs_dir=f"{cls.tmp}/runs",
            saved_models_dir=f"{cls.tmp}/saved_models",
            data_dir=f"{cls.tmp}/data",
            name="tiny",
        )
        cls.result = train(cls.config)
        cls.policy_after = keras.config.dtype_policy().name
        # The resume test re-exports over this SavedModel: keep the first one and its encoding.
        cls.images = (np.random.default_rng(0).random((5, 64, 64, 1)) > 0.8).astype("float32")
        cls.expected_mean = keras.ops.convert_to_numpy(cls.result.model.encoder(cls.images)[0])
        cls.export = shutil.copytree(cls.result.saved_model, f"{cls.tmp}/first_export")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_result_and_global_policy(self):
        self.assertEqual(self.policy_after, "float32")
        self.assertEqual(self.result.run.path, f"{self.tmp}/runs/tiny")
        self.assertEqual(self.result.saved_model, f"{self.tmp}/saved_models/tiny")
        self.assertEqual(set(self.result.history.columns), set(self.result.final))
        self.assertIsNone(self.result.nan_epoch)
        self.assertEqual(self.result.epochs_completed, 1)
        self.assertEqual(self.result.config, TrainConfig.from_dict(self.config))
        saved = read_json(self.result.run.config)
        self.assertEqual(saved["version"], 1)
        self.assertEqual(TrainConfig.from_dict(saved["settings"]), self.result.config)

    def test_saved_model_matches_in_memory_model(self):
        np.save(f"{self.tmp}/images.npy", self.images)
        script = textwrap.dedent(f"""
            import sys, numpy as np, tensorflow as tf
            model = tf.saved_model.load({self.export!r})
            images = np.load({self.tmp + "/images.npy"!r})
            np.save({self.tmp + "/mean.npy"!r}, model.encode(images)["mean"].numpy())
            print("signatures", ",".join(sorted(model.signatures)))
            print("decoder", ",".join(model.signatures["decoder"](latent_vectors=tf.zeros([2, 10]))))
            print("imported", any(name.startswith("bvae_tf") for name in sys.modules))
        """)
        out = subprocess.run([sys.executable, "-c", script], cwd=self.tmp, capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        np.testing.assert_allclose(np.load(f"{self.tmp}/mean.npy"), self.expected_mean, atol=1e-5)
        lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
        self.assertEqual(lines["imported"], "False")
        self.assertEqual(lines["decoder"], "images")
        for name in ("encode", "decode", "reconstruct", "gaussian_encoder", "decoder", "reconstructions"):
            self.assertIn(name, lines["signatures"].split(","))

    def test_resume_continues_from_saved_epoch(self):
        class Epochs(keras.callbacks.Callback):
            seen = []

            def on_epoch_begin(self, epoch, logs=None):
                self.seen.append(epoch)

        steps = 256 // 32
        self.assertEqual(int(self.result.model.optimizer.iterations), steps)
        resumed = train(self.config, callbacks=[Epochs()], epochs=2, resume=True)
        self.assertEqual(Epochs.seen, [1])
        self.assertEqual(list(resumed.history["epoch"]), [1, 2])  # 1-based, as the console counts
        # The first epoch's time survives the resume, so the run's training time counts both epochs.
        seconds = resumed.history["epoch_seconds"]
        self.assertEqual(seconds[0], self.result.history["epoch_seconds"][0])
        self.assertTrue((seconds > 0).all())
        self.assertAlmostEqual(resumed.train_seconds, seconds.sum())
        self.assertEqual(int(resumed.model.optimizer.iterations), 2 * steps)  # Adam's state came back too
        with self.assertRaisesRegex(Exception, "--beta is 5.0 but the run"):
            train(self.config, epochs=3, resume=True, beta=5.0)
        # A run folder of an older bvae_tf (0-based epochs in history.csv) resumes too, renumbered.
        history = pd.read_csv(resumed.run.history)
        history.assign(epoch=history["epoch"] - 1).to_csv(resumed.run.history, index=False)
        again = train(self.config, epochs=3, resume=True)
        self.assertEqual(list(pd.read_csv(again.run.history)["epoch"]), [1, 2, 3])
        self.assertEqual(again.history["loss"][0], resumed.history["loss"][0])
        self.assertEqual(read_json(os.path.join(again.saved_model, "model_card.json"))["final"]["epoch"], 3)


class MixedPrecisionExportTest(unittest.TestCase):
    def test_signatures_stay_float32(self):
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_float16")
        try:
            model = BetaVAE(latent_dim=4)
            model.build((None, 64, 64, 1))
        finally:
            keras.config.set_dtype_policy(previous)
        images = (np.random.default_rng(1).random((2, 64, 64, 1)) > 0.8).astype("float32")
        with tempfile.TemporaryDirectory() as tmp:
            loaded = tf.saved_model.load(export_model(model, f"{tmp}/mixed", {"beta": 1.0}))
            encoded = loaded.encode(images)
            decoded = loaded.decode(tf.zeros([3, 4]))
            self.assertTrue(os.path.isfile(f"{tmp}/mixed/model_card.json"))
        self.assertEqual({v.dtype for v in [*encoded.values(), *decoded.values()]}, {tf.float32})
        expected = keras.ops.convert_to_numpy(model.encoder(images)[0])
        np.testing.assert_allclose(encoded["mean"].numpy(), expected, atol=1e-5)
        self.assertEqual(decoded["probs"].shape, (3, 64, 64, 1))


class BadInputTest(unittest.TestCase):
    """Each mistake: exit 2, one line naming the flag, no traceback, nothing written."""

    def check(self, argv, flag):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(f"{tmp}/runs/beta_vae_beta1_seed0")
            with open(f"{tmp}/runs/beta_vae_beta1_seed0/config.json", "w") as f:
                f.write("{}")
            argv = [*argv, "--runs-dir", f"{tmp}/runs", "--saved-models-dir", f"{tmp}/sm", "--data-dir", f"{tmp}/d"]
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
                run_cli(main, argv)
            self.assertEqual(exit_.exception.code, 2)
            lines = stderr.getvalue().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(flag, lines[-1])
            self.assertNotIn("Traceback", stderr.getvalue())
            self.assertEqual(sorted(os.listdir(tmp)), ["runs"])
            self.assertEqual(os.listdir(f"{tmp}/runs/beta_vae_beta1_seed0"), ["config.json"])

    def test_bad_inputs(self):
        cases = [
            (["--beta", "-1"], "--beta"),
            (["--batch-size", "0"], "--batch-size"),
            (["--epochs", "0"], "--epochs"),
            (["--learning-rate", "-0.1"], "--learning-rate"),
            (["--learning-rate", "inf"], "--learning-rate must be a finite number, got inf"),
            (["--latent-dim", "100000000"], "--latent-dim 100000000 gives beta_vae 77,000,756,545 parameters"),
            (["--learning-rate", "-1e-3"], "--learning-rate must be positive, got -0.001"),
            (["--beta", "inf"], "--beta"),
            (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
            (["--seed", "4294967296"], "--seed"),
            (["--batch-size", "99999999999"], "--batch-size must be between"),
            (["--model", "factor_vae", "--beta", "3"], "--beta does not apply to --model factor_vae"),
            (["--model", "annealed_vae", "--iteration-threshold", "0"], "--iteration-threshold"),
            (["--latent-dim", "0"], "--latent-dim"),
            (["--beta", "2", "--source", "npz", "/no/such/dsprites.npz"], "--source"),
            (["--beta", "1"], "--runs-dir"),
            (["--precision", "float8"], "--precision"),
            (["--beta", "2", "--resume", "--overwrite"], "--resume"),
        ]
        for argv, flag in cases:
            with self.subTest(argv=argv):
                self.check(argv, flag)

    def test_a_bad_tf_config_is_refused_before_training(self):
        for value, message in [
            ("{not json", "TF_CONFIG is not JSON"),
            ("[1,2]", "TF_CONFIG has no cluster"),  # TensorFlow trained one worker on it
            ('{"cluster": {"worker": ["localhost:1"]}}', "TF_CONFIG's task must name this process's role"),
            (
                '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 5}}',
                "TF_CONFIG's task index must be 0 to 0",
            ),
            ('{"cluster": {"worker": "localhost:1"}, "task": {"type": "worker"}}', "must be a list"),
        ]:
            with self.subTest(value=value), mock.patch.dict(os.environ, {"TF_CONFIG": value}):
                self.check(["--strategy", "multi_worker"], message)

    def test_a_new_run_failing_before_its_first_epoch_does_not_block_the_rerun(self):
        out_of_memory = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        with tempfile.TemporaryDirectory() as tmp:
            config = dict(
                epochs=1,
                subset=64,
                val_size=16,
                verbose=0,
                runs_dir=f"{tmp}/runs",
                saved_models_dir=f"{tmp}/sm",
                data_dir=f"{tmp}/d",
            )
            for _ in range(2):  # the second time: the same error, not "holds another run"
                with mock.patch("bvae_tf.train.build_model", side_effect=out_of_memory):
                    with self.assertRaises(tf.errors.ResourceExhaustedError):
                        train(config)
                self.assertEqual(os.listdir(f"{tmp}/runs/beta_vae_beta1_seed0"), [".lock"])
            self.assertFalse(os.path.exists(f"{tmp}/sm"))

    def test_unwritable_output_is_refused_before_training(self):
        with tempfile.TemporaryDirectory() as tmp:
            open(f"{tmp}/sm", "w").close()
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
                run_cli(
                    main, ["--runs-dir", f"{tmp}/runs", "--saved-models-dir", f"{tmp}/sm", "--data-dir", f"{tmp}/d"]
                )
            self.assertEqual(exit_.exception.code, 2)
            self.assertEqual(
                stderr.getvalue().strip(),
                f"error: --saved-models-dir: {tmp}/sm is a file, not a folder; choose a folder",
            )
            self.assertEqual(os.listdir(tmp), ["sm"])

    def test_a_run_in_use_by_another_process_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            child = hold_in_child(f"{tmp}/runs/beta_vae_beta1_seed0")
            try:
                stderr = io.StringIO()
                with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
                    run_cli(
                        main,
                        [
                            "--epochs",
                            "1",
                            "--subset",
                            "64",
                            "--val-size",
                            "16",
                            "--runs-dir",
                            f"{tmp}/runs",
                            "--saved-models-dir",
                            f"{tmp}/sm",
                            "--data-dir",
                            f"{tmp}/d",
                            "--verbose",
                            "0",
                        ],
                    )
            finally:
                child.kill()
                child.wait()
            self.assertEqual(exit_.exception.code, 2)
            self.assertRegex(stderr.getvalue().strip(), rf"^error: .*this run is in use by process {child.pid}")
            self.assertEqual(os.listdir(f"{tmp}/runs/beta_vae_beta1_seed0"), [".lock"])
            self.assertFalse(os.path.exists(f"{tmp}/sm"))

    def test_parser_defaults_are_the_reports(self):
        args = build_parser().parse_args([])
        self.assertEqual(
            (args.latent_dim, args.learning_rate, args.batch_size, args.epochs, args.seed), (10, 1e-3, 32, 10, 0)
        )
        self.assertEqual((args.subset, args.val_size, args.source), (50_000, 5_000, ["render"]))


@slow
class MultiWorkerTest(unittest.TestCase):
    def test_multi_worker_strategy_trains(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = run_module(
                [
                    "--strategy",
                    "multi_worker",
                    "--epochs",
                    "1",
                    "--subset",
                    "128",
                    "--val-size",
                    "32",
                    "--verbose",
                    "0",
                    "--runs-dir",
                    f"{tmp}/runs",
                    "--saved-models-dir",
                    f"{tmp}/sm",
                    "--data-dir",
                    f"{tmp}/d",
                ],
                tmp,
            )
            self.assertEqual(out.returncode, 0, out.stderr[-3000:])
            self.assertTrue(os.path.isfile(f"{tmp}/sm/beta_vae_beta1_seed0/saved_model.pb"))


@slow
class InterruptTest(unittest.TestCase):
    def test_ctrl_c_prints_how_to_resume_and_the_hint_resumes(self):
        with tempfile.TemporaryDirectory() as tmp:
            args = [
                "--epochs",
                "3",
                "--subset",
                "1000",
                "--val-size",
                "64",
                "--verbose",
                "0",
                "--runs-dir",
                f"{tmp}/runs",
                "--saved-models-dir",
                f"{tmp}/sm",
                "--data-dir",
                f"{tmp}/d",
            ]
            process = subprocess.Popen(
                [sys.executable, "-m", "bvae_tf.train", *args],
                cwd=tmp,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # A crash instead of exit 130 (seen once: SIGSEGV, empty stderr) then shows its stack.
                env={**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
                # Ctrl-C's default action, even if this suite runs where SIGINT is
                # ignored (a background job), which the child would inherit.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            try:
                for line in process.stdout:  # the first epoch's summary line
                    if line.startswith("epoch 1/3"):
                        break
                process.send_signal(signal.SIGINT)
                stderr = process.communicate(timeout=120)[1]
            finally:
                process.kill()
            self.assertEqual(process.returncode, 130, stderr[-3000:])
            self.assertNotIn("Traceback", stderr)
            last = stderr.strip().splitlines()[-1]
            self.assertRegex(
                last,
                r"^interrupted; the run keeps its last finished epoch; continue it with: "
                r"python -m bvae_tf.train .*--resume$",
            )
            resumed = run_module(shlex.split(last.split("continue it with: python -m bvae_tf.train ")[1]), tmp)
            self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
            history = pd.read_csv(f"{tmp}/runs/beta_vae_beta1_seed0/history.csv")
            self.assertEqual(list(history["epoch"]), [1, 2, 3])  # each epoch once, counted from 1


TWO_WORKERS = textwrap.dedent("""
    import json, os, sys
    import numpy as np, tensorflow as tf, keras
    from bvae_tf.callbacks import SqueezeLogs
    from bvae_tf.data.dsprites import DSprites, render_dsprites
    from bvae_tf.model import BetaVAE

    class MeanCodeVAE(BetaVAE):
        # Each replica draws its own noise, so sampled runs cannot match one process exactly;
        # decoding the mean tests what matters: loss scaling and gradient aggregation.
        def sample(self, mean, logvar):
            return mean

    distributed = "TF_CONFIG" in os.environ
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if distributed else tf.distribute.get_strategy()
    images = render_dsprites(DSprites.sample_factors(64, 1)).astype("float32")[..., None]
    data = tf.data.Dataset.from_tensor_slices(images).batch(16)  # the global batch
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = MeanCodeVAE(beta=4.0, seed=0, rank1_logs=distributed)
        model.build()
        model.compile(keras.optimizers.Adam(1e-3))
    np.savez(sys.argv[1].replace(".npz", "_init.npz"), *model.get_weights())
    history = model.fit(data.with_options(options), epochs=2, verbose=0, shuffle=False,
                        callbacks=[SqueezeLogs()] if distributed else []).history
    np.savez(sys.argv[1], *model.get_weights())
    print("replicas", strategy.num_replicas_in_sync, "loss", history["loss"][-1], flush=True)
""")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@slow
class TwoWorkersTest(unittest.TestCase):
    """MultiWorkerMirroredStrategy across two processes on 127.0.0.1 equals one process."""

    def test_two_workers_agree_with_each_other_and_with_one_process(self):
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "worker.py")
            with open(script, "w") as f:
                f.write(TWO_WORKERS)
            cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
            workers = []
            for index in range(2):
                env = dict(
                    os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
                )
                log = open(os.path.join(tmp, f"worker{index}.log"), "w")
                workers.append(
                    (
                        subprocess.Popen(
                            [sys.executable, script, os.path.join(tmp, f"w{index}.npz")],
                            cwd=ROOT,
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        ),
                        log,
                    )
                )
            single = subprocess.run(
                [sys.executable, script, os.path.join(tmp, "single.npz")],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            try:
                for process, log in workers:
                    process.wait(timeout=300)
                    with open(log.name) as f:
                        output = f.read()
                    self.assertEqual(process.returncode, 0, output[-3000:])
                    self.assertIn("replicas 2", output)
            finally:
                for process, log in workers:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
                    log.close()
            self.assertEqual(single.returncode, 0, single.stderr[-3000:])
            weights = [np.load(os.path.join(tmp, f"{name}.npz")) for name in ("w0", "w1", "single")]
            keys = weights[0].files
            between_workers = max(np.abs(weights[0][k] - weights[1][k]).max() for k in keys)
            against_single = max(np.abs(weights[0][k] - weights[2][k]).max() for k in keys)
            initial = np.load(os.path.join(tmp, "w0_init.npz"))
            moved = max(np.abs(weights[0][k] - initial[k]).max() for k in keys)
            self.assertEqual(between_workers, 0.0)  # one all-reduced update, applied on both
            self.assertLess(against_single, 1e-4)  # float sums in another order, nothing more
            self.assertGreater(moved, 1e-3)  # eight Adam steps really changed the weights


if __name__ == "__main__":
    unittest.main()
