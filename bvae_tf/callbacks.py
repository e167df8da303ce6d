"""What Keras' own callbacks don't do for a β-VAE run.

Scalars come from keras.callbacks.TensorBoard (``TensorBoard`` here is Keras' own without a
per-step cost), history.csv from ``HistoryLogger``, Keras' CSVLogger that keeps one table when a
resumed run logs other columns than the file has, and never holds an epoch twice. Written by
hand here, because no Keras callback does it: checkpoints and the state --resume continues from,
written so that a kill or a full disk mid-write leaves the previous ones whole (Keras'
ModelCheckpoint and BackupAndRestore write in place) and with the random generators' states
(which ``save_weights`` leaves out); TensorBoard images (reconstructions, latent traversals) and
histograms of the latent means; a NaN stop that keeps the last good weights and says what to try
(TerminateOnNaN only stops); each epoch's wall time as a logged number; a one-line summary per
epoch, with a short progress bar in place of Keras' (see EpochSummary); Ctrl-C taken between
batches (see InterruptBetweenBatches). Epochs are 1-based
wherever a person reads them: the console, history.csv, TensorBoard's steps.
"""

import csv
import json
import math
import os
import shutil
import signal
import sys
import threading
import time

import h5py
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from bvae_tf.errors import UserError
from bvae_tf.files import write_atomic, write_atomic_named, write_json
from bvae_tf.history import zero_based
from bvae_tf.images import label_rows, tile, traversal_grid, with_channels
from bvae_tf.progress import format_seconds


def to_numpy(value):
    """A tensor or variable as a numpy array. (keras.ops.convert_to_numpy calls np.array on the
    tensor, which numpy 2 answers with a DeprecationWarning about TensorFlow's ``__array__``.)"""
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


class TensorBoardImages(keras.callbacks.Callback):
    """Each epoch: the model's hyperparameters (e.g. β) and the learning rate into the logs (so Keras' TensorBoard and CSVLogger
    record them), then images of inputs vs reconstructions, the latent traversal of the first
    image, and a histogram of each latent's posterior means over ``images``.

    Put it before keras.callbacks.TensorBoard and CSVLogger in the callback list.
    """

    def __init__(self, log_dir, images, max_images=8):
        super().__init__()
        self.log_dir = log_dir
        self.images = np.asarray(images, np.float32)
        self.max_images = max_images
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_train_end(self, logs=None):
        self.writer.close()

    def decode(self, latents):
        return to_numpy(keras.ops.sigmoid(self.model.decoder(latents)))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs.update(self.model.hyperparameters())
        logs["learning_rate"] = float(to_numpy(self.model.optimizer.learning_rate))
        mean, _ = self.model.encoder(self.images)
        mean = to_numpy(mean)
        shown = self.images[: self.max_images]
        pairs = np.concatenate([shown, self.decode(mean[: len(shown)])])
        prefix = "val_" if "val_kl_0" in logs else ""
        kl = [logs.get(f"{prefix}kl_{i}", 0.0) for i in range(mean.shape[1])]
        traversal, order = traversal_grid(self.decode, mean[0], kl)
        traversal = label_rows(traversal, [f"z{i} KL={kl[i]:.2f}" for i in order])
        with self.writer.as_default(step=epoch + 1):  # 1-based, as the console and history.csv count
            tf.summary.image("inputs_vs_reconstructions", with_channels(tile(pairs, len(shown)))[None])
            tf.summary.image("latent_traversal", with_channels(traversal)[None])
            for i in range(mean.shape[1]):
                tf.summary.histogram(f"latent_mean/z{i}", mean[:, i])
        self.writer.flush()


class TensorBoard(keras.callbacks.TensorBoard):
    """``keras.callbacks.TensorBoard``, less a per-step cost when it logs once per epoch.

    With ``update_freq="epoch"`` (the default) Keras 3.15 still calls ``tf.summary.scalar`` on
    every log of every batch, with no writer set, so nothing is recorded: ~45 µs per log per
    step, ~0.6 ms a step for the 14 logs of a BetaVAE with z=10 (~1 % of a CPU step at batch
    32, more on a GPU). Here those calls are skipped; the files written are the same.
    """

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, None if self.update_freq == "epoch" else logs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)  # step = 1-based epoch, as the console and history.csv count


