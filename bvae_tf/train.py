"""Train a β-VAE, or another model of the zoo, on dSprites: ``python -m bvae_tf.train --beta 5``,
``python -m bvae_tf.train --model factor_vae --gamma 30``.

Defaults are the report's: z=10, Adam 1e-3, batch 32, 10 epochs, a seeded subset of 50,000
images plus 5,000 held out, seed 0, the embedded renderer. One run writes ``runs/<name>/``
(config.json, history.csv, logs/train, logs/validation, checkpoints/, backup/) and the
SavedModel ``saved_models/<name>/``. ``train(config)`` is the same in-process, for sweeps.
"""

import dataclasses
import functools
import json
import os
import shlex
import shutil
import sys
from typing import Optional

import keras
import pandas as pd
import tensorflow as tf

import bvae_tf
from bvae_tf import callbacks as bvae_callbacks
from bvae_tf.config import CONFIG_VERSION, JIT_COMPILE, PRECISIONS, STRATEGIES, TrainConfig, flag_name
from bvae_tf.data import add_data_arguments, make_dataset, prepare_data, read_manifest
from bvae_tf.data.ground_truth import dataset_class
from bvae_tf.errors import ArgumentParser, UserError, run_cli
from bvae_tf.export import export_model
from bvae_tf.files import check_writable_folder, write_json
from bvae_tf.history import read_history
from bvae_tf.layout import RunFolder
from bvae_tf.locks import LOCK_FILE, folder_lock
from bvae_tf.model import ACTIVE_KL_NATS, IMAGE_SHAPE, VAE
from bvae_tf.model_registry import MODELS, hyperparameter_names
from bvae_tf.zoo import make_model


def add_model_arguments(parser):
    """--model and one flag per hyperparameter of the registered models (bvae_tf.model_registry),
    its help saying which models take it and their defaults; a flag left unset takes the model's default."""
    group = parser.add_argument_group("model (unset hyperparameters take the model's default)")
    group.add_argument(
        "--model",
        choices=list(MODELS),
        default=TrainConfig.model,
        help="the objective: " + "; ".join(f"{spec.name}: {spec.title}, {spec.loss}" for spec in MODELS.values()),
    )
    for name in hyperparameter_names():
        uses = [(spec, h) for spec in MODELS.values() for h in spec.hyperparameters if h.name == name]
        group.add_argument(
            flag_name(name),
            type=int if all(h.integer for _, h in uses) else float,
            help="; ".join(f"{spec.name}: {h.help} (default {h.describe_default()})" for spec, h in uses),
        )
    return group


def add_training_arguments(parser):
    """The optimisation and data flags (shared with ``bvae_tf.sweep``); defaults are TrainConfig's."""
    default = TrainConfig()
    group = parser.add_argument_group("training")
    group.add_argument("--latent-dim", type=int, default=default.latent_dim, help="latent dimensions z")
    group.add_argument("--learning-rate", type=float, default=default.learning_rate, help="Adam learning rate")
    group.add_argument("--batch-size", type=int, default=default.batch_size, help="global batch size")
    group.add_argument("--epochs", type=int, default=default.epochs, help="training epochs")
    group.add_argument("--seed", type=int, default=default.seed, help="seed of weights, sampling and shuffling")
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=default.precision,
        help="dtype policy; auto = mixed_float16 on a GPU, float32 on CPU",
    )
    group.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=default.strategy,
        help="tf.distribute strategy; default: TensorFlow's default, one device",
    )
    group.add_argument(
        "--steps-per-execution",
        type=int,
        default=default.steps_per_execution,
        help="training steps per call into TensorFlow; more often pays on a GPU",
    )
    group.add_argument(
        "--jit-compile",
        choices=JIT_COMPILE,
        default=default.jit_compile,
        help="XLA: auto = Keras' choice (on a GPU, off on CPU and under a strategy), on, off",
    )
    add_data_arguments(parser)
    return group


