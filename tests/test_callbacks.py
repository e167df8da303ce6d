"""bvae_tf.callbacks: the NaN stop, the epoch summary and its bar (in a real pseudo-terminal), 1-based
epochs in history.csv (and old 0-based files), rank-1 logs, the cheaper TensorBoard, and the
checkpoints and backups that a kill or a full disk cannot leave half-written."""

import contextlib
import errno
import fcntl
import io
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
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
    InterruptBetweenBatches,
    NaNGuard,
    SqueezeLogs,
    TensorBoard,
    restore,
)
from bvae_tf.errors import UserError
from bvae_tf.history import read_history
from bvae_tf.model import BetaVAE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
            ["epoch 2/3 | loss 10.0 recon 8.0 kl 2.00 active 1/2 | val loss 11.0 recon 9.0 kl 2.00 active 2/2 | 12.3s"],
        )

    def test_the_bar_shows_three_numbers_of_the_many_logs(self):
        summary = EpochSummary(10)
        summary.set_params({"verbose": 1, "epochs": 10, "steps": 1563})
        summary.on_epoch_begin(2)
        logs = {"loss": 1214.46612, "recon": 1200.1234, "kl": 14.3412, **{f"kl_{i}": 1.5 for i in range(10)}}
        self.assertEqual(
            summary.bar_line(703, 10.0, logs),
            "epoch 3/10  703/1563 [=====       ] 12.2 s left | loss 1214.5 recon 1200.1 kl 14.34",
        )
        # Timed after the first step (which also traces): 702 steps in 10 s, 860 to go.
        self.assertIn(" 12.3 s left ", summary.bar_line(703, 10.0, logs, timed=702))
        self.assertIn(" ? left ", summary.bar_line(1, 0.0, logs, timed=0))  # one step: no pace yet


def render(output, columns):
    """The rows a terminal ``columns`` wide shows after ``output``: carriage return, newline,
    backspace, erase-to-end-of-line and wrapping at the right edge (other escapes ignored)."""
    rows, row, col = [[]], 0, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|.", output, re.DOTALL):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
        elif token == "\b":
            col = max(0, col - 1)
        elif token.startswith("\x1b"):
            if token.endswith("K"):
                del rows[row][col:]
            continue
        else:
            if col >= columns:
                row, col = row + 1, 0
            while len(rows) <= row:
                rows.append([])
            line = rows[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = token
            col += 1
        while len(rows) <= row:
            rows.append([])
    return ["".join(line).rstrip() for line in rows]


class EpochSummaryTerminalTest(unittest.TestCase):
    """A real ``fit`` in a 120-column pseudo-terminal: what a person sees on screen."""

    SCRIPT = textwrap.dedent("""
        import keras, numpy as np
        from bvae_tf.callbacks import EpochSummary, EpochTimer
        from bvae_tf.model import BetaVAE

        EpochSummary.REDRAW_SECONDS = 0  # every step redraws: the worst case for stale rows
        model = BetaVAE(latent_dim=10, seed=0)
        model.build()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        images = (np.random.default_rng(0).random((48, 64, 64, 1)) > 0.9).astype("float32")
        model.fit(images, epochs=2, batch_size=8, validation_data=(images[:16],),
                  callbacks=[EpochTimer(), EpochSummary(2)], verbose=1)
        print("done")
    """)

    def test_bar_fits_80_columns_and_each_summary_has_its_own_line(self):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
        process = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT],
            stdout=slave,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**env, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        stderr = process.stderr.read().decode()
        process.stderr.close()
        self.assertEqual(process.wait(timeout=300), 0, stderr[-3000:])
        output = b"".join(chunks).decode()
        bars = re.findall(r"\r(epoch [^\r\x1b]*)\x1b\[K", output)
        self.assertGreaterEqual(len(bars), 12, output)  # drawn at each of the 6 steps of both epochs
        self.assertTrue(all(len(bar) <= 80 for bar in bars), bars)
        rows = [row for row in render(output, 120) if row]
        # What stays on screen: one unwrapped summary row per epoch, then the script's own line;
        # no stale bar rows, nothing glued to a summary.
        self.assertEqual([row[:16] for row in rows], ["epoch 1/2 | loss", "epoch 2/2 | loss", "done"], rows)
        self.assertTrue(all(" | val loss " in row for row in rows[:2]), rows)


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
        self.assertEqual(list(table["epoch"]), [1, 2, 3])
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
            pd.read_csv(path).to_dict("list"), {"epoch": [1, 2], "loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}
        )

    def test_a_0_based_file_of_an_older_version_is_read_1_based_and_renumbered_on_resume(self):
        path = os.path.join(tempfile.mkdtemp(), "history.csv")
        with open(path, "w", newline="") as f:  # as Keras' CSVLogger wrote it before bvae_tf counted from 1
            f.write("epoch,loss,val_loss\r\n0,3.0,3.5\r\n1,2.5,3.0\r\n")
        self.assertEqual(list(read_history(path)["epoch"]), [1, 2])
        self.assertEqual(list(pd.read_csv(path)["epoch"]), [0, 1])  # reading changes nothing
        self.log(path, True, (2, {"loss": 2.0, "val_loss": 2.5}))  # the resumed run's third epoch
        self.assertEqual(
            pd.read_csv(path).to_dict("list"),
            {"epoch": [1, 2, 3], "loss": [3.0, 2.5, 2.0], "val_loss": [3.5, 3.0, 2.5]},
        )
        self.assertEqual(list(read_history(path)["epoch"]), [1, 2, 3])

    def test_epochs_trained_again_are_not_logged_twice(self):
        # A run killed after logging epoch 2 but before backing it up resumes at epoch 1 (or at 0
        # without a backup): the rows of the epochs it trains again are replaced, not repeated.
        path = os.path.join(tempfile.mkdtemp(), "history.csv")
        self.log(path, False, (0, {"loss": 3.0}), (1, {"loss": 2.0}), (2, {"loss": 1.0}))
        self.log(path, True, (1, {"loss": 2.5}), (2, {"loss": 1.5}))
        table = pd.read_csv(path)
        self.assertEqual((list(table["epoch"]), list(table["loss"])), ([1, 2, 3], [3.0, 2.5, 1.5]))
        self.log(path, True, (0, {"loss": 4.0}))
        table = pd.read_csv(path)
        self.assertEqual((list(table["epoch"]), list(table["loss"])), ([1], [4.0]))
        with open(path, "w", newline="") as f:  # an older version's 0-based file, killed before its backup
            f.write("epoch,loss\r\n0,3.0\r\n1,2.0\r\n2,1.0\r\n")
        self.log(path, True, (2, {"loss": 0.5}))  # resumed at (1-based) epoch 3: its row is replaced
        table = pd.read_csv(path)
        self.assertEqual((list(table["epoch"]), list(table["loss"])), ([1, 2, 3], [3.0, 2.0, 0.5]))


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