class HistoryLogger(keras.callbacks.CSVLogger):
    """``keras.callbacks.CSVLogger`` with 1-based epochs, whose appended rows follow the file's own
    header, and which never holds an epoch twice.

    Keras appends rows in the order of this run's logs without looking at the header already in
    the file, so a run resumed by a newer bvae_tf that logs one more column (``epoch_seconds``)
    would write rows one field longer than the header. Here, before the first appended row, the
    columns this run adds are put into the file (earlier rows empty; rewritten atomically) and
    the rows follow the file's order; a column the run no longer logs gets "NA". Rows of the
    epochs this run (re)trains, logged by a run killed before its backup, are dropped first, and
    a file of an older bvae_tf with 0-based epochs is renumbered then (see `bvae_tf.history`).
    """

    def on_train_begin(self, logs=None):
        self.first_epoch = None
        super().on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
            if self.append and not self.append_header:
                table = pd.read_csv(self.filename)
                renumber = zero_based(table)
                if renumber:
                    table["epoch"] += 1
                retrained = table["epoch"] > epoch  # this run trains (1-based) epochs epoch + 1, ...
                if renumber or retrained.any():
                    self.csv_file.close()
                    table = table[~retrained]
                    write_atomic(self.filename, lambda temp: table.to_csv(temp, index=False, lineterminator="\r\n"))
                    self.csv_file = open(self.filename, "a", newline="")

    def on_epoch_end(self, epoch, logs=None):
        if self.append and self.keys is None and not self.append_header:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f))
            added = sorted(set(logs or {}) - set(header))
            if added:
                self.csv_file.close()
                table = pd.read_csv(self.filename).reindex(columns=header + added)
                write_atomic(self.filename, lambda temp: table.to_csv(temp, index=False, lineterminator="\r\n"))
                self.csv_file = open(self.filename, "a", newline="")
            self.keys = [key for key in header + added if key != "epoch"]
        super().on_epoch_end(epoch + 1, logs)


class NaNGuard(keras.callbacks.Callback):
    """TerminateOnNaN, plus: put back the weights of the last good epoch at once (so every
    checkpoint and export written afterwards holds them) and say which epoch and what to try.

    Put it before the checkpointing callbacks. ``nan_epoch`` is the 1-based epoch, or None.
    """

    def __init__(self):
        super().__init__()
        self.nan_epoch = None
        self.epoch = 0
        self.good_weights = None

    def on_train_begin(self, logs=None):
        self.good_weights = self.model.get_weights()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if self.nan_epoch is None and loss is not None and not np.isfinite(loss):
            self.nan_epoch = self.epoch + 1
            self.model.stop_training = True
            self.model.set_weights(self.good_weights)
            kept = f"the weights from the end of epoch {self.epoch}" if self.epoch else "the initial weights"
            print(
                f"\nloss became {loss} in epoch {self.nan_epoch} (batch {batch + 1}): stopped, "
                f"keeping {kept}. Try a lower "
                "--learning-rate, --precision float32, a larger --batch-size or a smaller --beta.",
                flush=True,
            )

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_epoch is None:
            self.good_weights = self.model.get_weights()


class EpochTimer(keras.callbacks.Callback):
    """Each epoch's wall time into the logs as ``epoch_seconds``: training, validation and the
    callbacks before this one (TensorBoard images). Put it before TensorBoard and CSVLogger, so
    the time is a column of history.csv, kept across resumes (a sweep's training time sums it).
    """

    def __init__(self):
        super().__init__()
        self.start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.start