def add_output_arguments(parser):
    """Where a run goes, and what to do when it is already there."""
    default = TrainConfig()
    group = parser.add_argument_group("output")
    group.add_argument(
        "--name",
        default=None,
        help="run name (default <model>_<hyperparameter><value>_seed<seed>, e.g. beta_vae_beta5_seed0)",
    )
    group.add_argument("--runs-dir", default=default.runs_dir, help="parent of the run folder")
    group.add_argument(
        "--saved-models-dir",
        default=default.saved_models_dir,
        help="parent of the exported SavedModel",
    )
    group.add_argument(
        "--resume", action="store_true", help="continue the run in the run folder from its last finished epoch"
    )
    group.add_argument("--overwrite", action="store_true", help="delete an existing run of the same name first")
    group.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=default.verbose,
        help="Keras progress: 0 silent, 1 bar, 2 one line per epoch",
    )
    return group


def build_parser():
    parser = ArgumentParser(
        prog="python -m bvae_tf.train", description="Train a β-VAE on dSprites; write a run folder and a SavedModel."
    )
    add_model_arguments(parser)
    add_training_arguments(parser)
    add_output_arguments(parser)
    return parser


def as_config(config=None, **overrides):
    """A TrainConfig from a TrainConfig, a dict of flag-named settings or None, with ``overrides``."""
    if isinstance(config, TrainConfig):
        return TrainConfig.from_dict(config.to_dict(), **overrides) if overrides else config
    return TrainConfig.from_dict(config, **overrides)


def check_cluster(config):
    """UserError unless TF_CONFIG describes a cluster this process is a member of, under --strategy
    multi_worker (unset: one local worker). TensorFlow itself fails on a malformed one only once
    the run folder is written, and takes some (a JSON list) for no cluster at all."""
    text = os.environ.get("TF_CONFIG", "")
    if config.strategy != "multi_worker" or not text.strip():
        return
    example = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    try:
        value = json.loads(text)
    except ValueError as error:
        raise UserError(f"TF_CONFIG is not JSON ({error}); --strategy multi_worker needs e.g. {example}") from None
    cluster = value.get("cluster") if isinstance(value, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise UserError(f"TF_CONFIG has no cluster; --strategy multi_worker needs e.g. {example}")
    for role, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) and a for a in addresses):
            raise UserError(f'TF_CONFIG\'s cluster "{role}" must be a list of "host:port" addresses, got {addresses!r}')
    task = value.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise UserError(
            f"TF_CONFIG's task must name this process's role in the cluster ({', '.join(cluster)}) and its "
            f'index, e.g. {{"type": "{next(iter(cluster))}", "index": 0}}; got {task!r}'
        )
    index, size = task.get("index", 0), len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise UserError(
            f'TF_CONFIG\'s task index must be 0 to {size - 1} (the cluster lists {size} "{task["type"]}"), got {index!r}'
        )


BYTES_PER_PARAMETER = 16  # float32 weight, its gradient and Adam's two moments
LARGE_LATENT_DIM = 10_000  # below, every model has under 20 million parameters (under 0.3 GB)


@functools.cache
def parameters_per_latent(model_name):
    """(parameters at latent_dim 0, parameters per latent): a model's size is linear in latent_dim
    (the encoder's heads, the decoder's first layer, FactorVAE's critic), so two small builds tell it."""
    one, two = (make_model(model_name, latent_dim) for latent_dim in (1, 2))
    for model in (one, two):
        model.build((None, *IMAGE_SHAPE))
    per_latent = two.count_params() - one.count_params()
    keras.backend.clear_session()
    return one.count_params() - per_latent, per_latent


def check_memory(config):
    """UserError if the model, its gradients and Adam's state cannot fit in this machine's memory:
    TensorFlow would fail with an out-of-memory traceback after the run folder is written, or
    swap for hours."""
    if config.latent_dim < LARGE_LATENT_DIM:
        return
    fixed, per_latent = parameters_per_latent(config.model)
    parameters = fixed + per_latent * config.latent_dim
    needed, memory = parameters * BYTES_PER_PARAMETER, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if needed > memory:
        raise UserError(
            f"--latent-dim {config.latent_dim} gives {config.model} {parameters:,} parameters, which need about "
            f"{needed / 2**30:,.0f} GiB with their gradients and Adam's state; this machine has "
            f"{memory / 2**30:,.0f} GiB of memory: choose a smaller --latent-dim"
        )