class InterruptBetweenBatchesTest(unittest.TestCase):
    def setUp(self):
        self.addCleanup(signal.signal, signal.SIGINT, signal.signal(signal.SIGINT, signal.default_int_handler))

    def test_ctrl_c_waits_for_the_end_of_the_batch(self):
        with self.assertRaises(KeyboardInterrupt) as raised:
            with InterruptBetweenBatches() as interrupt:
                signal.raise_signal(signal.SIGINT)
                self.assertTrue(interrupt.pending)  # no KeyboardInterrupt yet: the batch goes on
                with self.assertRaises(KeyboardInterrupt):
                    interrupt.on_test_batch_end(0)
                raise KeyboardInterrupt("from the batch end")  # as it would leave fit
        self.assertEqual(str(raised.exception), "from the batch end")
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)  # put back

    def test_a_second_ctrl_c_interrupts_at_once(self):
        with self.assertRaises(KeyboardInterrupt), InterruptBetweenBatches() as interrupt:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
            self.fail("the second Ctrl-C did not interrupt")
        self.assertTrue(interrupt.pending)
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_a_ctrl_c_after_the_last_batch_is_raised_when_fit_returns(self):
        with self.assertRaises(KeyboardInterrupt), InterruptBetweenBatches() as interrupt:
            signal.raise_signal(signal.SIGINT)
        self.assertTrue(interrupt.pending)
        with InterruptBetweenBatches() as interrupt:  # a fresh fit starts with nothing pending
            interrupt.on_train_batch_end(0)

    def test_an_ignored_ctrl_c_stays_ignored(self):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with InterruptBetweenBatches() as interrupt:
            self.assertIs(signal.getsignal(signal.SIGINT), signal.SIG_IGN)
            signal.raise_signal(signal.SIGINT)
            interrupt.on_train_batch_end(0)
        self.assertFalse(interrupt.pending)
