"""The timing harness: every contestant measured in ONE process, taking turns.

Absolute speeds on shared machines move up to 2x between runs, so only ratios measured side by
side count. One ``fit`` epoch per call is clocked from ``on_epoch_begin`` (first callback) to each
batch's and the epoch's end (last callback); images/s count the steady steps (after the first,
which holds the iterator's start); every contestant's first epoch (tracing, autotuning) is left
out. The contestants take turns epoch by epoch (A B, B A, ...) so drift in machine load hits all
alike; ``step_race`` alternates single compiled steps instead, the most robust on a loaded machine.
"""

import contextlib
import io
import statistics
import sys
import time

import keras
import tensorflow as tf

from bvae_tf.data import make_dataset, render_dsprites
from bvae_tf.data.dsprites import DSprites


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Clock(keras.callbacks.Callback):
    """Two of these bracket the callback list. The first stamps the start of the epoch; the last
    the end of each batch (after every other callback's batch hooks), the validation and the end
    of the epoch (after every other callback's epoch hooks). Wall and process-CPU time."""

    def __init__(self, record, first):
        super().__init__()
        self.record = record
        self.first = first

    @staticmethod
    def now():
        return time.perf_counter(), time.process_time()

    def on_epoch_begin(self, epoch, logs=None):
        if self.first:
            self.record.update(begin=self.now(), val=0.0)

    def on_train_batch_end(self, batch, logs=None):
        if not self.first:
            # ``batch`` is the last step's index: with steps_per_execution > 1 this runs once per execution.
            self.record["steps"] = batch + 1
            self.record["last_batch"] = self.now()
            if "first_batch" not in self.record:
                self.record.update(first_batch=self.record["last_batch"], first_steps=batch + 1)

    def on_test_begin(self, logs=None):
        if self.first:
            self.record["val_begin"] = time.perf_counter()

    def on_test_end(self, logs=None):
        if not self.first:
            self.record["val"] += time.perf_counter() - self.record["val_begin"]

    def on_epoch_end(self, epoch, logs=None):
        if not self.first:
            self.record["end"] = self.now()


HOOKS = {
    "on_train_batch_begin": "step",
    "on_train_batch_end": "step",
    "on_epoch_begin": "epoch",
    "on_epoch_end": "epoch",
    "on_test_begin": "validation",
    "on_test_batch_begin": "validation",
    "on_test_batch_end": "validation",
    "on_test_end": "validation",
    "on_train_begin": "run",
    "on_train_end": "run",
}


