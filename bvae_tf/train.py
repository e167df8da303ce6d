"""Train a β-VAE on dSprites: ``python -m bvae_tf.train --beta 5``.

Defaults are the report's: z=10, Adam 1e-3, batch 32, 10 epochs, a seeded subset of 50,000
images plus 5,000 held out, seed 0, the embedded renderer. One run writes ``runs/<name>/``
(config.json, history.csv, logs/train, logs/validation, checkpoints/, backup/) and the
SavedModel ``saved_models/<name>/``. ``train(config)`` is the same in-process, for sweeps.
"""

import argparse
import json
import os
import shutil
import sys

import keras
import pandas as pd
import tensorflow as tf

import bvae_tf
from bvae_tf import callbacks as bvae_callbacks
from bvae_tf.data import add_data_arguments, make_dataset, prepare_from_args, read_manifest
from bvae_tf.errors import UserError, run_cli
from bvae_tf.export import export_model
from bvae_tf.files import write_json
from bvae_tf.model import ACTIVE_KL_NATS, IMAGE_SHAPE, BetaVAE

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")
# Settings that may change when a run is resumed; any other difference is an error.
RESUMABLE_CHANGES = {"epochs", "resume", "overwrite", "verbose"}


def add_training_arguments(parser):
    """The model, optimisation and data flags (shared with ``bvae_tf.sweep``)."""
    group = parser.add_argument_group("training")
    group.add_argument("--beta", type=float, default=1.0, help="weight of the KL term; 1 = plain VAE (default 1)")
    group.add_argument("--latent-dim", type=int, default=10, help="latent dimensions z (default 10)")
    group.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    group.add_argument("--batch-size", type=int, default=32, help="global batch size (default 32)")
    group.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    group.add_argument("--seed", type=int, default=0, help="seed of weights, sampling and shuffling (default 0)")
    group.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="dtype policy; auto = mixed_float16 on a GPU, float32 on CPU (default auto)")
    group.add_argument("--strategy", choices=STRATEGIES, default="default",
                       help="tf.distribute strategy (default: none, one device)")
    add_data_arguments(parser)
    return group


def add_output_arguments(parser):
    """Where a run goes, and what to do when it is already there."""
    group = parser.add_argument_group("output")
    group.add_argument("--name", default=None, help="run name (default beta<β>_seed<seed>)")
    group.add_argument("--runs-dir", default="runs", help="parent of the run folder (default runs)")
    group.add_argument("--saved-models-dir", default="saved_models",
                       help="parent of the exported SavedModel (default saved_models)")
    group.add_argument("--resume", action="store_true",
                       help="continue the run in the run folder from its last finished epoch")
    group.add_argument("--overwrite", action="store_true", help="delete an existing run of the same name first")
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="Keras progress: 0 silent, 1 bar, 2 one line per epoch (default 1)")
    return group


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m bvae_tf.train", description="Train a β-VAE on dSprites; write a run folder and a SavedModel."
    )
    add_training_arguments(parser)
    add_output_arguments(parser)
    return parser


def resolve_config(config=None, **overrides):
    """A complete argparse.Namespace from a Namespace, a dict or keywords; missing = defaults."""
    settings = vars(build_parser().parse_args([]))
    given = dict(vars(config) if isinstance(config, argparse.Namespace) else (config or {}), **overrides)
    unknown = sorted(set(given) - set(settings))
    if unknown:
        raise UserError(f"unknown training settings: {', '.join(unknown)}")
    settings.update(given)
    if isinstance(settings["source"], str):
        settings["source"] = settings["source"].split()
    return argparse.Namespace(**settings)


def run_name(config):
    return config.name or f"beta{config.beta:g}_seed{config.seed}"


def check_config(config):
    """Raise UserError for a bad setting, before anything is written. Returns (run_dir, export_dir)."""
    if not config.beta >= 0:
        raise UserError(f"--beta must be >= 0, got {config.beta}")
    for flag in ("latent_dim", "batch_size", "epochs", "learning_rate"):
        value = getattr(config, flag)
        if not value > 0:
            raise UserError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    if config.precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    if config.strategy not in STRATEGIES:
        raise UserError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {config.strategy!r}")
    if config.resume and config.overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    name = run_name(config)
    if not name or os.sep in name or name in (".", ".."):
        raise UserError(f"--name must be a plain folder name, got {name!r}")
    run_dir = os.path.join(config.runs_dir, name)
    export_dir = os.path.join(config.saved_models_dir, name)
    if config.overwrite:
        return run_dir, export_dir
    config_path = os.path.join(run_dir, "config.json")
    if config.resume:  # with nothing to resume, a new run starts: the same command serves both
        saved = {}
        if os.path.isfile(config_path):
            with open(config_path) as f:
                saved = json.load(f)["settings"]
        for key, value in sorted(vars(config).items()):
            if key not in RESUMABLE_CHANGES and key in saved and saved[key] != value:
                raise UserError(
                    f"--{key.replace('_', '-')} is {value!r} but the run in {run_dir} used {saved[key]!r}; "
                    "resume with the same settings or choose another --name"
                )
    elif os.path.isdir(run_dir) and os.listdir(run_dir):
        raise UserError(f"--runs-dir: {run_dir} holds another run; pass --resume to continue it or --overwrite")
    elif os.path.exists(export_dir):
        raise UserError(f"--saved-models-dir: {export_dir} exists; pass --overwrite to replace it")
    return run_dir, export_dir


def resolve_precision(precision):
    if precision == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return precision


def make_strategy(name):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def sized(dataset, count, batch_size):
    """Tell Keras how many batches an epoch has: a progress bar with a total, and no
    "input ran out of data" warning."""
    return dataset.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))


