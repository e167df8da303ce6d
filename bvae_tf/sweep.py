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
import functools
import glob
import json
import os
import time

import keras
import keras_tuner as kt
import pandas as pd

from bvae_tf.data import default_data_dir, prepare_from_args
from bvae_tf.errors import UserError, run_cli
from bvae_tf.evaluate import evaluate_model, resolve_metrics, resolve_sizes, write_report
from bvae_tf.files import write_json, write_text
from bvae_tf.metrics import sampling
from bvae_tf.metrics.dci import MODELS as DCI_MODELS
from bvae_tf.train import add_training_arguments, check_config, resolve_config, train

REPORT_BETAS = (0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 50.0)
RESULT_FILE = "result.json"
RESULTS_CSV = "results.csv"


def trial_name(beta, seed):
    return f"beta{beta:g}_seed{seed}"


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

    def __init__(self, settings, out_dir, betas, seeds, preset="fast", metric_seed=0, metrics=None, sizes=None,
                 dci_model=None, **kwargs):
        hyperparameters = kt.HyperParameters()
        # The grid varies the last one fastest: every β of the first seed comes first, so a sweep
        # stopped early already holds a whole β curve.
        hyperparameters.Choice("seed", [int(s) for s in seeds], ordered=True)
        hyperparameters.Choice("beta", [float(b) for b in betas], ordered=True)
        oracle = ResumableGridOracle(
            objective=kt.Objective("mig", direction="max"),
            max_trials=len(betas) * len(seeds),
            hyperparameters=hyperparameters,
            allow_new_entries=False,
            tune_new_entries=False,
            # A failed trial stops the sweep at once with its traceback, rather than being skipped.
            max_consecutive_failed_trials=1,
        )
        super().__init__(oracle=oracle, directory=out_dir, project_name="tuner", overwrite=False, **kwargs)
        self.settings, self.out_dir = settings, out_dir
        self.preset, self.metric_seed, self.metrics, self.sizes = preset, metric_seed, metrics, sizes
        self.dci_model = dci_model

    def run_trial(self, trial, *args, **kwargs):
        beta, seed = trial.hyperparameters.get("beta"), trial.hyperparameters.get("seed")
        name = trial_name(beta, seed)
        run_dir = os.path.join(self.out_dir, "runs", name)
        result_path = os.path.join(run_dir, RESULT_FILE)
        if os.path.isfile(result_path):  # finished, but killed before keras-tuner recorded it
            with open(result_path) as f:
                return objective_values(json.load(f))
        start = time.perf_counter()
        run = train(self.settings, beta=beta, seed=seed, name=name, resume=True, overwrite=False,
                    runs_dir=os.path.join(self.out_dir, "runs"),
                    saved_models_dir=os.path.join(self.out_dir, "saved_models"))
        train_seconds = time.perf_counter() - start
        report = evaluate_model(run["saved_model"], metrics=self.metrics, preset=self.preset,
                                seed=self.metric_seed, sizes=self.sizes, dci_model=self.dci_model)
        write_report(report, run["saved_model"])
        final = run["final"]
        result = {
            "trial_id": trial.trial_id,
            "worker": self.tuner_id,
            "beta": beta,
            "seed": seed,
            "epochs": len(run["history"].get("loss", [])),
            **{f"{split}{term}": final.get(f"{prefix}{term}") for split, prefix in (("train_", ""), ("val_", "val_"))
               for term in ("loss", "recon", "kl")},
            "active_latents_kl": len(run["active_latents"]),
            "active_latents_std": report["active_latents"],
            **report["scores"],
            "train_seconds": train_seconds,
            "eval_seconds": report["time"]["total_s"],
            "run_dir": os.path.abspath(run["run_dir"]),
            "saved_model": os.path.abspath(run["saved_model"]),
        }
        write_json(result_path, result)
        collect_results(self.out_dir)
        keras.backend.clear_session()  # trials run one after another in this process
        return objective_values(result)


def objective_values(result):
    """The numbers keras-tuner records for a trial (finite floats only)."""
    return {key: float(value) for key, value in result.items()
            if isinstance(value, (int, float)) and key not in ("trial_id", "beta", "seed")
            and value == value}


