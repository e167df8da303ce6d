"""Sweeps with keras-tuner: ``python -m bvae_tf.sweep --betas 0.5 1 2.5 5 7.5 10 50 --seeds 0 1 2``,
``--model beta_tcvae --values 1 2 4 6 8 10``, several ``--model``s, or ``--study reference``.

A :class:`ModelSweep` tuner walks the grid of (model and a value of its main hyperparameter,
seed) with keras-tuner's grid oracle; each trial trains the model (``bvae_tf.train``), exports
it, scores it (``bvae_tf.evaluate``) and returns every number, MIG being the objective.
keras-tuner keeps the oracle's state in the sweep folder, so running the same command again
skips finished trials and redoes only the one that was interrupted (whose training itself
resumes from its last finished epoch).

Scale-out: keras-tuner's distributed mode. Start one chief and any number of workers with the
same command and a shared sweep folder; the environment tells each its role:

  KERASTUNER_TUNER_ID=chief   KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 python -m bvae_tf.sweep ...
  KERASTUNER_TUNER_ID=tuner0  KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 python -m bvae_tf.sweep ...
"""

import contextlib
import dataclasses
import functools
import glob
import io
import json
import math
import os
import shlex
import shutil
import sys

import keras
import keras_tuner as kt
import pandas as pd
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from bvae_tf import saved_model
from bvae_tf.config import MODELS, REPORT_BETAS, EvalSpec, SweepConfig, TrainConfig, flag_name
from bvae_tf.data import prepare_data
from bvae_tf.errors import ArgumentParser, UserError, run_cli
from bvae_tf.evaluate import (
    ENCODE_BATCH,
    add_metric_option_arguments,
    check_memory,
    evaluate_model,
    model_source,
    parse_metric_options,
    write_report,
)
from bvae_tf.evaluation_folder import default_out
from bvae_tf.files import check_writable_folder, write_json, write_text
from bvae_tf.layout import SweepFolder
from bvae_tf.locks import folder_lock
from bvae_tf.metrics.registry import PRESETS
from bvae_tf.progress import Progress, format_seconds
from bvae_tf.train import add_training_arguments, check_run, train


class ResumableGridOracle(kt.oracles.GridSearchOracle):
    """keras-tuner's grid oracle, made resumable.

    keras-tuner 1.4 keeps the grid oracle's walk (trials in grid order, and the trials whose
    successor is still to be created) in memory only: reloaded after a stop, it either stops
    early or fails with a KeyError. Both are derived again here from the trials it reloads.

    It also hands out a trial's successor in the grid only once that trial has ended (in case the
    trial met new conditional hyperparameters; this fixed grid has none), so all workers of a
    distributed sweep but one would wait. Here each trial is queued as it starts.
    """

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        if response["status"] == kt.engine.trial.TrialStatus.RUNNING:
            self._populate_next.append(trial_id)
        return response

    def set_state(self, state):
        super().set_state(state)
        by_grid_order = functools.cmp_to_key(
            lambda a, b: self._compare(self.trials[a].hyperparameters.values, self.trials[b].hyperparameters.values)
        )
        in_grid_order = sorted(self.trials, key=by_grid_order)
        self._ordered_ids = type(self._ordered_ids)()
        for trial_id in in_grid_order:
            self._ordered_ids.insert(trial_id)
        # Safe to queue every trial, finished or not: the oracle skips a successor that exists.
        self._populate_next = in_grid_order


class TrialError(kt.errors.FatalError):
    """A trial's exception (a full disk, a damaged run folder, a bug), carried through keras-tuner,
    which would record the trial as invalid, go on, and end the sweep in a RuntimeError traceback
    ("consecutive failures") that hides it. `search` raises the exception itself."""


