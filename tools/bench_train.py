"""Benchmark β-VAE training against a hand-written Keras reference of the same net; prints JSON.

Everything is measured in ONE process with ONE harness, because absolute speeds on shared
machines move up to 2x between runs and only ratios measured side by side count:

* data: dSprites images rendered into memory, fed as ``from_tensor_slices(...).repeat()
  .batch(B, drop_remainder=True).prefetch(AUTOTUNE)``; the same pipeline for every model;
* timing: one ``fit`` epoch of ``steps_per_epoch`` steps per call, clocked from
  ``on_epoch_begin`` (first callback) to each batch's and the epoch's end (last callback);
  images/s count the steady steps (after the first, which holds the iterator's start); every
  model's first epoch (tracing, autotuning) is left out;
* interleaving: the models take turns epoch by epoch (A B, B A, A B ...) so drift in machine
  load hits all of them alike; ``ratio`` is the median over rounds of the ratio within a round,
  ``ratio_range`` its spread, ``ratio_cpu_time`` the same from the process's CPU seconds, and
  ``ratio_step_race`` the ratio from the compiled train functions called in turns step by step
  (lower quartile of step times): the most robust when others load the machine.

Sections of the JSON output:

``main``        our ``BetaVAE`` vs ``ReferenceVAE`` (keras.io style: one ``train_step`` with
                ``tf.nn.sigmoid_cross_entropy_with_logits``, one ``Mean`` tracker, ``fit``) at
                each batch size: images/s of both, their ratio, fraction of the matmul peak.
``causes``      the reference plus ONE thing BetaVAE's train_step did before this benchmark,
                each vs the plain reference: per-latent KL bookkeeping, keras.ops BCE, the
                strategy lookup, ``optimizer.scale_loss``, extra metric updates; all of them
                together; BetaVAE now; and ideas measured but not adopted.
``callbacks``   our model with ONE callback of a real run (as ``bvae_tf.train`` wires them), on
                the same compiled model: time inside its hooks per step and per epoch (measured
                in place), the slowdown that makes for a default 50,000-image epoch, and the
                wall-clock ratio vs no callbacks.
``real_epoch``  real epochs: ``prepare`` + ``make_dataset`` TFRecords (as train.py), every
                callback, the progress bar, validation (timed apart) vs the model alone on
                in-memory data; projected to a default epoch; the input pipeline alone.
``flops``       training FLOPs per image (analytic, cross-checked with TF's profiler on the
                forward graph) and the float32 matmul peak measured at the start and the end.

    python tools/bench_train.py [--batch-sizes 32 64] [--images 1024] [--rounds 5]
                                [--skip causes callbacks real_epoch]     # ~5 minutes on 2 cores
    python tools/bench_train.py --gpu-suite     # what tools/bench_gpu.sh runs on a CUDA machine
"""

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

from bvae_tf import callbacks as bvae_callbacks  # noqa: E402
from bvae_tf.config import MODELS, TrainConfig  # noqa: E402
from bvae_tf.data import make_dataset, prepare, render_dsprites  # noqa: E402
from bvae_tf.data.dsprites import DSprites  # noqa: E402
from bvae_tf.data.sources import render_source  # noqa: E402
from bvae_tf.model import IMAGE_SHAPE, BetaVAE, LatentKL  # noqa: E402
from bvae_tf.zoo import make_model  # noqa: E402

DEFAULT_EPOCH_IMAGES = 50_000  # a default `python -m bvae_tf.train` epoch (--subset 50000)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# FLOPs and peak


def layer_flops(model):
    """Forward FLOPs per image of every Conv/ConvT/Dense layer of a BetaVAE, in order (2 per
    multiply-add; biases and activations not counted)."""
    flops = []
    shape = IMAGE_SHAPE
    for layer in [
        *model.encoder.body,
        model.encoder.mean_head,
        model.encoder.logvar_head,
        *model.decoder.body,
        model.decoder.logits_head,
    ]:
        if isinstance(layer, keras.layers.Dense):
            if layer is model.encoder.logvar_head:  # a second head on the same 256 features
                flops.append(2 * 256 * model.latent_dim)
                continue
            flops.append(2 * shape[-1] * layer.units)
            shape = (layer.units,)
        elif isinstance(layer, keras.layers.Conv2DTranspose):  # a MAC per input pixel per kernel tap
            h, w, c = shape
            flops.append(2 * h * w * 16 * c * layer.filters)
            shape = (2 * h, 2 * w, layer.filters)
        elif isinstance(layer, keras.layers.Conv2D):  # a MAC per output pixel per kernel tap
            h, w, c = shape
            shape = (h // 2, w // 2, layer.filters)
            flops.append(2 * shape[0] * shape[1] * 16 * c * layer.filters)
        elif isinstance(layer, keras.layers.Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, keras.layers.Reshape):
            shape = layer.target_shape
    return flops


def training_flops(forward):
    """Backward costs two forwards (gradients of inputs and of weights), except that nothing
    needs the gradient of the images, the first layer's input."""
    return 3 * sum(forward) - forward[0]


def profiler_forward_flops(model):
    """TF's own count of the float ops in one image's forward pass (encoder, then decoder of the mean)."""
    fn = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec((1, *IMAGE_SHAPE), tf.float32))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(fn.graph, options=options).total_float_ops