class EpochSummary(keras.callbacks.ProgbarLogger):
    """Training's console: one summary line per epoch (the losses, active latents, validation
    losses, the epoch's time from EpochTimer; ~110 columns) and, under ``fit(verbose=1)`` on a terminal, a
    one-line bar while the epoch runs.

    It is a ProgbarLogger so that Keras adds none of its own: Keras' bar lists every log
    (``kl_0``…``kl_9``: ~300 columns, so in a terminal each of its ~20 redraws a second wraps and
    leaves stale rows) and ends without a newline before the next line. This bar shows the step,
    the time left and loss, recon and kl, clipped to the terminal (80 columns at most), redrawn
    twice a second, and is erased before the summary line. Per-latent KL stays in history.csv
    and TensorBoard. Elsewhere (a log file, ``verbose`` 0 or 2) only the summary lines are printed.
    """

    REDRAW_SECONDS = 0.5
    MAX_COLUMNS = 80
    BAR_WIDTH = 12

    def __init__(self, epochs, print_fn=print):
        super().__init__()
        self.epochs = epochs
        self.print_fn = print_fn
        self.bar_shown = False
        self.epoch, self.first_step_end, self.last_draw = 0, 0.0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.bar_shown = epoch, False
        self.first_step_end, self.last_draw = time.monotonic(), -math.inf

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if batch == 0:  # the time left is timed from here: the first step also traces the step function
            self.first_step_end = now
        if self.verbose == 1 and now - self.last_draw >= self.REDRAW_SECONDS and sys.stdout.isatty():
            self.last_draw = now
            self.draw(self.bar_line(batch + 1, now - self.first_step_end, logs or {}, timed=batch))

    def on_test_begin(self, logs=None):  # fit's validation: the bar says so; nothing else
        if self.bar_shown:
            self.draw(f"epoch {self.epoch_label()} validating ...")

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def epoch_label(self):
        return f"{self.epoch + 1}/{self.epochs}"

    def bar_line(self, done, elapsed, logs, timed=None):
        """``epoch 1/10  703/1563 [=====       ] 12.3 s left | loss 112.4 recon 100.1 kl 12.34``:
        the time left at the pace of the ``timed`` steps (default ``done``) that took ``elapsed``."""
        total = self.target or done
        filled = self.BAR_WIDTH * done // max(total, 1)
        timed = done if timed is None else timed
        left = format_seconds(elapsed / timed * (total - done)) if timed else "?"
        numbers = " ".join(
            f"{key} {logs[key]:.{2 if key == 'kl' else 1}f}" for key in ("loss", "recon", "kl") if key in logs
        )
        return (
            f"epoch {self.epoch_label()} {done:>{len(str(total))}}/{total} "
            f"[{'=' * filled}{' ' * (self.BAR_WIDTH - filled)}] {left} left | {numbers}"
        )

    def draw(self, line):
        """Rewrite the terminal's current row with ``line``, clipped to fit it."""
        columns = min(self.MAX_COLUMNS, shutil.get_terminal_size().columns - 1)
        sys.stdout.write(f"\r{line[:columns]}\033[K")
        sys.stdout.flush()
        self.bar_shown = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.bar_shown:  # the summary line takes the bar's row
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()
            self.bar_shown = False

        def part(prefix, label):
            if f"{prefix}loss" not in logs:
                return ""
            return (
                f"{label}loss {logs[f'{prefix}loss']:.1f} recon {logs[f'{prefix}recon']:.1f} "
                f"kl {logs[f'{prefix}kl']:.2f} active {logs[f'{prefix}active_latents']:.0f}/{self.model.latent_dim}"
            )

        seconds = f"{logs['epoch_seconds']:.1f}s" if "epoch_seconds" in logs else ""
        parts = [f"epoch {epoch + 1}/{self.epochs}", part("", ""), part("val_", "val "), seconds]
        self.print_fn(" | ".join(p for p in parts if p))


