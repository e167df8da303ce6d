"""Benchmark β-VAE training on the CPU against a hand-written Keras reference of the same net; prints JSON.

Sections of the output (all measured in one process by :mod:`tools.bench.timing`):

``main``        our ``BetaVAE`` vs ``ReferenceVAE`` at each batch size: images/s of both, their
                ratio (median of within-round ratios, its range, from CPU time, and from a step
                race), and the fraction of the matmul peak.
``callbacks``   our model with ONE callback of a real run (as ``bvae_tf.train`` wires them): time
                inside its hooks per step and per epoch, the slowdown that makes for a default
                50,000-image epoch, and the wall-clock ratio vs no callbacks.
``real_epoch``  real epochs: ``prepare`` + ``make_dataset`` TFRecords (as train.py), every
                callback, the progress bar, validation (timed apart) vs the model alone on
                in-memory data; projected to a default epoch; the input pipeline alone.
``flops``       training FLOPs per image and the float32 matmul peak at the start and the end.

    python -m tools.bench.train [--batch-sizes 32 64] [--images 1024] [--rounds 5]
                                [--skip callbacks real_epoch]     # a few minutes on 2 cores
    python -m tools.bench.train --model all    # images/s of each model of the zoo instead
    python -m tools.bench.train --datasets dsprites_full color_dsprites noisy_dsprites
                                               # training images/s on each dataset instead
"""

import argparse
import json
import os
import sys
import tempfile
import time

import keras
import tensorflow as tf

from bvae_tf import callbacks as bvae_callbacks
from bvae_tf.config import MODELS, TrainConfig
from bvae_tf.data import make_dataset, prepare, prepare_dataset
from bvae_tf.data.ground_truth import dataset_class
from bvae_tf.data.sources import render_source
from bvae_tf.zoo import make_model as make_zoo_model
from tools.bench.flops import flops_section, peak_flops, training_flops
from tools.bench.reference_model import make_model
from tools.bench.timing import (
    Arm,
    compare,
    interleave,
    log,
    median,
    memory_data,
    pipeline_rate,
    render,
    step_race,
    step_seconds,
)

DEFAULT_EPOCH_IMAGES = 50_000  # a default `python -m bvae_tf.train` epoch (--subset 50000)


def main_section(images, batch_sizes, epoch_images, rounds, race_steps):
    """Our BetaVAE against the reference at each batch size: images/s of both and their ratios."""
    out = {}
    for batch_size in batch_sizes:
        steps = epoch_images // batch_size
        data = memory_data(images, batch_size)
        arms = [Arm(kind, make_model(kind), data, steps, batch_size) for kind in ("reference", "ours")]
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