def peak_flops(n=2048, repeats=5, dtype=tf.float32):
    """Best FLOP/s of an n x n matmul (the machine's practical dense peak, measured now)."""
    a = tf.random.normal((n, n), dtype=dtype)
    b = tf.random.normal((n, n), dtype=dtype)
    tf.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


# ----------------------------------------------------------------------------------------------
# The reference: the same net, written the way keras.io teaches


def reference_encoder(latent_dim):
    conv = dict(kernel_size=4, strides=2, padding="same", activation="relu")
    inputs = keras.Input(IMAGE_SHAPE)
    x = layers.Conv2D(32, **conv)(inputs)
    x = layers.Conv2D(32, **conv)(x)
    x = layers.Conv2D(64, **conv)(x)
    x = layers.Conv2D(64, **conv)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def reference_decoder(latent_dim):
    deconv = dict(kernel_size=4, strides=2, padding="same", activation="relu")
    inputs = keras.Input((latent_dim,))
    x = layers.Dense(256, activation="relu")(inputs)
    x = layers.Dense(4 * 4 * 64, activation="relu")(x)
    x = layers.Reshape((4, 4, 64))(x)
    x = layers.Conv2DTranspose(64, **deconv)(x)
    x = layers.Conv2DTranspose(32, **deconv)(x)
    x = layers.Conv2DTranspose(32, **deconv)(x)
    logits = layers.Conv2DTranspose(1, kernel_size=4, strides=2, padding="same")(x)
    return keras.Model(inputs, logits, name="decoder")


class ReferenceVAE(keras.Model):
    """What a user writes by hand after reading keras.io's VAE example."""

    def __init__(self, latent_dim=10, beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.beta = beta
        self.encoder = reference_encoder(latent_dim)
        self.decoder = reference_decoder(latent_dim)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, images):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(images)
            epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
            logits = self.decoder(z_mean + ops.exp(0.5 * z_log_var) * epsilon)
            recon = tf.reduce_mean(
                tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits), axis=(1, 2, 3))
            )
            kl = tf.reduce_mean(tf.reduce_sum(0.5 * (tf.square(z_mean) + tf.exp(z_log_var) - 1.0 - z_log_var), axis=1))
            loss = recon + self.beta * kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


CAUSES = ("latent_kl", "keras_ops_bce", "strategy_lookup", "scale_loss", "metric_updates")
IDEAS = ("written_out_gradient",)  # measured, not adopted (see the causes section's note)


@tf.custom_gradient
def bernoulli_nll_written_out(images, logits):
    """sigmoid_cross_entropy_with_logits summed over pixels, its gradient written out:
    d/d logits = sigmoid(logits) - images (3 kernels instead of autodiff's ~10). The gradient
    differs from autodiff's in the last bit, which Adam amplifies: histories then differ by
    ~5e-5 (loss) and ~1 % (per-latent KL) after two small epochs, so BetaVAE does not use it."""
    nll = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits), axis=(1, 2, 3))

    def grad(upstream):
        upstream = upstream[:, None, None, None]
        return -logits * upstream, (tf.sigmoid(logits) - images) * upstream

    return nll, grad