def collect_results(out_dir):
    """Gather every finished trial's ``result.json`` into the tidy ``results.csv`` (one row a trial)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(out_dir, "runs", "*", RESULT_FILE))):
        with open(path) as f:
            rows.append(json.load(f))
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["beta", "seed"]).reset_index(drop=True)
    write_text(os.path.join(out_dir, RESULTS_CSV), table.to_csv(index=False))
    return table


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m bvae_tf.sweep", description=__doc__.splitlines()[0])
    grid = parser.add_argument_group("sweep")
    grid.add_argument("--betas", type=float, nargs="+", default=list(REPORT_BETAS),
                      help="β values (default: the report's 0.5 1 2.5 5 7.5 10 50)")
    grid.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds per β (default 0)")
    grid.add_argument("--name", default="beta_sweep", help="sweep name (default beta_sweep)")
    grid.add_argument("--out", default=None, help="sweep folder (default sweeps/<name>)")
    grid.add_argument("--preset", choices=sorted(sampling.PRESETS), default="fast",
                      help="metric sizes: fast, or reference (the spec's 10,000/5,000) (default fast)")
    grid.add_argument("--metrics", default=None, help="comma-separated metrics (default all)")
    grid.add_argument("--metric-seed", type=int, default=0, help="seed of the metric sampling (default 0)")
    grid.add_argument("--dci-model", choices=sorted(DCI_MODELS), default="reference",
                      help="DCI classifier: reference (the spec's) or fast (approximate) (default reference)")
    grid.add_argument("--metric-size", action="append", default=[], metavar="NAME=N",
                      help="override one sample size of the preset, e.g. num_train=2000 (repeatable)")
    grid.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                      help="Keras progress per trial: 0 only a summary line per epoch, 1 bar, 2 Keras' line (default 0)")
    add_training_arguments(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    out_dir = args.out or os.path.join("sweeps", args.name)
    if len(set(args.betas)) != len(args.betas) or len(set(args.seeds)) != len(args.seeds):
        raise UserError("--betas and --seeds must not repeat a value")
    if min(args.betas) < 0:
        raise UserError(f"--betas must be >= 0, got {min(args.betas)}")
    metrics = resolve_metrics(args.metrics.split(",")) if args.metrics else None
    if metrics is not None and "mig" not in metrics:
        raise UserError(f"--metrics must include mig, the sweep's objective; got {args.metrics}")
    sizes = {}
    for item in args.metric_size:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise UserError(f"--metric-size takes NAME=N (e.g. num_train=2000), got {item!r}")
        sizes[name] = int(value)
    resolve_sizes(args.preset, sizes)  # reject a bad size now, not after the first training
    sweep_keys = ("betas", "seeds", "name", "out", "preset", "metrics", "metric_seed", "metric_size", "dci_model",
                  "beta", "seed")
    settings = {key: value for key, value in vars(args).items() if key not in sweep_keys}
    settings["data_dir"] = args.data_dir or default_data_dir(args)
    # Check every training flag (and a first trial's resumability) before anything is written.
    check_config(resolve_config(settings, beta=args.betas[0], seed=args.seeds[0], resume=True,
                                name=trial_name(args.betas[0], args.seeds[0]),
                                runs_dir=os.path.join(out_dir, "runs"),
                                saved_models_dir=os.path.join(out_dir, "saved_models")))
    prepare_from_args(args)  # once, before any trial (workers reuse it)
    os.makedirs(out_dir, exist_ok=True)
    config_path = os.path.join(out_dir, "sweep.json")
    sweep_config = {"betas": args.betas, "seeds": args.seeds, "preset": args.preset, "metrics": metrics,
                    "metric_seed": args.metric_seed, "metric_sizes": sizes, "dci_model": args.dci_model,
                    "training": settings}
    if os.path.isfile(config_path):
        with open(config_path) as f:
            previous = json.load(f)
        if previous != sweep_config:
            differs = [key for key in sweep_config if previous.get(key) != sweep_config[key]]
            raise UserError(f"{out_dir} holds a sweep with other settings ({', '.join(differs)} differ); "
                            "rerun it with the same flags to resume, or choose another --out")
    else:
        write_json(config_path, sweep_config)
    print(f"sweep: {len(args.betas) * len(args.seeds)} trials (β {args.betas} x seeds {args.seeds}) -> {out_dir}")
    tuner = BetaSweep(settings, out_dir, args.betas, args.seeds, preset=args.preset,
                      metric_seed=args.metric_seed, metrics=metrics, sizes=sizes, dci_model=args.dci_model)
    tuner.search()
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        table = collect_results(out_dir)
        print(f"{len(table)} trials finished; table: {os.path.join(out_dir, RESULTS_CSV)}")
    return 0


if __name__ == "__main__":
    run_cli(main)