class ModelSweep(kt.Tuner):
    """keras-tuner Tuner over a grid of (setting, seed) whose trials train, export and evaluate
    a model; a setting is a model and a value of its main hyperparameter, e.g. ``factor_vae:30.0``."""

    def __init__(self, sweep, **kwargs):
        hyperparameters = kt.HyperParameters()
        # The grid varies the last one fastest: every setting of the first seed comes first, so a
        # sweep stopped early already holds whole curves.
        hyperparameters.Choice("seed", list(sweep.seeds), ordered=True)
        hyperparameters.Choice("setting", [f"{model}:{value!r}" for model, value in sweep.settings])
        oracle = ResumableGridOracle(
            objective=kt.Objective("mig", direction="max"),
            max_trials=len(sweep.settings) * len(sweep.seeds),
            hyperparameters=hyperparameters,
            allow_new_entries=False,
            tune_new_entries=False,
            # A failed trial stops the sweep at once with its traceback, rather than being skipped.
            max_consecutive_failed_trials=1,
        )
        folder = SweepFolder(sweep.out_dir)
        with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner's "Reloading Tuner from ..."; we say it
            super().__init__(
                oracle=oracle, directory=folder.path, project_name=folder.tuner_project, overwrite=False, **kwargs
            )
        self.sweep, self.folder = sweep, folder

    def run_trial(self, trial, *args, **kwargs):
        try:
            return self.train_and_evaluate(trial)
        except Exception as error:
            raise TrialError(error) from error

    def train_and_evaluate(self, trial):
        model, value = trial.hyperparameters.get("setting").split(":")
        value, seed = float(value), trial.hyperparameters.get("seed")
        config = self.sweep.trial(model, value, seed, self.folder.runs, self.folder.saved_models)
        result_path = self.folder.run(config.run_name).result
        if os.path.isfile(result_path):  # finished, but killed before keras-tuner recorded it
            with open(result_path) as f:
                return objective_values(json.load(f))
        # The trial's place in the grid (seeds outermost, as the oracle walks it): one number per
        # trial, also when a distributed sweep's workers run several at once.
        grid = [(each_seed, setting) for each_seed in self.sweep.seeds for setting in self.sweep.settings]
        label = f"sweep: trial {grid.index((seed, (model, value))) + 1} of {len(grid)}: {config.run_name}"
        print(f"{label}: training", flush=True)
        run = train(config)
        # A run whose loss became NaN is recorded as failed, without metrics: scores of its last
        # good weights would pass for a finished trial's.
        report, evaluation = None, default_out(self.sweep.evaluation, model=run.saved_model)
        if not run.nan_epoch:
            with Progress(stream=sys.stdout).step(f"{label}: scoring"):  # ~20 s or more: show it runs
                report = evaluate_model(run.saved_model, self.sweep.evaluation)
            source = model_source(run.saved_model)
            report["source"] = source
            write_report(report, evaluation, self.sweep.evaluation, source, overwrite=True, model=run.saved_model)
            saved_model.forget()  # scored and drawn: a sweep process need not hold its trials' models
        final = run.final
        result = {
            "trial_id": trial.trial_id,
            "worker": self.tuner_id,
            "model": model,
            "dataset": config.data.dataset,
            "hyperparameter": MODELS[model].main,
            "value": value,
            "seed": seed,
            "status": f"failed: loss became NaN in epoch {run.nan_epoch}" if run.nan_epoch else "finished",
            "epochs": len(run.history),
            **{
                f"{split}{term}": final.get(f"{prefix}{term}")
                for split, prefix in (("train_", ""), ("val_", "val_"))
                for term in ("loss", "recon", "kl")
            },
            "active_latents_kl": len(run.active_latents),
            "active_latents_std": report["active_latents"] if report else None,
            **(report["scores"] if report else {}),
            "train_seconds": run.train_seconds,
            "eval_seconds": report["time"]["total_s"] if report else None,
            # Relative to the sweep folder, so a copied or moved sweep still finds its files.
            "run_dir": os.path.relpath(run.run.path, self.folder.path),
            "saved_model": os.path.relpath(run.saved_model, self.folder.path),
            "evaluation": os.path.relpath(evaluation, self.folder.path) if report else None,
        }
        write_hparams(self.folder.hparams(config.run_name), config, result)
        write_json(result_path, result)
        collect_results(self.folder)
        print(f"{label}: {outcome(result)}", flush=True)
        keras.backend.clear_session()  # trials run one after another in this process
        return objective_values(result)


def outcome(result):
    """A finished trial in a few words: ``done: MIG 0.123, 10 epochs trained in 4m 05s``."""
    if result["status"] != "finished":
        return result["status"]
    epochs = f"{result['epochs']} epoch{'s' if result['epochs'] != 1 else ''}"
    timing = f"{epochs} trained in {format_seconds(result['train_seconds'] or math.nan)}"
    mig = f"MIG {result['mig']:.3f}, " if result.get("mig") is not None else ""
    return f"done: {mig}{timing}"


