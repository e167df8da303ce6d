"""β sweeps with keras-tuner: ``python -m bvae_tf.sweep --betas 0.5 1 2.5 5 7.5 10 50 --seeds 0 1 2``.

A :class:`BetaSweep` tuner walks the grid of (β, seed) with keras-tuner's grid oracle; each
trial trains a β-VAE (``bvae_tf.train``), exports it, scores it (``bvae_tf.evaluate``) and
returns every number, MIG being the objective. keras-tuner keeps the oracle's state in the
sweep folder, so running the same command again skips finished trials and redoes only the
one that was interrupted (whose training itself resumes from its last finished epoch).

Scale-out: keras-tuner's distributed mode. Start one chief and any number of workers with the
same command and a shared sweep folder; the environment tells each its role:

  KERASTUNER_TUNER_ID=chief   KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 python -m bvae_tf.sweep ...
  KERASTUNER_TUNER_ID=tuner0  KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 python -m bvae_tf.sweep ...
"""

import argparse
import dataclasses
import functools
import glob
import json
import os
import time

import keras
import keras_tuner as kt
import pandas as pd

from bvae_tf.config import DCI_MODELS, EvalSpec, SweepConfig, TrainConfig
from bvae_tf.data import prepare_data
from bvae_tf.errors import UserError, run_cli
from bvae_tf.evaluate import evaluate_model, write_report
from bvae_tf.files import write_json, write_text
from bvae_tf.layout import SweepFolder, run_name
from bvae_tf.metrics import sampling
from bvae_tf.train import add_training_arguments, check_run, train


class ResumableGridOracle(kt.oracles.GridSearchOracle):
    """keras-tuner's grid oracle, made resumable.

    keras-tuner 1.4 keeps the grid oracle's walk (trials in grid order, and the finished trials
    whose successor is still to be created) in memory only: reloaded after a stop, it either stops
    early or fails with a KeyError. Both are derived again here from the trials it reloads.
    """

    def set_state(self, state):
        super().set_state(state)
        by_grid_order = functools.cmp_to_key(
            lambda a, b: self._compare(self.trials[a].hyperparameters.values, self.trials[b].hyperparameters.values))
        self._ordered_ids = type(self._ordered_ids)()
        for trial_id in sorted(self.trials, key=by_grid_order):
            self._ordered_ids.insert(trial_id)
        # Safe to queue every finished trial: the oracle skips a successor that already exists.
        self._populate_next = list(self.end_order)


class BetaSweep(kt.Tuner):
    """keras-tuner Tuner over a (β, seed) grid whose trials train, export and evaluate a β-VAE."""

    def __init__(self, sweep, **kwargs):
        hyperparameters = kt.HyperParameters()
        # The grid varies the last one fastest: every β of the first seed comes first, so a sweep
        # stopped early already holds a whole β curve.
        hyperparameters.Choice("seed", list(sweep.seeds), ordered=True)
        hyperparameters.Choice("beta", list(sweep.betas), ordered=True)
        oracle = ResumableGridOracle(
            objective=kt.Objective("mig", direction="max"),
            max_trials=len(sweep.betas) * len(sweep.seeds),
            hyperparameters=hyperparameters,
            allow_new_entries=False,
            tune_new_entries=False,
            # A failed trial stops the sweep at once with its traceback, rather than being skipped.
            max_consecutive_failed_trials=1,
        )
        folder = SweepFolder(sweep.out_dir)
        super().__init__(oracle=oracle, directory=folder.path, project_name=folder.tuner_project, overwrite=False,
                         **kwargs)
        self.sweep, self.folder = sweep, folder

    def trial_config(self, beta, seed):
        return self.sweep.trial(beta, seed, self.folder.runs, self.folder.saved_models, run_name(beta, seed))

    def run_trial(self, trial, *args, **kwargs):
        beta, seed = trial.hyperparameters.get("beta"), trial.hyperparameters.get("seed")
        config = self.trial_config(beta, seed)
        result_path = self.folder.run(config.run_name).result
        if os.path.isfile(result_path):  # finished, but killed before keras-tuner recorded it
            with open(result_path) as f:
                return objective_values(json.load(f))
        start = time.perf_counter()
        run = train(config)
        train_seconds = time.perf_counter() - start
        report = evaluate_model(run.saved_model, self.sweep.evaluation)
        write_report(report, run.saved_model)
        final = run.final
        result = {
            "trial_id": trial.trial_id,
            "worker": self.tuner_id,
            "beta": beta,
            "seed": seed,
            "epochs": len(run.history),
            **{f"{split}{term}": final.get(f"{prefix}{term}") for split, prefix in (("train_", ""), ("val_", "val_"))
               for term in ("loss", "recon", "kl")},
            "active_latents_kl": len(run.active_latents),
            "active_latents_std": report["active_latents"],
            **report["scores"],
            "train_seconds": train_seconds,
            "eval_seconds": report["time"]["total_s"],
            # Relative to the sweep folder, so a copied or moved sweep still finds its files.
            "run_dir": os.path.relpath(run.run.path, self.folder.path),
            "saved_model": os.path.relpath(run.saved_model, self.folder.path),
        }
        write_json(result_path, result)
        collect_results(self.folder)
        keras.backend.clear_session()  # trials run one after another in this process
        return objective_values(result)


