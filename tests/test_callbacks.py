"""bvae_tf.callbacks: the NaN stop, the epoch summary, rank-1 logs, the cheaper TensorBoard, and the
checkpoints and backups that a kill or a full disk cannot leave half-written."""

import contextlib
import errno
import io
import json
import os
import tempfile
import unittest
from unittest import mock

import keras
import numpy as np
import pandas as pd

from bvae_tf.callbacks import (
    Backup,
    Checkpoint,
    EpochSummary,
    EpochTimer,
    HistoryLogger,
    NaNGuard,
    SqueezeLogs,
    TensorBoard,
    restore,
)
from bvae_tf.errors import UserError
from bvae_tf.model import BetaVAE


def small_model():
    model = BetaVAE(latent_dim=2, seed=0)
    model.build()
    return model


class NaNGuardTest(unittest.TestCase):
    def test_keeps_last_good_weights_and_says_what_to_try(self):
        model = small_model()
        guard = NaNGuard()
        guard.set_model(model)
        good = model.get_weights()
        guard.on_train_begin()
        guard.on_epoch_begin(0)
        guard.on_train_batch_end(0, {"loss": 100.0})
        guard.on_epoch_end(0, {"loss": 100.0})
        guard.on_epoch_begin(1)
        model.set_weights([w + 1.0 for w in good])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            guard.on_train_batch_end(4, {"loss": float("nan")})
        self.assertEqual(guard.nan_epoch, 2)
        self.assertTrue(model.stop_training)
        for restored, original in zip(model.get_weights(), good):
            np.testing.assert_array_equal(restored, original)
        self.assertIn("epoch 2 (batch 5)", out.getvalue())
        self.assertIn("--learning-rate", out.getvalue())


class EpochSummaryTest(unittest.TestCase):
    def test_one_line_with_losses_active_latents_and_validation(self):
        lines = []
        summary = EpochSummary(3, print_fn=lines.append)
        summary.set_model(small_model())
        logs = {
            "loss": 10.0,
            "recon": 8.0,
            "kl": 2.0,
            "active_latents": 1.0,
            "val_loss": 11.0,
            "val_recon": 9.0,
            "val_kl": 2.0,
            "val_active_latents": 2.0,
            "epoch_seconds": 12.34,
        }
        summary.on_epoch_end(1, logs)
        self.assertEqual(
            lines,
            [
                "epoch 2/3 | loss 10.00 recon 8.00 kl 2.00 active 1/2 | "
                "val_loss 11.00 val_recon 9.00 val_kl 2.00 val_active 2/2 | 12.3s"
            ],
        )


class EpochTimerTest(unittest.TestCase):
    def test_epoch_wall_time_goes_into_the_logs(self):
        timer = EpochTimer()
        with mock.patch("time.perf_counter", side_effect=[100.0, 102.5, 200.0, 201.0]):
            timer.on_epoch_begin(0)
            first = {"loss": 1.0}
            timer.on_epoch_end(0, first)
            timer.on_epoch_begin(1)
            second = {}
            timer.on_epoch_end(1, second)
        self.assertEqual(first, {"loss": 1.0, "epoch_seconds": 2.5})
        self.assertEqual(second, {"epoch_seconds": 1.0})