def trial_hparams(config, result):
    """(hyperparameters, final numbers) of a trial, as TensorBoard's HParams dashboard shows them:
    its settings, and every finite number of its results.csv row (losses, scores, times)."""
    hparams = {
        "model": result["model"],
        "hyperparameter": result["hyperparameter"],
        "value": float(result["value"]),
        "seed": int(result["seed"]),
        "dataset": getattr(config.data, "dataset", "dsprites_full"),  # a setting in newer bvae_tf
        "learning_rate": config.learning_rate,
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "latent_dim": config.latent_dim,
    }
    metrics = {
        ("epochs_completed" if key == "epochs" else key): float(value)
        for key, value in result.items()
        if key not in hparams or key == "epochs"
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
    return hparams, metrics


def write_hparams(path, config, result):
    """The trial as one session of TensorBoard's HParams plugin (``tensorboard --logdir <sweep>``:
    table, parallel coordinates, scatter plots): its hyperparameters and final numbers, the
    numbers as scalars at the trial's last epoch. Written to a temporary folder, then renamed, so
    a rerun of the trial replaces it rather than adding a second session."""
    hparams, metrics = trial_hparams(config, result)
    temporary = f"{path}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    writer = tf.summary.create_file_writer(temporary)
    with writer.as_default(step=int(result["epochs"])):
        hparams_api.hparams(hparams, trial_id=os.path.basename(path))
        for key, value in metrics.items():
            tf.summary.scalar(key, value)
    writer.close()
    shutil.rmtree(path, ignore_errors=True)
    os.replace(temporary, path)


def objective_values(result):
    """The numbers keras-tuner records for a trial (finite floats only). keras-tuner requires the
    objective, so a failed trial reports MIG 0 to it; results.csv marks the trial failed."""
    values = {
        key: float(value)
        for key, value in result.items()
        if isinstance(value, (int, float)) and key not in ("trial_id", "value", "seed") and value == value
    }
    return {"mig": 0.0, **values}


def collect_results(folder):
    """Gather every finished trial's ``result.json`` into the tidy ``results.csv`` (one row a trial)."""
    rows = []
    for path in sorted(glob.glob(folder.run("*").result)):
        with open(path) as f:
            rows.append(json.load(f))
    table = pd.DataFrame(rows)
    if len(table):
        order = {model: i for i, model in enumerate(MODELS)}
        table = table.sort_values(["model", "value", "seed"], key=lambda c: c.map(order) if c.name == "model" else c)
        table = table.reset_index(drop=True)
    write_text(folder.results, table.to_csv(index=False))
    return table


def build_parser():
    default = SweepConfig()
    parser = ArgumentParser(prog="python -m bvae_tf.sweep", description=__doc__.splitlines()[0])
    grid = parser.add_argument_group("sweep")
    grid.add_argument(
        "--betas",
        type=float,
        nargs="+",
        help="β-VAE's β values; unset, with no --model: the report's " + " ".join(f"{beta:g}" for beta in REPORT_BETAS),
    )
    grid.add_argument(
        "--model",
        nargs="+",
        choices=list(MODELS),
        dest="models",
        help="models to sweep, each over its reference grid unless --values is given",
    )
    grid.add_argument(
        "--values",
        type=float,
        nargs="+",
        help="values of the main hyperparameter of the one --model (β, C_max, γ or λ_od)",
    )
    grid.add_argument(
        "--study",
        choices=["reference"],
        help="reference: the reference study's grid, all six models x their six values",
    )
    grid.add_argument("--seeds", type=int, nargs="+", default=list(default.seeds), help="training seeds per β")
    grid.add_argument("--name", default="beta_sweep", help="sweep name")
    grid.add_argument("--out", default=None, help="sweep folder (sweeps/<name> when unset)")
    grid.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=default.evaluation.preset,
        help="metric sizes: fast, or reference (the spec's 10,000/5,000)",
    )
    grid.add_argument("--metrics", default=None, help="comma-separated metrics (default all)")
    grid.add_argument("--metric-seed", type=int, default=0, help="seed of the metric sampling")
    add_metric_option_arguments(grid)
    grid.add_argument(
        "--metric-size",
        action="append",
        default=[],
        metavar="NAME=N",
        help="override one sample size of the preset, e.g. num_train=2000 (repeatable)",
    )
    grid.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=default.training.verbose,
        help="progress per trial: a summary line per epoch, and with 1 a short bar on a terminal",
    )
    add_training_arguments(parser)
    return parser


def grid_values(flag, values):
    """``values`` if each is a finite number >= 0; else a UserError naming the flag the user typed."""
    bad = [value for value in values if not (value >= 0 and math.isfinite(value))]
    if bad:
        raise UserError(f"{flag} must be finite numbers >= 0, got {bad[0]:g}")
    return values


def grid_from_args(args):
    """(model, value) settings from --study, --model/--values or --betas."""
    if args.study:
        if args.models or args.values or args.betas:
            raise UserError("--study reference sets the whole grid; leave out --model, --values and --betas")
        return [(name, value) for name, spec in MODELS.items() for value in spec.grid]
    if args.betas:
        if args.values or (args.models and args.models != ["beta_vae"]):
            raise UserError("--betas sets β-VAE's grid; for other models use --model NAME --values ...")
        return [("beta_vae", beta) for beta in grid_values("--betas", args.betas)]
    if args.values:
        if not args.models or len(args.models) != 1:
            raise UserError("--values needs exactly one --model (several models each take their reference grid)")
        return [(args.models[0], value) for value in grid_values("--values", args.values)]
    if args.models:
        return [(name, value) for name in args.models for value in MODELS[name].grid]
    return [("beta_vae", beta) for beta in REPORT_BETAS]