def objective_values(result):
    """The numbers keras-tuner records for a trial (finite floats only)."""
    return {key: float(value) for key, value in result.items()
            if isinstance(value, (int, float)) and key not in ("trial_id", "beta", "seed")
            and value == value}


def collect_results(folder):
    """Gather every finished trial's ``result.json`` into the tidy ``results.csv`` (one row a trial)."""
    rows = []
    for path in sorted(glob.glob(folder.run("*").result)):
        with open(path) as f:
            rows.append(json.load(f))
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["beta", "seed"]).reset_index(drop=True)
    write_text(folder.results, table.to_csv(index=False))
    return table


def build_parser():
    default = SweepConfig()
    parser = argparse.ArgumentParser(prog="python -m bvae_tf.sweep", description=__doc__.splitlines()[0])
    grid = parser.add_argument_group("sweep")
    grid.add_argument("--betas", type=float, nargs="+", default=list(default.betas),
                      help="β values (default: the report's 0.5 1 2.5 5 7.5 10 50)")
    grid.add_argument("--seeds", type=int, nargs="+", default=list(default.seeds),
                      help="training seeds per β (default 0)")
    grid.add_argument("--name", default="beta_sweep", help="sweep name (default beta_sweep)")
    grid.add_argument("--out", default=None, help="sweep folder (default sweeps/<name>)")
    grid.add_argument("--preset", choices=sorted(sampling.PRESETS), default=default.evaluation.preset,
                      help="metric sizes: fast, or reference (the spec's 10,000/5,000) (default fast)")
    grid.add_argument("--metrics", default=None, help="comma-separated metrics (default all)")
    grid.add_argument("--metric-seed", type=int, default=0, help="seed of the metric sampling (default 0)")
    grid.add_argument("--dci-model", choices=sorted(DCI_MODELS), default="reference",
                      help="DCI classifier: reference (the spec's) or fast (approximate) (default reference)")
    grid.add_argument("--metric-size", action="append", default=[], metavar="NAME=N",
                      help="override one sample size of the preset, e.g. num_train=2000 (repeatable)")
    grid.add_argument("--verbose", type=int, choices=(0, 1, 2), default=default.training.verbose,
                      help="Keras progress per trial: 0 only a summary line per epoch, 1 bar, 2 Keras' line (default 0)")
    add_training_arguments(parser)
    return parser


def config_from_args(args):
    """The SweepConfig of the sweep command's flags (every training flag applies to all trials)."""
    sizes = {}
    for item in args.metric_size:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise UserError(f"--metric-size takes NAME=N (e.g. num_train=2000), got {item!r}")
        sizes[name] = int(value)
    evaluation = EvalSpec.create(metrics=args.metrics.split(",") if args.metrics else None, preset=args.preset,
                                 seed=args.metric_seed, sizes=sizes, dci_model=args.dci_model)
    training = TrainConfig.from_args(args)
    training = training.replace(data=dataclasses.replace(training.data, data_dir=training.data.folder))
    return SweepConfig(args.betas, args.seeds, args.out or os.path.join("sweeps", args.name), training, evaluation)


def run_sweep(sweep):
    """Run (or resume) every trial of ``sweep``; returns the results table (None on a worker)."""
    folder = SweepFolder(sweep.out_dir)
    # Check every training flag (and a first trial's resumability) before anything is written.
    check_run(sweep.trial(sweep.betas[0], sweep.seeds[0], folder.runs, folder.saved_models,
                          run_name(sweep.betas[0], sweep.seeds[0])))
    prepare_data(sweep.training.data)  # once, before any trial (workers reuse it)
    os.makedirs(folder.path, exist_ok=True)
    identity = sweep.to_dict()
    if os.path.isfile(folder.config):
        with open(folder.config) as f:
            previous = json.load(f)
        if previous != identity:
            differs = [key for key in identity if previous.get(key) != identity[key]]
            raise UserError(f"{folder.path} holds a sweep with other settings ({', '.join(differs)} differ); "
                            "rerun it with the same flags to resume, or choose another --out")
    else:
        write_json(folder.config, identity)
    print(f"sweep: {len(sweep.betas) * len(sweep.seeds)} trials (β {list(sweep.betas)} x seeds "
          f"{list(sweep.seeds)}) -> {folder.path}")
    BetaSweep(sweep).search()
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief":
        return None
    table = collect_results(folder)
    print(f"{len(table)} trials finished; table: {folder.results}")
    return table


def main(argv=None):
    run_sweep(config_from_args(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    run_cli(main)