def datasets_section(names, batch_size, images, rounds, root):
    """images/s of β-VAE training epochs read from each dataset's TFRecords as train.py reads them
    (a stochastic variant's colour, noise or background drawn on the fly; the model's input and
    output channels the dataset's), taking turns, and each one's ratio to the first."""
    arms = []
    for name in names:
        folder = os.path.join(root, name)
        prepare_dataset(folder, name, subset=images, val_size=0, shard_size=1000, progress=False)
        data = make_dataset(folder, "train", batch_size, shuffle=True, seed=0, drop_remainder=True, epochs=(0, 10**6))
        keras.utils.set_random_seed(0)
        model = make_zoo_model("beta_vae", 10, seed=0, channels=dataset_class(name).channels)
        model.build()
        model.compile(keras.optimizers.Adam(1e-3))
        arms.append(Arm(name, model, data, images // batch_size, batch_size))
    log(f"datasets: batch {batch_size}, {images // batch_size} steps x {rounds} rounds of {', '.join(names)}")
    wall = compare(interleave(arms, rounds), names[0])
    return {name: {key: wall[name][key] for key in ("images_per_s", "ratio", "ratio_range")} for name in names}


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
            model = make_zoo_model(name, 10, seed=0, **hyperparameters)
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


def real_run_callbacks(root, shown):
    """The callbacks of ``python -m bvae_tf.train`` (the classes and arguments of train.py's
    ``make_callbacks``, in its order), by name, in a fresh folder each time so that
    BackupAndRestore never resumes an earlier call."""
    folder = tempfile.mkdtemp(dir=root)
    log_dir = os.path.join(folder, "logs")
    return {
        "BackupAndRestore": lambda: keras.callbacks.BackupAndRestore(
            os.path.join(folder, "backup"), delete_checkpoint=False
        ),
        "NaNGuard": bvae_callbacks.NaNGuard,
        "TensorBoardImages": lambda: bvae_callbacks.TensorBoardImages(log_dir, shown),
        "EpochTimer": bvae_callbacks.EpochTimer,
        "TensorBoard": lambda: bvae_callbacks.TensorBoard(log_dir, write_graph=False),
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
    """Our model with ONE callback of a real run at a time (and all of them, and the progress bar):
    time inside its hooks per step and per epoch, and what that adds to a default epoch."""
    steps = epoch_images // batch_size
    default_steps = -(-DEFAULT_EPOCH_IMAGES // batch_size)
    data = memory_data(images, batch_size)
    model = make_model("ours")
    shown = images[:64]
    sets = {name: [name] for name in CALLBACK_NAMES}
    sets["all (as train.py wires them)"] = list(CALLBACK_NAMES)

    def factory(names):
        def make():
            made = real_run_callbacks(root, shown)
            return [made[name]() for name in names]

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


def real_epoch_section(batch_size, train_images, val_images, rounds, root, verbose=1):
    """A real epoch (TFRecords through prepare + make_dataset as in train.py, every callback,
    the progress bar, validation timed apart) vs the same model alone on in-memory data."""
    data_dir = os.path.join(root, "data")
    prepare(data_dir, render_source(), subset=train_images, val_size=val_images, seed=0, progress=False)

    def sized(split, count, shuffle):
        dataset = make_dataset(data_dir, split, batch_size, shuffle=shuffle, seed=0)
        return dataset.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))

    train_data, val_data = sized("train", train_images, True), sized("validation", val_images, False)
    shown = next(iter(make_dataset(data_dir, "validation", 64, shuffle=False))).numpy()
    model = make_model("ours")
    steps = train_images // batch_size

    def everything():
        made = [make() for make in real_run_callbacks(root, shown).values()]
        return made + ([keras.callbacks.ProgbarLogger()] if verbose else [])

    arms = [
        Arm("model alone", model, memory_data(render(train_images, seed=1), batch_size), steps, batch_size),
        Arm("real epoch", model, train_data, None, batch_size, everything, validation=val_data, verbose=verbose),
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
    name, real = "real epoch", records["real epoch"]
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench.train", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64], help="main section (default 32 64)")
    parser.add_argument("--images", type=int, default=1024, help="images per timed epoch, main (default 1024)")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per model, main (default 5)")
    parser.add_argument(
        "--race-steps",
        type=int,
        default=100,
        help="alternated steps per model, main (default 100)",
    )
    parser.add_argument("--cause-batch-size", type=int, default=32, help="callbacks and real epoch (default 32)")
    parser.add_argument("--cause-images", type=int, default=512, help="images per epoch, callbacks (default 512)")
    parser.add_argument("--cause-rounds", type=int, default=2, help="timed epochs per arm, callbacks")
    parser.add_argument("--real-images", type=int, default=2048, help="TFRecord training images, real epoch")
    parser.add_argument("--real-val-images", type=int, default=512, help="TFRecord validation images, real epoch")
    parser.add_argument("--real-rounds", type=int, default=2, help="timed epochs per arm, real epoch (default 2)")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=("callbacks", "real_epoch"),
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
    parser.add_argument(
        "--datasets",
        nargs="+",
        metavar="NAME",
        help="instead: training images/s on these datasets (TFRecords, as train.py reads them), ratios to the first",
    )
    args = parser.parse_args(argv)
    if args.datasets:
        with tempfile.TemporaryDirectory() as root:
            section = datasets_section(args.datasets, args.batch_sizes[0], args.real_images, args.real_rounds, root)
        print(json.dumps({"load_average_1min": os.getloadavg()[0], "datasets": section}, indent=2))
        return 0
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


if __name__ == "__main__":
    sys.exit(main())