def config_from_args(args):
    """The SweepConfig of the sweep command's flags (every training flag applies to all trials)."""
    sizes = {}
    for item in args.metric_size:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise UserError(f"--metric-size takes NAME=N (e.g. num_train=2000), got {item!r}")
        sizes[name] = int(value)
    evaluation = EvalSpec.create(
        metrics=args.metrics.split(",") if args.metrics else None,
        preset=args.preset,
        seed=args.metric_seed,
        sizes=sizes,
        options=parse_metric_options(args.metric_option),
        dci_model=args.dci_model,
    )
    training = TrainConfig.from_args(args)
    training = training.replace(data=dataclasses.replace(training.data, data_dir=training.data.folder))
    return SweepConfig(
        grid_from_args(args), args.seeds, args.out or os.path.join("sweeps", args.name), training, evaluation
    )


def run_sweep(sweep):
    """Run (or resume) every trial of ``sweep``; returns the results table (None on a worker)."""
    folder = SweepFolder(sweep.out_dir)
    check_writable_folder(folder.path, "--out")
    check_memory(sweep.evaluation, ENCODE_BATCH)  # metric sizes: before hours of training, not after
    # Check every training flag (and a first trial's resumability) before anything is written.
    check_run(sweep.trial(*sweep.settings[0], sweep.seeds[0], folder.runs, folder.saved_models))
    prepare_data(sweep.training.data)  # once, before any trial (workers reuse it)
    # One process per role: a chief and each worker of a distributed sweep lock their own name.
    role = os.environ.get("KERASTUNER_TUNER_ID", "chief")
    with folder_lock(folder.path, "sweep" if role == "chief" else f"sweep's {role}", name=f".lock-{role}"):
        return search(sweep, folder, role)


def search(sweep, folder, role):
    """`run_sweep` once the sweep folder is ours: check or write sweep.json, run the trials."""
    identity = sweep.to_dict()
    if os.path.isfile(folder.config):
        with open(folder.config) as f:
            previous = SweepConfig.upgrade(json.load(f))
        if previous != identity:
            differs = [key for key in identity if key != "training" and previous.get(key) != identity[key]]
            differs += [
                flag_name(key) for key, value in identity["training"].items() if previous["training"].get(key) != value
            ]
            raise UserError(
                f"{folder.path} holds a sweep with other settings ({', '.join(differs)} differ); "
                "rerun it with the same flags to resume, or choose another --out"
            )
    else:
        write_json(folder.config, identity)
    settings = ", ".join(f"{model} {value:g}" for model, value in sweep.settings)
    finished = len(glob.glob(folder.run("*").result))
    print(
        f"sweep: {len(sweep.settings) * len(sweep.seeds)} trials ({settings}; seeds {list(sweep.seeds)}) "
        f"-> {folder.path}" + (f"; resuming, {finished} finished" if finished else ""),
        flush=True,
    )
    try:
        ModelSweep(sweep).search(verbose=0)  # our lines per trial, not keras-tuner's banners and tables
    except TrialError as error:
        raise error.__cause__ from None
    if role != "chief":
        return None
    table = collect_results(folder)
    failed = failed_trials(table)
    if failed:
        print(
            f"{len(table) - failed} of {len(table)} trials finished, {failed} failed: "
            f"see the status column of {folder.results}"
        )
    else:
        print(f"{len(table)} trials finished; table: {folder.results}")
    return table


def failed_trials(table):
    """How many trials of a results table failed (their loss became NaN)."""
    return int((table["status"] != "finished").sum()) if len(table) else 0


def run_and_report(sweep):
    """A pipeline's whole job: run (or resume) ``sweep``, then draw its report; returns the exit code.

    A worker of a distributed sweep leaves the report to the chief, whose sweep ends once every
    worker's trials have; a sweep whose every trial failed has nothing to draw."""
    from bvae_tf import report  # here, not above: the sweep command itself never draws

    table = run_sweep(sweep)
    if table is None:
        return 0
    failed = failed_trials(table)
    if failed == len(table):
        return 1  # the sweep's last line said why
    out_dir = report.make_report(sweep.out_dir)
    print(f"report written to {out_dir} (open report.html)")
    return 1 if failed else 0


def main(argv=None):
    table = run_sweep(config_from_args(build_parser().parse_args(argv)))
    return 1 if table is not None and failed_trials(table) else 0


def resume_hint(argv, command="python -m bvae_tf.sweep"):
    """What Ctrl-C prints: the same command continues the sweep (also a pipeline's, ``command``)."""
    return (
        "finished trials are kept and the interrupted one keeps its last finished epoch; continue "
        f"with the same command: {command} {shlex.join(argv)}".rstrip()
    )


if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:], interrupted=lambda: resume_hint(sys.argv[1:])))