class SqueezeLogs(keras.callbacks.Callback):
    """Turn the rank-1 logs of ``BetaVAE(rank1_logs=True)`` back into floats; put it first.

    Workaround for keras-team/keras#20585: under MultiWorkerMirroredStrategy, Keras 3 reduces
    step logs with ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars ("Invalid
    reduction dimension 0"). Returning shape-[1] logs and squeezing them here works.
    """

    @staticmethod
    def squeeze(logs):
        for key, value in list((logs or {}).items()):
            if np.ndim(value) == 1 and np.size(value) == 1:
                logs[key] = float(np.asarray(value)[0])

    def on_train_batch_end(self, batch, logs=None):
        self.squeeze(logs)

    def on_test_batch_end(self, batch, logs=None):
        self.squeeze(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.squeeze(logs)


def save_weights(model, path):
    """``model.save_weights(path)``, written under a temporary name and renamed: a kill or a full
    disk leaves the previous file whole. On a failed write h5py's file is closed here: left open,
    it prints tracebacks when freed and can crash the interpreter at exit."""

    def write(temp):
        try:
            model.save_weights(temp)
        except OSError:
            for file_id in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
                if os.fsdecode(file_id.name) == temp:
                    try:
                        h5py.File(file_id).close()
                    except RuntimeError:  # its last flush fails again; the ids are released all the same
                        pass
            raise

    write_atomic_named(path, write)


class Checkpoint(keras.callbacks.Callback):
    """The weights at the end of every epoch, in ``path``: ``ModelCheckpoint(save_weights_only=True)``
    with `save_weights`' whole-or-previous writes."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        save_weights(self.model, self.path)


BACKUP_STATE = "training_metadata.json"  # Keras' BackupAndRestore's name, so older runs resume


def _seed_states(model):
    """The state variables of the model's random generators (sampling, FactorVAE's permutation), in
    the model's order (their paths are numbered per process, so they cannot identify them)."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


class Backup(keras.callbacks.Callback):
    """What ``--resume`` continues from (`restore`), at the end of every epoch: the weights and the
    optimizers' state in ``epoch-<n>.weights.h5``, then ``training_metadata.json`` naming it, with
    the epoch and the random generators' states. Each file is written under a temporary name and
    renamed, the older weights file removed last, so a kill at any moment leaves a whole backup.

    Put it after HistoryLogger: a kill between the two then retrains an epoch whose row is in
    history.csv (HistoryLogger drops it) rather than losing one.
    """

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.folder, exist_ok=True)
        weights = f"epoch-{epoch + 1}.weights.h5"
        save_weights(self.model, os.path.join(self.folder, weights))
        seeds = [to_numpy(v).tolist() for v in _seed_states(self.model)]
        write_json(os.path.join(self.folder, BACKUP_STATE), {"epoch": epoch + 1, "weights": weights, "seeds": seeds})
        for name in os.listdir(self.folder):
            if name.endswith(".weights.h5") and name != weights:
                os.remove(os.path.join(self.folder, name))


def restore(model, folder):
    """Put back the state `Backup` wrote in ``folder`` (or Keras' BackupAndRestore, in runs of older
    versions); return the number of epochs it had finished, 0 if there is none."""
    state_path = os.path.join(folder, BACKUP_STATE)
    if not os.path.isfile(state_path):
        return 0
    with open(state_path) as f:
        state = json.load(f)
    weights = os.path.join(folder, state.get("weights", "latest.weights.h5"))
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(weights)
    except (OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(
            f"{weights} is damaged ({reason}), so the run cannot continue from it; start it again with --overwrite"
        ) from None
    seeds = state.get("seeds", [])
    for variable, value in zip(_seed_states(model), seeds if len(seeds) == len(_seed_states(model)) else []):
        variable.assign(value)
    return int(state["epoch"])


class InterruptBetweenBatches(keras.callbacks.Callback):
    """Ctrl-C during ``fit`` takes effect at the end of the batch it falls in, not inside
    TensorFlow's or h5py's own code: a ``KeyboardInterrupt`` raised there can take the process down
    (a SIGSEGV, with no message), and an epoch's checkpoint and backup are always written whole.
    A second Ctrl-C interrupts at once. Use it as a context manager around ``fit`` and pass it
    in the callbacks; a Ctrl-C after the last batch is raised when the ``with`` block ends.

    Only Python's own Ctrl-C handling is deferred: where SIGINT is ignored (a background job) or
    has another handler, or off the main thread, it changes nothing.
    """

    def __init__(self):
        super().__init__()
        self.pending = False
        self.previous = None

    def _defer(self, signum, frame):
        self.pending = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: at once

    def __enter__(self):
        self.pending = False
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self.previous = signal.signal(signal.SIGINT, self._defer)
        return self

    def __exit__(self, kind, value, traceback):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None
        if self.pending and kind is None:
            raise KeyboardInterrupt

    def _raise_if_pending(self, batch, logs=None):
        if self.pending:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = _raise_if_pending