class HistoryLoggerTest(unittest.TestCase):
    def log(self, path, append, *epochs):
        logger = HistoryLogger(path, append=append)
        logger.on_train_begin()
        for epoch, logs in epochs:
            logger.on_epoch_begin(epoch)
            logger.on_epoch_end(epoch, dict(logs))
        logger.on_train_end()

    def test_a_resume_that_logs_a_new_column_keeps_one_table(self):
        path = os.path.join(tempfile.mkdtemp(), "history.csv")
        self.log(path, False, (0, {"loss": 3.0, "val_loss": 3.5}))  # an older run: no epoch_seconds
        self.log(
            path,
            True,
            (1, {"loss": 2.0, "val_loss": 2.5, "epoch_seconds": 9.5}),
            (2, {"loss": 1.5, "val_loss": 2.0, "epoch_seconds": 9.0}),
        )
        table = pd.read_csv(path)
        self.assertEqual(list(table.columns), ["epoch", "loss", "val_loss", "epoch_seconds"])
        self.assertEqual(list(table["epoch"]), [0, 1, 2])
        self.assertEqual(list(table["loss"]), [3.0, 2.0, 1.5])
        self.assertEqual(list(table["val_loss"]), [3.5, 2.5, 2.0])
        self.assertTrue(np.isnan(table["epoch_seconds"][0]))
        self.assertEqual(list(table["epoch_seconds"][1:]), [9.5, 9.0])
        with open(path, newline="") as f:
            self.assertTrue(all(line.endswith("\r\n") for line in f))  # Keras' own line ends throughout

    def test_same_columns_append_as_keras_does(self):
        path = os.path.join(tempfile.mkdtemp(), "history.csv")
        self.log(path, False, (0, {"loss": 3.0, "val_loss": 3.5}))
        self.log(path, True, (1, {"loss": 2.0, "val_loss": 2.5}))
        self.assertEqual(
            pd.read_csv(path).to_dict("list"), {"epoch": [0, 1], "loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}
        )

    def test_epochs_trained_again_are_not_logged_twice(self):
        # A run killed after logging epoch 2 but before backing it up resumes at epoch 1 (or at 0
        # without a backup): the rows of the epochs it trains again are replaced, not repeated.
        path = os.path.join(tempfile.mkdtemp(), "history.csv")
        self.log(path, False, (0, {"loss": 3.0}), (1, {"loss": 2.0}), (2, {"loss": 1.0}))
        self.log(path, True, (1, {"loss": 2.5}), (2, {"loss": 1.5}))
        table = pd.read_csv(path)
        self.assertEqual((list(table["epoch"]), list(table["loss"])), ([0, 1, 2], [3.0, 2.5, 1.5]))
        self.log(path, True, (0, {"loss": 4.0}))
        table = pd.read_csv(path)
        self.assertEqual((list(table["epoch"]), list(table["loss"])), ([0], [4.0]))


def trained_model(seed=0):
    """A compiled BetaVAE after one step, so that its weights, Adam's state and its sampling
    generator all differ from a new model's."""
    model = BetaVAE(latent_dim=2, seed=seed)
    model.build()
    model.compile(keras.optimizers.Adam(1e-3))
    model.fit(np.ones((8, 64, 64, 1), "float32"), batch_size=8, epochs=1, verbose=0)
    return model


def interrupted_write(error):
    """A ``save_weights`` that writes part of a file, then fails with ``error`` (a kill, a full disk)."""

    def save_weights(path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x89HDF\r\n" + bytes(90))
        raise error

    return save_weights


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.folder = os.path.join(tempfile.mkdtemp(), "backup")
        self.model = trained_model()
        self.backup = Backup(self.folder)
        self.backup.set_model(self.model)

    def assert_restores(self, epoch):
        fresh = BetaVAE(latent_dim=2, seed=0)
        fresh.build()
        fresh.compile(keras.optimizers.Adam(1e-3))
        self.assertEqual(restore(fresh, self.folder), epoch)
        for restored, saved in zip(fresh.get_weights(), self.model.get_weights()):
            np.testing.assert_array_equal(restored, saved)
        self.assertEqual(int(fresh.optimizer.iterations), int(self.model.optimizer.iterations))
        # save_weights leaves the sampling generator's state out; the backup keeps it.
        np.testing.assert_array_equal(fresh.seed_generator.state.numpy(), self.model.seed_generator.state.numpy())
        self.assertNotEqual(int(self.model.seed_generator.state.numpy()[1]), 0)

    def test_round_trip_and_no_backup(self):
        self.assertEqual(restore(BetaVAE(latent_dim=2), self.folder), 0)
        self.backup.on_epoch_end(0)
        self.backup.on_epoch_end(1)
        self.assertEqual(sorted(os.listdir(self.folder)), ["epoch-2.weights.h5", "training_metadata.json"])
        self.assert_restores(2)

    def test_a_kill_during_the_write_leaves_the_previous_backup_whole(self):
        self.backup.on_epoch_end(2)
        for error in (KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")):
            with self.subTest(error=error):
                with mock.patch.object(self.model, "save_weights", interrupted_write(error)):
                    with self.assertRaises(type(error)):
                        self.backup.on_epoch_end(3)
                self.assertEqual(sorted(os.listdir(self.folder)), ["epoch-3.weights.h5", "training_metadata.json"])
                self.assert_restores(3)

    def test_a_damaged_backup_of_an_older_version_is_one_line_naming_it(self):
        # Keras' BackupAndRestore, killed while rewriting its file, left 96 bytes of it.
        os.makedirs(self.folder)
        with open(os.path.join(self.folder, "training_metadata.json"), "w") as f:
            json.dump({"epoch": 2, "batch": 0}, f)
        with open(os.path.join(self.folder, "latest.weights.h5"), "wb") as f:
            f.write(b"\x89HDF\r\n" + bytes(88))
        with self.assertRaises(UserError) as caught:
            restore(trained_model(), self.folder)
        message = str(caught.exception)
        self.assertIn(os.path.join(self.folder, "latest.weights.h5"), message)
        self.assertIn("--overwrite", message)
        self.assertEqual(len(message.splitlines()), 1)


class CheckpointTest(unittest.TestCase):
    def test_a_full_disk_keeps_the_previous_checkpoint_and_names_the_file(self):
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "checkpoints", "latest.weights.h5")
        model = trained_model()
        checkpoint = Checkpoint(path)
        checkpoint.set_model(model)
        checkpoint.on_epoch_end(0)
        with open(path, "rb") as f:
            before = f.read()
        full = interrupted_write(OSError(errno.ENOSPC, "Can't synchronously write data (file write failed: ...)"))
        with mock.patch.object(model, "save_weights", full), self.assertRaises(OSError) as caught:
            checkpoint.on_epoch_end(1)
        self.assertEqual((caught.exception.errno, caught.exception.filename), (errno.ENOSPC, path))
        self.assertEqual(caught.exception.strerror, "No space left on device")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(os.listdir(os.path.dirname(path)), ["latest.weights.h5"])  # no temporary left


class SqueezeLogsTest(unittest.TestCase):
    def test_rank_1_logs_become_floats(self):
        logs = {"loss": np.array([3.5]), "kl": 1.0}
        SqueezeLogs().on_epoch_end(0, logs)
        self.assertEqual(logs, {"loss": 3.5, "kl": 1.0})
        self.assertIsInstance(logs["loss"], float)


class TensorBoardTest(unittest.TestCase):
    def test_per_epoch_logging_skips_the_per_step_scalars(self):
        seen = []
        with mock.patch(
            "keras.callbacks.TensorBoard.on_train_batch_end", lambda self, batch, logs=None: seen.append(logs)
        ):
            TensorBoard("/tmp/unused").on_train_batch_end(0, {"loss": 1.0})
            TensorBoard("/tmp/unused", update_freq=10).on_train_batch_end(0, {"loss": 1.0})
        self.assertEqual(seen, [None, {"loss": 1.0}])


if __name__ == "__main__":
    unittest.main()