def instrument(callback, times):
    """Time ``callback``'s hooks in place, adding seconds into ``times[part]`` (see HOOKS)."""
    for hook, part in HOOKS.items():
        original = getattr(callback, hook)

        def timed(*args, _original=original, _part=part, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                times[_part] += time.perf_counter() - start

        setattr(callback, hook, timed)
    return callback


class Arm:
    """One contestant: a compiled model, its data, and a factory of callbacks (a fresh list for
    each fit call, each callback's hooks timed in place)."""

    def __init__(self, name, model, data, steps, batch_size, callbacks=lambda: [], validation=None, verbose=0):
        self.name, self.model, self.data, self.steps = name, model, data, steps
        self.batch_size, self.callbacks, self.validation, self.verbose = batch_size, callbacks, validation, verbose

    def run_epoch(self):
        record = {}
        times = {part: 0.0 for part in set(HOOKS.values())}
        callbacks = [instrument(cb, times) for cb in self.callbacks()]
        quiet = contextlib.redirect_stdout(io.StringIO()) if self.verbose else contextlib.nullcontext()
        with quiet:
            self.model.fit(
                self.data,
                epochs=1,
                steps_per_epoch=self.steps,
                validation_data=self.validation,
                callbacks=[Clock(record, True), *callbacks, Clock(record, False)],
                verbose=self.verbose,
                shuffle=False,
            )
        (begin, cpu_begin), (first, _), (last, cpu_last), (end, cpu_end) = (
            record[k] for k in ("begin", "first_batch", "last_batch", "end")
        )
        steps = record["steps"]
        return {
            "images": steps * self.batch_size,
            "steps": steps,
            "steady_steps": steps - record["first_steps"],
            "start_s": first - begin,  # the first step (or execution), with the iterator's start
            "steady_s": last - first,  # the steps after it
            "epoch_end_s": end - last - record["val"],
            "val_s": record["val"],
            "total_s": end - begin - record["val"],
            "cpu_s": cpu_end - cpu_begin,  # validation included; only used where there is none
            "hooks_step_s": times["step"],
            "hooks_epoch_s": times["epoch"],
        }


def interleave(arms, rounds, warmup=1):
    """Each arm runs ``warmup`` untimed epochs (tracing, autotuning), then ``rounds`` timed ones,
    the arms taking turns, the order reversed every other round. Returns {name: [records]}."""
    for arm in arms:
        for _ in range(warmup):
            arm.run_epoch()
    records = {arm.name: [] for arm in arms}
    for r in range(rounds):
        for arm in arms if r % 2 == 0 else arms[::-1]:
            records[arm.name].append(arm.run_epoch())
    return records


RATES = {
    "steady": lambda r: r["steady_steps"] * r["images"] / r["steps"] / r["steady_s"],
    "total": lambda r: r["images"] / r["total_s"],
    "cpu": lambda r: r["images"] / r["cpu_s"],
}


def compare(records, base, kind="steady"):
    """images/s of each arm (median over rounds) and its ratio to ``base``: the median of the
    within-round ratios (and their range), and the ratio of the best epochs."""
    rate = RATES[kind]
    out = {}
    for name, recs in records.items():
        rates = [rate(r) for r in recs]
        ratios = [rate(r) / rate(b) for r, b in zip(recs, records[base])]
        out[name] = {
            "images_per_s": round(statistics.median(rates), 1),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "ratio_of_best": round(max(rates) / max(rate(b) for b in records[base]), 3),
        }
    return out


def median(records, key):
    return statistics.median(r[key] for r in records)


def step_seconds(records):
    """Median seconds of a steady step (the steps after the first)."""
    return statistics.median(r["steady_s"] / r["steady_steps"] for r in records)


def step_race(models, data, steps, warmup=3):
    """The models' compiled train functions called in turns, one step each (order reversed every
    other turn), on their own iterators over the same pipeline, each step's logs turned into
    floats as ``fit`` does. Per-step alternation, and taking the lower quartile of each model's
    step times (the steps least disturbed by other processes), make this robust to a loaded
    machine. Returns {name: seconds per step}."""
    from keras.src.utils.python_utils import pythonify_logs

    iterators = {}
    for name, model in models.items():
        model.make_train_function()
        iterators[name] = iter(data)
        for _ in range(warmup):
            pythonify_logs(model.train_function(iterators[name]))
    times = {name: [] for name in models}
    names = list(models)
    for step in range(steps):
        for name in names if step % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            pythonify_logs(models[name].train_function(iterators[name]))
            times[name].append(time.perf_counter() - start)
    return {name: statistics.quantiles(t, n=4)[0] for name, t in times.items()}


def memory_data(images, batch_size):
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def render(n, seed=0):
    return render_dsprites(DSprites.sample_factors(n, seed)).astype("float32")[..., None]


def pipeline_rate(data_dir, batch_size, passes=2):
    """images/s and CPU µs per image of make_dataset alone (last of ``passes`` full passes)."""
    dataset = make_dataset(data_dir, "train", batch_size, shuffle=True, seed=0)
    for _ in range(passes - 1):
        for _ in dataset:
            pass
    start, cpu, count = time.perf_counter(), time.process_time(), 0
    for batch in dataset:
        count += int(batch.shape[0])
    return count / (time.perf_counter() - start), (time.process_time() - cpu) / count