def check_run(config):
    """The run folder and export path; UserError if they hold another run, or the model or the
    cluster cannot be (before anything is written)."""
    check_cluster(config)
    check_memory(config)
    run = RunFolder(os.path.join(config.runs_dir, config.run_name))
    export_dir = os.path.join(config.saved_models_dir, config.run_name)
    check_writable_folder(config.runs_dir, "--runs-dir")
    check_writable_folder(config.saved_models_dir, "--saved-models-dir")
    if config.overwrite:
        return run, export_dir
    if config.resume:  # with nothing to resume, a new run starts: the same command serves both
        saved = {}
        if os.path.isfile(run.config):
            with open(run.config) as f:
                saved = json.load(f)["settings"]
        for key, value in config.to_dict().items():
            if key not in TrainConfig.RESUMABLE and key in saved and saved[key] != value:
                raise UserError(
                    f"{flag_name(key)} is {value!r} but the run in {run.path} used {saved[key]!r}; "
                    "resume with the same settings or choose another --name"
                )
    elif os.path.isdir(run.path) and set(os.listdir(run.path)) - {LOCK_FILE}:
        raise UserError(f"--runs-dir: {run.path} holds another run; pass --resume to continue it or --overwrite")
    elif os.path.exists(export_dir):
        raise UserError(f"--saved-models-dir: {export_dir} exists; pass --overwrite to replace it")
    return run, export_dir


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
    keys = ("dataset", "source", "subset", "val_size", "seed", "counts", "files")
    return {"folder": os.path.abspath(folder), **{key: manifest.get(key) for key in keys}}


def versions():
    return {"bvae_tf": bvae_tf.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}


@dataclasses.dataclass
class TrainResult:
    """What a finished (or NaN-stopped) run gives its caller: a CLI, a sweep, a notebook."""

    config: TrainConfig
    run: RunFolder
    saved_model: str
    history: pd.DataFrame  # one row per epoch, resumed ones included
    final: dict  # the last good epoch's row
    active_latents: list  # indices of latents with mean KL > ACTIVE_KL_NATS (validation if any)
    nan_epoch: Optional[int]  # 1-based epoch where the loss became NaN, or None
    model: VAE  # holds the last good epoch's weights

    @property
    def epochs_completed(self):
        return len(self.history) - (1 if self.nan_epoch else 0)

    @property
    def train_seconds(self):
        """Wall time of every epoch in history.csv, those before a resume included."""
        return float(self.history["epoch_seconds"].sum()) if "epoch_seconds" in self.history else None


def clear_run(run):
    """Remove the run folder's contents but the lock this process holds."""
    for entry in set(os.listdir(run.path)) - {LOCK_FILE}:
        path = os.path.join(run.path, entry)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def start_run(config, run, export_dir, data_dir, manifest, precision):
    """Clear what --overwrite replaces, create the run folder and write config.json."""
    if config.overwrite:
        clear_run(run)
        shutil.rmtree(export_dir, ignore_errors=True)
    os.makedirs(run.checkpoints, exist_ok=True)
    write_json(
        run.config,
        {
            "version": CONFIG_VERSION,
            "settings": config.to_dict(),
            "name": config.run_name,
            "precision_used": precision,
            "versions": versions(),
            "data": data_summary(data_dir, manifest),
            "saved_model": os.path.abspath(export_dir),
        },
    )