def data_summary(folder, manifest):
    keys = ("source", "subset", "val_size", "seed", "counts")
    return {"folder": os.path.abspath(folder), **{key: manifest.get(key) for key in keys}}


def versions():
    return {"bvae_tf": bvae_tf.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}


def train(config=None, callbacks=(), **overrides):
    """Train one β-VAE, export it, and return what a caller (a CLI, a sweep) needs.

    ``config``: an argparse.Namespace or a dict of the CLI settings (flag names with
    underscores); missing ones take the defaults, ``overrides`` win. ``callbacks`` are added
    after ours (e.g. a keras-tuner callback). Returns a dict: ``name``, ``run_dir``,
    ``saved_model``, ``config_path``, ``history_path``, ``log_dir``, ``checkpoint``,
    ``final`` (the last good epoch's metrics), ``history`` (metric -> list over all epochs, resumed
    ones included), ``active_latents`` (indices), ``nan_epoch`` (None unless stopped on NaN)
    and ``model`` (the trained BetaVAE). The global Keras dtype policy is left as it was.
    """
    config = resolve_config(config, **overrides)
    run_dir, export_dir = check_config(config)
    data_dir = prepare_from_args(config, progress=config.verbose > 0)
    manifest = read_manifest(data_dir, verify=False)
    if config.overwrite:
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(export_dir, ignore_errors=True)
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    precision = resolve_precision(config.precision)
    paths = {
        "config_path": os.path.join(run_dir, "config.json"),
        "history_path": os.path.join(run_dir, "history.csv"),
        "log_dir": os.path.join(run_dir, "logs"),
        "checkpoint": os.path.join(run_dir, "checkpoints", "latest.weights.h5"),
    }
    write_json(paths["config_path"], {
        "settings": vars(config),
        "name": run_name(config),
        "precision_used": precision,
        "versions": versions(),
        "data": data_summary(data_dir, manifest),
        "saved_model": os.path.abspath(export_dir),
    })

    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        strategy = make_strategy(config.strategy)
        with strategy.scope():
            model = BetaVAE(config.latent_dim, config.beta, seed=config.seed,
                            rank1_logs=config.strategy == "multi_worker")
            model.build((None, *IMAGE_SHAPE))
            model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    finally:
        keras.config.set_dtype_policy(previous_policy)

    counts = manifest["counts"]
    has_validation = counts.get("validation", 0) > 0
    train_data = sized(make_dataset(data_dir, "train", config.batch_size, shuffle=True, seed=config.seed),
                       counts["train"], config.batch_size)
    val_data = None
    if has_validation:
        val_data = sized(make_dataset(data_dir, "validation", config.batch_size, shuffle=False),
                         counts["validation"], config.batch_size)
    shown = next(iter(make_dataset(data_dir, "validation" if has_validation else "train", 64, shuffle=False)))
    nan_guard = bvae_callbacks.NaNGuard()
    fit_callbacks = [
        *([bvae_callbacks.SqueezeLogs()] if model.rank1_logs else []),
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup"), delete_checkpoint=False),
        nan_guard,
        bvae_callbacks.TensorBoardImages(paths["log_dir"], shown.numpy()),
        keras.callbacks.TensorBoard(paths["log_dir"], write_graph=False),
        keras.callbacks.CSVLogger(paths["history_path"], append=config.resume),
        keras.callbacks.ModelCheckpoint(paths["checkpoint"], save_weights_only=True),
        bvae_callbacks.EpochSummary(config.epochs),
        *callbacks,
    ]
    model.fit(train_data, epochs=config.epochs, validation_data=val_data, shuffle=False,
              callbacks=fit_callbacks, verbose=config.verbose)

    history = pd.read_csv(paths["history_path"]) if os.path.isfile(paths["history_path"]) else pd.DataFrame()
    good = history[:-1] if nan_guard.nan_epoch else history  # the model holds the last good epoch's weights
    final = good.iloc[-1].to_dict() if len(good) else {}
    prefix = "val_" if has_validation else ""
    active = [i for i in range(config.latent_dim) if final.get(f"{prefix}kl_{i}", 0.0) > ACTIVE_KL_NATS]
    card = {
        "name": run_name(config),
        "model": "BetaVAE (Higgins et al. 2017), Bernoulli decoder, conv encoder 4x4 kernels",
        "beta": config.beta,
        "latent_dim": config.latent_dim,
        "data": data_summary(data_dir, manifest),
        "training": {key: getattr(config, key) for key in
                     ("learning_rate", "batch_size", "epochs", "seed", "precision", "strategy")},
        "precision_used": precision,
        "epochs_completed": len(good),
        "stopped_on_nan_in_epoch": nan_guard.nan_epoch,
        "final": {key: value for key, value in final.items() if not key.startswith(("kl_", "val_kl_"))},
        "kl_per_latent": [final.get(f"{prefix}kl_{i}") for i in range(config.latent_dim)],
        "active_latents": active,
        "versions": versions(),
    }
    export_model(model, export_dir, card)
    return {
        "name": run_name(config),
        "run_dir": run_dir,
        "saved_model": export_dir,
        **paths,
        "final": final,
        "history": history.to_dict(orient="list"),
        "active_latents": active,
        "nan_epoch": nan_guard.nan_epoch,
        "model": model,
    }


def main(argv=None):
    result = train(build_parser().parse_args(argv))
    print(f"run folder: {result['run_dir']}\nSavedModel: {result['saved_model']}")
    return 1 if result["nan_epoch"] else 0


if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:]))