class CauseVAE(ReferenceVAE):
    """The reference plus some of what BetaVAE's train_step did before this benchmark existed
    (all of ``causes`` together is that train_step):

    latent_kl        the KL per latent (mean over the batch, then summed) and the LatentKL
                     metric, with kl_0..kl_{z-1} and active_latents in every step's logs;
    keras_ops_bce    keras.ops.binary_crossentropy(from_logits=True) instead of the TF op;
    strategy_lookup  loss / tf.distribute.get_strategy().num_replicas_in_sync;
    scale_loss       optimizer.scale_loss(loss), a no-op factor under float32;
    metric_updates   two more Mean trackers (recon, kl), in every step's logs.

    And an idea measured but not adopted (IDEAS): written_out_gradient, the reconstruction
    loss's gradient written out (``bernoulli_nll_written_out``).
    """

    def __init__(self, causes, latent_dim=10, beta=1.0, seed=None, **kwargs):
        super().__init__(latent_dim, beta, seed, **kwargs)
        unknown = set(causes) - set(CAUSES) - set(IDEAS)
        if unknown:
            raise ValueError(f"unknown causes {sorted(unknown)}")
        self.causes = set(causes)
        self.recon_tracker = keras.metrics.Mean(name="recon")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.latent_kl = LatentKL(latent_dim)

    @property
    def metrics(self):
        extra = [self.recon_tracker, self.kl_tracker] if "metric_updates" in self.causes else []
        return [self.loss_tracker, *extra, *([self.latent_kl] if "latent_kl" in self.causes else [])]

    def train_step(self, images):
        causes = self.causes
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(images)
            epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
            logits = self.decoder(z_mean + ops.exp(0.5 * z_log_var) * epsilon)
            if "written_out_gradient" in causes:
                recon = tf.reduce_mean(bernoulli_nll_written_out(images, logits))
            else:
                if "keras_ops_bce" in causes:
                    pixel_nll = ops.binary_crossentropy(images, logits, from_logits=True)
                else:
                    pixel_nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits)
                recon = tf.reduce_mean(tf.reduce_sum(pixel_nll, axis=(1, 2, 3)))
            kl_terms = 0.5 * (tf.square(z_mean) + tf.exp(z_log_var) - 1.0 - z_log_var)
            if "latent_kl" in causes:
                kl_per_latent = tf.reduce_mean(kl_terms, axis=0)
                kl = tf.reduce_sum(kl_per_latent)
            else:
                kl = tf.reduce_mean(tf.reduce_sum(kl_terms, axis=1))
            loss = recon + self.beta * kl
            scaled = loss
            if "strategy_lookup" in causes:
                scaled = scaled / tf.distribute.get_strategy().num_replicas_in_sync
            if "scale_loss" in causes:
                scaled = self.optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        if "metric_updates" in causes:
            self.recon_tracker.update_state(recon)
            self.kl_tracker.update_state(kl)
        if "latent_kl" in causes:
            self.latent_kl.update_state(kl_per_latent)
        return self.get_metrics_result()


def copy_weights(source, target):
    """Give ``target`` (a reference) the weights of ``source`` (a BetaVAE): same start, same work."""
    pairs = [(source.encoder, target.encoder), (source.decoder, target.decoder)]
    for a, b in pairs:
        for wa, wb in zip(a.weights, b.weights, strict=True):
            if tuple(wa.shape) != tuple(wb.shape):
                raise AssertionError(f"weights differ in shape: {wa.path} {wa.shape} vs {wb.path} {wb.shape}")
            wb.assign(wa)