def model_hyperparameters(config, steps_per_epoch):
    """The config's hyperparameters with the derived ones filled in (AnnealedVAE's iteration
    threshold: a third of the run's steps, as the reference's 100,000 of 300,000)."""
    values = dict(config.hyperparameters)
    if "iteration_threshold" in values and values["iteration_threshold"] is None:
        values["iteration_threshold"] = max(1, config.epochs * steps_per_epoch // 3)
    return values


def build_model(config, precision, hyperparameters):
    """The compiled model under ``precision`` and ``config.strategy``; the global policy is restored."""
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with make_strategy(config.strategy).scope():
            model = make_model(
                config.model,
                config.latent_dim,
                seed=config.seed,
                rank1_logs=config.strategy == "multi_worker",
                channels=dataset_class(config.data.dataset).channels,  # the decoder draws the dataset's
                **hyperparameters,
            )
            model.build()
            model.compile(
                optimizer=keras.optimizers.Adam(config.learning_rate),
                steps_per_execution=config.steps_per_execution,
                jit_compile={"auto": "auto", "on": True, "off": False}[config.jit_compile],
            )
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return model


def make_callbacks(config, run, model, shown_images, extra=()):
    """Ours, then Keras' TensorBoard, then ``extra``.

    Order matters: SqueezeLogs first; NaNGuard before the checkpointing callbacks, so they save
    the last good weights; TensorBoardImages and EpochTimer before TensorBoard and HistoryLogger,
    so they log β, the learning rate and the epoch's wall time; Backup after HistoryLogger (see
    Backup). Returns (callbacks, the NaNGuard).
    """
    nan_guard = bvae_callbacks.NaNGuard()
    return [
        *([bvae_callbacks.SqueezeLogs()] if model.rank1_logs else []),
        nan_guard,
        bvae_callbacks.TensorBoardImages(run.logs, shown_images),
        bvae_callbacks.EpochTimer(),
        bvae_callbacks.TensorBoard(run.logs, write_graph=False),
        bvae_callbacks.HistoryLogger(run.history, append=config.resume),
        bvae_callbacks.Checkpoint(run.checkpoint),
        bvae_callbacks.Backup(run.backup),
        bvae_callbacks.EpochSummary(config.epochs),
        *extra,
    ], nan_guard


def training_data(config, data_dir, count, first_epoch):
    """The batches of epochs ``first_epoch`` .. ``config.epochs - 1``, one after another: the seeded
    shuffle repeated (a new order each epoch), the epochs already trained skipped, a stochastic
    dataset's colours keyed by each epoch's number. A resumed run thus sees the very batches of
    an uninterrupted one (a dataset that Keras iterates afresh each epoch starts again at the
    first epoch's order). Skipping reads the skipped epochs' records, seconds an epoch, far less
    than training them."""
    steps = -(-count // config.batch_size)
    data = make_dataset(
        data_dir, "train", config.batch_size, shuffle=True, seed=config.seed, epochs=(first_epoch, config.epochs)
    )
    return data.apply(tf.data.experimental.assert_cardinality(steps * (config.epochs - first_epoch))), steps


def fit(config, model, run, data_dir, counts, callbacks):
    """Train from the last backed-up epoch (0 for a new run) to ``config.epochs``."""
    first_epoch = bvae_callbacks.restore(model, run.backup)
    if first_epoch >= config.epochs:
        return
    train_data, steps = training_data(config, data_dir, counts["train"], first_epoch)
    val_data = None
    if counts.get("validation", 0) > 0:
        val_data = sized(
            make_dataset(data_dir, "validation", config.batch_size, shuffle=False),
            counts["validation"],
            config.batch_size,
        )
    with bvae_callbacks.InterruptBetweenBatches() as interrupt:
        model.fit(
            train_data,
            epochs=config.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps,
            validation_data=val_data,
            shuffle=False,
            callbacks=[*callbacks, interrupt],
            verbose=config.verbose,
        )


def summarize(config, run, nan_epoch, has_validation):
    """(history, final row, active latents) from history.csv; a NaN epoch's row is not final."""
    history = read_history(run.history) if os.path.isfile(run.history) else pd.DataFrame()
    good = history[:-1] if nan_epoch else history  # the model holds the last good epoch's weights
    final = good.iloc[-1].to_dict() if len(good) else {}
    if "epoch" in final:
        final["epoch"] = int(final["epoch"])  # 1-based, as the console counts
    prefix = "val_" if has_validation else ""
    active = [i for i in range(config.latent_dim) if final.get(f"{prefix}kl_{i}", 0.0) > ACTIVE_KL_NATS]
    return history, final, active, prefix


def model_card(config, hyperparameters, data, precision, epochs_completed, nan_epoch, final, prefix, active):
    spec = MODELS[config.model]
    return {
        "name": config.run_name,
        "model": config.model,
        "dataset": config.data.dataset,
        "objective": f"{spec.title} ({spec.paper}): {spec.loss}; Bernoulli decoder, conv encoder 4x4 kernels",
        **hyperparameters,
        "latent_dim": config.latent_dim,
        "data": data,
        "training": {
            key: getattr(config, key)
            for key in ("learning_rate", "batch_size", "epochs", "seed", "precision", "strategy")
        },
        "precision_used": precision,
        "epochs_completed": epochs_completed,
        "stopped_on_nan_in_epoch": nan_epoch,
        "final": {key: value for key, value in final.items() if not key.startswith(("kl_", "val_kl_"))},
        "kl_per_latent": [final.get(f"{prefix}kl_{i}") for i in range(config.latent_dim)],
        "active_latents": active,
        "versions": versions(),
    }


def train(config=None, callbacks=(), **overrides):
    """Train one model, export it, and return a :class:`TrainResult`.

    ``config``: a :class:`~bvae_tf.config.TrainConfig`, or a dict of flag-named settings (missing
    ones take the defaults); ``overrides`` win. ``callbacks`` are added after ours (e.g. a
    keras-tuner callback). The global Keras dtype policy is left as it was.
    """
    config = as_config(config, **overrides)
    run, export_dir = check_run(config)
    data_dir = prepare_data(config.data, progress=config.verbose > 0)
    with folder_lock(run.path, "run"):
        check_run(config)  # again: another process may have written the run before we held the lock
        return run_locked(config, run, export_dir, data_dir, callbacks)


def run_locked(config, run, export_dir, data_dir, callbacks):
    """`train`'s steps once the run folder is ours: write, build, fit, summarize, export.

    A new run that fails before its first epoch is backed up (out of memory, a full disk, Ctrl-C)
    leaves its folder empty, so that the same command can simply be run again.
    """
    manifest = read_manifest(data_dir, verify=False)
    precision = resolve_precision(config.precision)
    new = config.overwrite or not os.path.isfile(run.config)
    start_run(config, run, export_dir, data_dir, manifest, precision)
    counts = manifest["counts"]
    hyperparameters = model_hyperparameters(config, -(-counts["train"] // config.batch_size))
    try:
        model = build_model(config, precision, hyperparameters)
        has_validation = counts.get("validation", 0) > 0
        shown = next(iter(make_dataset(data_dir, "validation" if has_validation else "train", 64, shuffle=False)))
        fit_callbacks, nan_guard = make_callbacks(config, run, model, shown.numpy(), callbacks)
        fit(config, model, run, data_dir, counts, fit_callbacks)
    except BaseException:
        if new and not os.path.isfile(os.path.join(run.backup, bvae_callbacks.BACKUP_STATE)):
            clear_run(run)
        raise

    history, final, active, prefix = summarize(config, run, nan_guard.nan_epoch, has_validation)
    result = TrainResult(config, run, export_dir, history, final, active, nan_guard.nan_epoch, model)
    card = model_card(
        config,
        hyperparameters,
        data_summary(data_dir, manifest),
        precision,
        result.epochs_completed,
        nan_guard.nan_epoch,
        final,
        prefix,
        active,
    )
    export_model(model, export_dir, card)
    return result


def main(argv=None):
    result = train(TrainConfig.from_args(build_parser().parse_args(argv)))
    print(f"run folder: {result.run.path}\nSavedModel: {result.saved_model}")
    return 1 if result.nan_epoch else 0


def resume_hint(argv):
    """What Ctrl-C prints: the command that continues the run from its last finished epoch."""
    args = [arg for arg in argv if arg != "--overwrite"]
    args += [] if "--resume" in args else ["--resume"]
    return "the run keeps its last finished epoch; continue it with: python -m bvae_tf.train " + shlex.join(args)


if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:], interrupted=lambda: resume_hint(sys.argv[1:])))