def make_models(kind, latent_dim=10, beta=4.0, seed=0, learning_rate=1e-3, jit_compile=False):
    keras.utils.set_random_seed(seed)
    ours = BetaVAE(latent_dim=latent_dim, beta=beta, seed=seed)
    ours.build((None, *IMAGE_SHAPE))
    if kind == "ours":
        model = ours
    elif kind == "reference":
        model = ReferenceVAE(latent_dim, beta, seed)
    else:
        model = CauseVAE(kind, latent_dim, beta, seed)
    if model is not ours:
        copy_weights(ours, model)
    model.compile(keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    return model


# ----------------------------------------------------------------------------------------------
# The harness


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


# ----------------------------------------------------------------------------------------------
# Sections


def main_section(images, batch_sizes, epoch_images, rounds, race_steps):
    out = {}
    for batch_size in batch_sizes:
        steps = epoch_images // batch_size
        data = memory_data(images, batch_size)
        arms = [Arm(kind, make_models(kind), data, steps, batch_size) for kind in ("reference", "ours")]
        log(f"main: batch {batch_size}, {steps} steps x {rounds} rounds, then {race_steps} alternated steps")
        records = interleave(arms, rounds)
        wall, cpu = compare(records, "reference"), compare(records, "reference", "cpu")
        race = step_race({arm.name: arm.model for arm in arms}, data, race_steps)
        out[str(batch_size)] = {
            "reference_images_per_s": wall["reference"]["images_per_s"],
            "ours_images_per_s": wall["ours"]["images_per_s"],
            "ratio": wall["ours"]["ratio"],
            "ratio_range": wall["ours"]["ratio_range"],
            "ratio_of_best": wall["ours"]["ratio_of_best"],
            "ratio_cpu_time": cpu["ours"]["ratio"],
            "ratio_step_race": round(race["reference"] / race["ours"], 3),
        }
    return out


def models_section(images, batch_sizes, race_steps, names):
    """images/s of each model of the zoo (its default hyperparameters), all in one step race, and
    the share of a step that FactorVAE's discriminator and β-TCVAE's B x B x L TC term take
    (1 - β-VAE's step time / theirs)."""
    out = {}
    for batch_size in batch_sizes:
        models = {}
        for name in names:
            keras.utils.set_random_seed(0)
            hyperparameters = dict(TrainConfig(model=name).hyperparameters)
            if name == "annealed_vae":
                hyperparameters["iteration_threshold"] = 1000
            model = make_model(name, 10, seed=0, **hyperparameters)
            model.build()
            model.compile(keras.optimizers.Adam(1e-3))
            models[name] = model
        log(f"models: batch {batch_size}, {race_steps} alternated steps of {', '.join(names)}")
        seconds = step_race(models, memory_data(images, batch_size), race_steps)
        row = {name: {"images_per_s": round(batch_size / t, 1)} for name, t in seconds.items()}
        for name, part in (("factor_vae", "discriminator_share"), ("beta_tcvae", "tc_share")):
            if name in seconds and "beta_vae" in seconds:
                row[name][part] = round(1 - seconds["beta_vae"] / seconds[name], 3)
        out[str(batch_size)] = row
    return out


def causes_section(images, batch_size, epoch_images, rounds, race_steps):
    steps = epoch_images // batch_size
    data = memory_data(images, batch_size)
    kinds = {
        "reference": "reference",
        **{cause: (cause,) for cause in CAUSES},
        "all_of_them": CAUSES,
        "ours": "ours",
        **{f"idea: {idea}": (idea,) for idea in IDEAS},
    }
    arms = [Arm(name, make_models(kind), data, steps, batch_size) for name, kind in kinds.items()]
    log(f"causes: batch {batch_size}, {len(arms)} models, {steps} steps x {rounds} rounds")
    records = interleave(arms, rounds)
    wall, cpu = compare(records, "reference"), compare(records, "reference", "cpu")
    reference = arms[0].model
    race = {arm.name: step_race({"reference": reference, arm.name: arm.model}, data, race_steps) for arm in arms[1:]}
    out = {
        "batch_size": batch_size,
        "base": "reference",
        "note": "the reference plus one thing BetaVAE's train_step did before this benchmark; "
        "all_of_them = that train_step; ours = BetaVAE now; idea: measured, not adopted",
    }
    for name in list(kinds)[1:]:
        out[name] = {
            **wall[name],
            "ratio_cpu_time": cpu[name]["ratio"],
            "ratio_step_race": round(race[name]["reference"] / race[name][name], 3),
        }
    return out


def train_py_tensorboard():
    """The TensorBoard class bvae_tf.train wires (Keras' or bvae_tf.callbacks' own), read from
    its source rather than imported."""
    import importlib.util

    with open(importlib.util.find_spec("bvae_tf.train").origin, encoding="utf-8") as f:
        uses_ours = "bvae_callbacks.TensorBoard(" in f.read()
    return bvae_callbacks.TensorBoard if uses_ours else keras.callbacks.TensorBoard


def real_run_callbacks(root, shown, tensorboard=None):
    """The callbacks of ``python -m bvae_tf.train`` (the classes and arguments of train.py's
    ``make_callbacks``, in its order), by name, in a fresh folder each time so that
    BackupAndRestore never resumes an earlier call. Plus TensorBoard of both kinds and the
    progress bar, for the callbacks section."""
    folder = tempfile.mkdtemp(dir=root)
    log_dir = os.path.join(folder, "logs")
    tensorboard = tensorboard or train_py_tensorboard()
    return {
        "BackupAndRestore": lambda: keras.callbacks.BackupAndRestore(
            os.path.join(folder, "backup"), delete_checkpoint=False
        ),
        "NaNGuard": bvae_callbacks.NaNGuard,
        "TensorBoardImages": lambda: bvae_callbacks.TensorBoardImages(log_dir, shown),
        "EpochTimer": bvae_callbacks.EpochTimer,
        "TensorBoard": lambda: tensorboard(log_dir, write_graph=False),
        "CSVLogger": lambda: keras.callbacks.CSVLogger(os.path.join(folder, "history.csv"), append=False),
        "ModelCheckpoint": lambda: keras.callbacks.ModelCheckpoint(
            os.path.join(folder, "checkpoints", "latest.weights.h5"), save_weights_only=True
        ),
        "EpochSummary": lambda: bvae_callbacks.EpochSummary(1, print_fn=lambda line: None),
    }


def keras_logs_cost(model, data, repeats=2000):
    """Seconds per step Keras spends turning one step's logs into floats (CallbackList does it
    every step when any callback has a batch hook), for this model's logs."""
    from keras.src.utils.python_utils import pythonify_logs

    logs = model.train_function(iter(data))
    start = time.perf_counter()
    for _ in range(repeats):
        pythonify_logs(logs)
    return (time.perf_counter() - start) / repeats, len(logs)


def slowdown(step_s, extra_step_s, extra_epoch_s, steps):
    """Fractional slowdown of an epoch of ``steps`` steps from a per-step and a per-epoch cost."""
    return (extra_step_s * steps + extra_epoch_s) / (step_s * steps)


def callbacks_section(images, batch_size, epoch_images, rounds, root):
    steps = epoch_images // batch_size
    default_steps = -(-DEFAULT_EPOCH_IMAGES // batch_size)
    data = memory_data(images, batch_size)
    model = make_models("ours")
    shown = images[:64]
    sets = {name: [name] for name in CALLBACK_NAMES}
    sets["TensorBoard (keras)"] = [("TensorBoard", keras.callbacks.TensorBoard)]
    sets["TensorBoard (bvae_tf)"] = [("TensorBoard", bvae_callbacks.TensorBoard)]
    del sets["TensorBoard"]
    sets["all (as train.py wires them)"] = list(CALLBACK_NAMES)

    def factory(names):
        def make():
            made = []
            for name in names:
                name, tensorboard = name if isinstance(name, tuple) else (name, None)
                made.append(real_run_callbacks(root, shown, tensorboard)[name]())
            return made

        return make

    arms = [Arm("none", model, data, steps, batch_size)]
    arms += [Arm(name, model, data, steps, batch_size, factory(names)) for name, names in sets.items()]
    arms.append(
        Arm(
            "ProgbarLogger (verbose=1)",
            model,
            data,
            steps,
            batch_size,
            lambda: [keras.callbacks.ProgbarLogger()],
            verbose=1,
        )
    )
    log(f"callbacks: batch {batch_size}, {len(arms)} callback sets on one model, {steps} steps x {rounds} rounds")
    records = interleave(arms, rounds)
    wall = compare(records, "none")
    step_s = step_seconds(records["none"])
    logs_s, logs_count = keras_logs_cost(model, data)
    out = {
        "batch_size": batch_size,
        "base": "ours, no callbacks",
        "step_ms": round(step_s * 1e3, 2),
        "keras_logs_to_floats_us_per_step": round(logs_s * 1e6, 1),
        "logs_per_step": logs_count,
        "note": "hooks_us_per_step / epoch_hooks_s: time inside the callback's hooks, measured in place; "
        f"default_epoch_slowdown: what they add to a {DEFAULT_EPOCH_IMAGES}-image epoch "
        f"({default_steps} steps); ratio: steady images/s vs no callbacks (wall clock, noisy)",
    }
    for arm in arms[1:]:
        recs = records[arm.name]
        per_step = median(recs, "hooks_step_s") / recs[0]["steps"]
        per_epoch = median(recs, "hooks_epoch_s")
        out[arm.name] = {
            "hooks_us_per_step": round(per_step * 1e6, 1),
            "epoch_hooks_s": round(per_epoch, 3),
            "default_epoch_slowdown": round(slowdown(step_s, per_step, per_epoch, default_steps), 4),
            "ratio": wall[arm.name]["ratio"],
            "ratio_range": wall[arm.name]["ratio_range"],
        }
    return out


CALLBACK_NAMES = (
    "BackupAndRestore",
    "NaNGuard",
    "TensorBoardImages",
    "EpochTimer",
    "TensorBoard",
    "CSVLogger",
    "ModelCheckpoint",
    "EpochSummary",
)


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


def real_epoch_section(batch_size, train_images, val_images, rounds, root, verbose=1):
    """A real epoch (TFRecords through prepare + make_dataset as in train.py, every callback,
    the progress bar, validation timed apart) vs the same model alone on in-memory data. When
    train.py still wires keras.callbacks.TensorBoard, a second real arm has bvae_tf's instead."""
    data_dir = os.path.join(root, "data")
    prepare(data_dir, render_source(), subset=train_images, val_size=val_images, seed=0, progress=False)

    def sized(split, count, shuffle):
        dataset = make_dataset(data_dir, split, batch_size, shuffle=shuffle, seed=0)
        return dataset.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))

    train_data, val_data = sized("train", train_images, True), sized("validation", val_images, False)
    shown = next(iter(make_dataset(data_dir, "validation", 64, shuffle=False))).numpy()
    model = make_models("ours")
    steps = train_images // batch_size

    def everything(tensorboard):
        def make():
            made = [make() for make in real_run_callbacks(root, shown, tensorboard).values()]
            return made + ([keras.callbacks.ProgbarLogger()] if verbose else [])

        return make

    wired = train_py_tensorboard()
    variants = {f"real epoch (train.py: {wired.__module__.split('.')[0]} TensorBoard)": wired}
    if wired is not bvae_callbacks.TensorBoard:
        variants["real epoch (bvae_tf TensorBoard)"] = bvae_callbacks.TensorBoard
    arms = [Arm("model alone", model, memory_data(render(train_images, seed=1), batch_size), steps, batch_size)]
    arms += [
        Arm(name, model, train_data, None, batch_size, everything(tensorboard), validation=val_data, verbose=verbose)
        for name, tensorboard in variants.items()
    ]
    log(
        f"real epoch: batch {batch_size}, {train_images} TFRecord images + {val_images} validation, "
        f"{len(arms)} arms x {rounds} rounds"
    )
    records = interleave(arms, rounds)
    total, steady = compare(records, "model alone", "total"), compare(records, "model alone", "steady")
    alone = records["model alone"]
    pipeline, pipeline_cpu = pipeline_rate(data_dir, batch_size)
    # A default epoch: the same steady steps and epoch-end work; its first step also fills the
    # 10,000-record shuffle buffer (only train_images of them here), at the pipeline's speed.
    n = -(-DEFAULT_EPOCH_IMAGES // batch_size)
    fill = (min(10_000, DEFAULT_EPOCH_IMAGES) - min(10_000, train_images)) / pipeline

    def default_epoch_s(recs, extra):
        return median(recs, "start_s") + extra + step_seconds(recs) * (n - 1) + median(recs, "epoch_end_s")

    out = {
        "batch_size": batch_size,
        "train_images": train_images,
        "model_alone_images_per_s": total["model alone"]["images_per_s"],
        "model_alone_first_step_s": round(median(alone, "start_s"), 3),
        "pipeline_only_images_per_s": round(pipeline, 1),
        "pipeline_cpu_us_per_image": round(pipeline_cpu * 1e6, 1),
        "note": "ratio: images/s of a real epoch (validation excluded) / the model alone; steady_ratio: the "
        f"steps after the first; default_epoch_ratio: the same for a {DEFAULT_EPOCH_IMAGES}-image "
        "epoch, from the measured steady steps, first step and epoch-end seconds (wall clock, noisy "
        "on a loaded machine); default_epoch_ratio_from_parts: from the time inside the callbacks' "
        "hooks, the pipeline's CPU time shared over the cores, and the per-epoch seconds, against "
        "the fastest model-alone step",
    }
    # The same from measured parts, robust to a loaded machine: time inside the callbacks' hooks
    # (measured in place), the input pipeline's CPU time (taken from the 2 cores training uses),
    # the extra first-step time, against the fastest model-alone epoch's step time.
    base_step = min(r["steady_s"] / r["steady_steps"] for r in alone)
    pipeline_step = pipeline_cpu * batch_size / (os.cpu_count() or 1)
    for name in variants:
        real = records[name]
        hooks_step = median(real, "hooks_step_s") / real[0]["steps"]
        fixed = median(real, "hooks_epoch_s") + max(0.0, median(real, "start_s") - median(alone, "start_s")) + fill
        out[name] = {
            "images_per_s": total[name]["images_per_s"],
            "ratio": total[name]["ratio"],
            "ratio_range": total[name]["ratio_range"],
            "steady_ratio": steady[name]["ratio"],
            "first_step_s": round(median(real, "start_s"), 3),
            "epoch_end_s": round(median(real, "epoch_end_s"), 3),
            "validation_s": round(median(real, "val_s"), 3),
            "default_epoch_ratio": round(default_epoch_s(alone, 0.0) / default_epoch_s(real, fill), 3),
            "parts": {
                "hooks_us_per_step": round(hooks_step * 1e6, 1),
                "pipeline_us_per_step": round(pipeline_step * 1e6, 1),
                "per_epoch_s": round(fixed, 3),
                "model_step_ms": round(base_step * 1e3, 2),
            },
            "default_epoch_ratio_from_parts": round(
                base_step * n / (base_step * n + (hooks_step + pipeline_step) * n + fixed), 3
            ),
        }
    return out


def flops_section():
    model = BetaVAE(latent_dim=10)
    model.build((None, *IMAGE_SHAPE))
    forward = layer_flops(model)
    return forward, {
        "forward_mflop_per_image": sum(forward) / 1e6,
        "profiler_forward_mflop_per_image": profiler_forward_flops(model) / 1e6,
        "train_mflop_per_image": training_flops(forward) / 1e6,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64], help="main section (default 32 64)")
    parser.add_argument("--images", type=int, default=1024, help="images per timed epoch, main (default 1024)")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per model, main (default 5)")
    parser.add_argument(
        "--race-steps",
        type=int,
        default=100,
        help="alternated steps per model, main; half of it per pair in causes (default 100)",
    )
    parser.add_argument("--cause-batch-size", type=int, default=32, help="causes and callbacks (default 32)")
    parser.add_argument(
        "--cause-images", type=int, default=512, help="images per epoch, causes and callbacks (default 512)"
    )
    parser.add_argument("--cause-rounds", type=int, default=2, help="timed epochs per arm, causes and callbacks")
    parser.add_argument("--real-images", type=int, default=2048, help="TFRecord training images, real epoch")
    parser.add_argument("--real-val-images", type=int, default=512, help="TFRecord validation images, real epoch")
    parser.add_argument("--real-rounds", type=int, default=2, help="timed epochs per arm, real epoch (default 2)")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=("causes", "callbacks", "real_epoch", "gpu_throughput", "gpu_loss_check", "gpu_options"),
        help="sections to leave out",
    )
    parser.add_argument(
        "--model",
        nargs="+",
        dest="models",
        metavar="NAME",
        help="instead: images/s of these models of the zoo (or all) at --batch-sizes, with the "
        "discriminator's and the TC term's share of a step",
    )
    parser.add_argument("--gpu-suite", action="store_true", help="the GPU suite of tools/bench_gpu.sh instead")
    parser.add_argument("--allow-cpu", action="store_true", help="with --gpu-suite: run it without a GPU (a test)")
    parser.add_argument("--gpu-images", type=int, default=16384, help="with --gpu-suite: images per epoch")
    parser.add_argument("--gpu-batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--budget-s", type=float, default=230, help="with --gpu-suite: stop starting work after")
    args = parser.parse_args(argv)
    if args.gpu_suite:
        return gpu_suite(args)
    if args.models:
        names = list(MODELS) if args.models == ["all"] else args.models
        unknown = [name for name in names if name not in MODELS]
        if unknown:
            parser.error(f"--model: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)} or all")
        result = {
            "load_average_1min": os.getloadavg()[0],
            "models": models_section(render(args.images), args.batch_sizes, args.race_steps, names),
        }
        print(json.dumps(result, indent=2))
        return 0

    started = time.perf_counter()
    forward, flops = flops_section()
    train_flops = training_flops(forward)
    peak = peak_flops()
    images = render(max(args.images, args.cause_images))
    result = {
        "device": "gpu" if tf.config.list_physical_devices("GPU") else "cpu",
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "flops": {**flops, "peak_gflops_matmul_f32": round(peak / 1e9, 1)},
        "main": main_section(images, args.batch_sizes, args.images, args.rounds, args.race_steps),
    }
    with tempfile.TemporaryDirectory() as root:
        if "causes" not in args.skip:
            result["causes"] = causes_section(
                images, args.cause_batch_size, args.cause_images, args.cause_rounds, max(args.race_steps // 2, 5)
            )
        if "callbacks" not in args.skip:
            result["callbacks"] = callbacks_section(
                images, args.cause_batch_size, args.cause_images, args.cause_rounds, root
            )
        if "real_epoch" not in args.skip:
            result["real_epoch"] = real_epoch_section(
                args.cause_batch_size, args.real_images, args.real_val_images, args.real_rounds, root
            )
    peak_end = peak_flops()
    result["flops"]["peak_gflops_matmul_f32_at_end"] = round(peak_end / 1e9, 1)
    # The machine's peak is the better of the two measurements (others' load only lowers it).
    peak = max(peak, peak_end)
    result["flops"]["physical_limit_images_per_s"] = round(peak / train_flops, 1)
    for row in result["main"].values():
        row["fraction_of_peak"] = round(row["ours_images_per_s"] * train_flops / peak, 3)
    result["load_average_1min_at_end"] = os.getloadavg()[0]
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


# ----------------------------------------------------------------------------------------------
# The GPU suite (tools/bench_gpu.sh)

LOSS_STEPS = 300  # Adam steps at batch 64, from the same seed and data, for both precisions
LOSS_WINDOW = 100  # compared: the mean training loss of the last LOSS_WINDOW steps
LOSS_TOLERANCE = 0.02  # relative; two float32 seeds differ by ~0.1 % there, float32 vs mixed on CPU by ~0.3 %


def precision_model(precision, seed=0, beta=4.0, **compile_kwargs):
    """A compiled BetaVAE under a dtype policy, built as train.py builds it; the policy is restored."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(seed)
        model = BetaVAE(latent_dim=10, beta=beta, seed=seed)
        model.build((None, *IMAGE_SHAPE))
        model.compile(keras.optimizers.Adam(1e-3), **compile_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def gpu_suite(args):
    started = time.perf_counter()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.allow_cpu:
        listed = os.environ.get("BENCH_GPU_NVIDIA_SMI", "").strip()
        note = "no GPU found: TensorFlow lists no GPU device; nothing was measured"
        if listed:
            note += f" (nvidia-smi lists: {listed}; is this TensorFlow built with CUDA?)"
        print(json.dumps({"gpu": None, "note": note}))
        return 0
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: keep TensorFlow's default
            pass
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}

    def over_budget():
        return time.perf_counter() - started > args.budget_s

    result = {
        "gpu": details.get("device_name", "none (--allow-cpu)"),
        "gpu_count": len(gpus),
        "compute_capability": details.get("compute_capability"),
        "cpu_count": os.cpu_count(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "note": "images/s: steady steps of one epoch (median of 2, after a warm-up epoch); model alone = "
        "in-memory images; tfrecord = prepare + make_dataset as train.py; pipeline_only = make_dataset "
        "alone; keeps_up: pipeline_only >= 1.05 x the model alone at mixed_float16",
        "train_images_per_s": {},
        "pipeline_only_images_per_s": {},
        "skipped": [],
    }
    images = render(args.gpu_images)
    with tempfile.TemporaryDirectory() as root:
        data_dir = os.path.join(root, "data")
        prepare(data_dir, render_source(), subset=args.gpu_images, val_size=0, seed=0, progress=False)
        for batch_size in args.gpu_batch_sizes:
            result["pipeline_only_images_per_s"][str(batch_size)] = round(pipeline_rate(data_dir, batch_size)[0], 1)
        for precision in () if "gpu_throughput" in args.skip else ("float32", "mixed_float16"):
            table = result["train_images_per_s"].setdefault(precision, {})
            for batch_size in args.gpu_batch_sizes:
                if over_budget():
                    result["skipped"].append(f"{precision} batch {batch_size}")
                    continue
                log(f"gpu: {precision} batch {batch_size}")
                model = precision_model(precision)
                steps = args.gpu_images // batch_size
                tfrecord = make_dataset(data_dir, "train", batch_size, shuffle=True, seed=0)
                tfrecord = tfrecord.apply(tf.data.experimental.assert_cardinality(steps))
                arms = [
                    Arm("model alone", model, memory_data(images, batch_size), steps, batch_size),
                    Arm("tfrecord", model, tfrecord, None, batch_size),
                ]
                wall = compare(interleave(arms, 2), "model alone")
                table[str(batch_size)] = {
                    "model_alone": wall["model alone"]["images_per_s"],
                    "tfrecord": wall["tfrecord"]["images_per_s"],
                }
        mixed = result["train_images_per_s"].get("mixed_float16", {})
        result["pipeline_keeps_up"] = {
            size: result["pipeline_only_images_per_s"][size] >= 1.05 * rates["model_alone"]
            for size, rates in mixed.items()
        }

        losses = {}
        for precision in () if "gpu_loss_check" in args.skip else ("float32", "mixed_float16"):
            if over_budget():
                result["skipped"].append(f"loss check {precision}")
                continue
            log(f"gpu: loss after {LOSS_STEPS} steps, {precision}")
            model = precision_model(precision)
            history = model.fit(
                memory_data(images, 64),
                epochs=LOSS_STEPS // LOSS_WINDOW,
                steps_per_epoch=LOSS_WINDOW,
                verbose=0,
                shuffle=False,
            ).history
            evaluation = model.evaluate(images[:2048], batch_size=256, verbose=0, return_dict=True)
            losses[precision] = {
                f"train_loss_last_{LOSS_WINDOW}_steps": round(history["loss"][-1], 3),
                "eval_loss_2048_images": round(evaluation["loss"], 3),
                "optimizer_steps_applied": int(model.optimizer.iterations.numpy()),  # mixed: skipped on overflow
            }
        check = {
            "steps": LOSS_STEPS,
            "batch_size": 64,
            "seed": 0,
            "beta": 4.0,
            "relative_tolerance": LOSS_TOLERANCE,
            **losses,
        }
        if len(losses) == 2:
            key = f"train_loss_last_{LOSS_WINDOW}_steps"
            a, b = (losses[p][key] for p in ("float32", "mixed_float16"))
            check["relative_difference"] = round(abs(a - b) / abs(a), 4)
            check["agree"] = check["relative_difference"] <= LOSS_TOLERANCE
        result["loss_check"] = check

        options = {}
        size = args.gpu_batch_sizes[len(args.gpu_batch_sizes) // 2]  # 256 by default
        # compile()'s default jit_compile="auto" is XLA on a GPU (off on CPU and under a strategy):
        # "plain" is what train.py gets; measure turning XLA off, and 16 steps per execution.
        result["jit_compile_auto_resolves_to"] = precision_model("float32").jit_compile
        for name, kwargs in (
            ()
            if "gpu_options" in args.skip
            else (
                ("steps_per_execution=16", {"steps_per_execution": 16}),
                ("jit_compile=False", {"jit_compile": False}),
            )
        ):
            if over_budget():
                result["skipped"].append(f"mixed_float16 batch {size} {name}")
                continue
            log(f"gpu: mixed_float16 batch {size}, {name}")
            try:
                data = memory_data(images, size)
                arms = [
                    Arm("plain", precision_model("mixed_float16"), data, 64, size),
                    Arm(name, precision_model("mixed_float16", **kwargs), data, 64, size),
                ]
                wall = compare(interleave(arms, 2), "plain")
                options[name] = {"images_per_s": wall[name]["images_per_s"], "ratio_to_plain": wall[name]["ratio"]}
            except Exception as error:  # report, do not lose the rest of the suite
                options[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
        result[f"compile_options_mixed_float16_batch_{size}"] = options
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
