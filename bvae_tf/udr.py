"""UDR of a sweep's trials: ``python -m bvae_tf.udr sweeps/<name>``.

    python -m bvae_tf.udr sweeps/<name> [--preset fast] [--num-points N] [--seed S]

UDR (Duan et al., ICLR 2020; `bvae_tf.metrics.udr`) is a property of a set of models, not of one:
a trial scores high when its informative latents match, one to one, those of the other trials
of the same model type on the same dataset. So it is scored here, over a finished sweep, rather
than by ``evaluate``: every trial of a (model, dataset) group encodes the same seeded inputs,
its mean KL per latent comes from its encoder's mean and log-variance, and each trial gets its
UDR against the others of its group, with both correlations (lasso and Spearman). Writes
``udr.csv`` (trial, model, value, seed, udr_lasso, udr_spearman) and ``udr.png`` (UDR against
MIG and DCI disentanglement over the trials, with their Spearman rank correlation: the paper's
check that UDR ranks models as the supervised metrics do) into the sweep folder; the report
shows both when they are there.
"""

import json
import os

import numpy as np
import pandas as pd

from bvae_tf.data import get_dataset
from bvae_tf.errors import ArgumentParser, UserError, run_cli
from bvae_tf.files import write_atomic
from bvae_tf.layout import RunFolder, SweepFolder
from bvae_tf.metrics import sampling
from bvae_tf.metrics.udr import CORRELATIONS, udr
from bvae_tf.report.reading import load_sweep
from bvae_tf.saved_model import SavedModel

NUM_POINTS = {"reference": 10_000, "fast": 1_000}  # the paper's inputs; disentanglement_lib's tests' 1,000
COLUMNS = ("trial", "model", "value", "seed", *(f"udr_{c}" for c in CORRELATIONS))
AGAINST = {"mig": "MIG", "dci_disentanglement": "DCI disentanglement"}  # the supervised scores UDR is set beside
BATCH = 500


def trial_dataset(run_dir):
    """The dataset a trial was trained on: its run's config.json ``dataset`` (dsprites_full when absent)."""
    try:
        with open(RunFolder(run_dir).config) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return "dsprites_full"
    settings = config.get("settings", config) if isinstance(config, dict) else {}
    return config.get("dataset") or (settings.get("dataset") if isinstance(settings, dict) else None) or "dsprites_full"


def encode(saved_model, observations):
    """(means [N, L], mean KL per latent [L]) of a SavedModel's ``encode`` on ``observations``; the
    KL of N(mean, exp(logvar)) from N(0, 1), per latent, averaged over the inputs."""
    model = SavedModel(saved_model).require("encode")
    means, kls = [], []
    for start in range(0, len(observations), BATCH):
        out = model.call("encode", observations[start : start + BATCH])
        if "logvar" not in out:
            raise UserError(f"{saved_model}: its encode signature returns no `logvar`, which UDR's KL needs")
        mean, logvar = np.asarray(out["mean"], np.float64), np.asarray(out["logvar"], np.float64)
        means.append(mean)
        kls.append(0.5 * (mean**2 + np.exp(logvar) - logvar - 1.0))
    return np.concatenate(means), np.concatenate(kls).mean(axis=0)


def groups(results):
    """{(model, dataset): rows} of the finished trials; UserError when a group has fewer than 2."""
    results = results.assign(dataset=[trial_dataset(path) for path in results["run_dir"]])
    found = {key: rows for key, rows in results.groupby(["model", "dataset"], sort=False)}
    small = [f"{model} on {dataset} ({len(rows)})" for (model, dataset), rows in found.items() if len(rows) < 2]
    if small:
        raise UserError(
            f"UDR compares the trials of one model type on one dataset, and needs at least 2 finished trials "
            f"each; too few: {', '.join(small)}: add seeds or values to the sweep"
        )
    return found


def score_sweep(sweep_dir, num_points=NUM_POINTS["reference"], seed=0):
    """udr.csv's table: each finished trial's UDR (lasso and Spearman) within its (model, dataset) group."""
    results, _ = load_sweep(sweep_dir)
    rows = []
    for (model, dataset_name), trials in groups(results).items():
        dataset = get_dataset(dataset_name)
        observations = sampling.example_observations(dataset, num_points, seed)
        encoded = [encode(path, observations) for path in trials["saved_model"]]
        codes, kl = [c for c, _ in encoded], [k for _, k in encoded]
        scores = {c: udr(codes, kl, c, seed).model_scores for c in CORRELATIONS}
        for k, trial in enumerate(trials.itertuples()):
            row = {"trial": trial.trial, "model": model, "value": trial.value, "seed": trial.seed}
            rows.append({**row, **{f"udr_{c}": float(scores[c][k]) for c in CORRELATIONS}})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def rank_correlation(x, y):
    """Spearman's rho of two columns over the rows where both are finite (NaN with < 3 such rows or a constant)."""
    import scipy.stats

    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return float("nan")
    return float(scipy.stats.spearmanr(x[keep], y[keep])[0])


def plot_udr(table, results, path):
    """UDR (rows: lasso, Spearman) against MIG and DCI disentanglement (columns, those in
    ``results``), one dot per trial coloured by model, Spearman's rho in each title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    merged = table.merge(results.drop(columns=[c for c in table if c != "trial"], errors="ignore"), on="trial")
    against = [c for c in AGAINST if c in merged]
    if not against:
        raise UserError("results.csv has neither mig nor dci_disentanglement to set UDR beside")
    fig, axes = plt.subplots(
        len(CORRELATIONS), len(against), figsize=(4.6 * len(against), 3.6 * len(CORRELATIONS)), squeeze=False
    )
    for row, correlation in zip(axes, CORRELATIONS):
        for ax, column in zip(row, against):
            x, y = merged[column].to_numpy(float), merged[f"udr_{correlation}"].to_numpy(float)
            for model, rows in merged.groupby("model", sort=False):
                ax.scatter(rows[column], rows[f"udr_{correlation}"], s=18, label=model)
            ax.set_xlabel(AGAINST[column])
            ax.set_ylabel(f"UDR ({correlation})")
            ax.set_title(f"Spearman ρ = {rank_correlation(x, y):.2f} over {len(merged)} trials", fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    write_atomic(path, lambda temp: fig.savefig(temp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def main(argv=None):
    parser = ArgumentParser(prog="python -m bvae_tf.udr", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="sweep folder written by python -m bvae_tf.sweep")
    parser.add_argument(
        "--preset",
        default="reference",
        choices=sorted(NUM_POINTS),
        help="inputs each trial encodes: reference = 10,000 (the paper's), fast = 1,000",
    )
    parser.add_argument("--num-points", type=int, help="override the preset's number of inputs (>= 10)")
    parser.add_argument("--seed", type=int, default=0, help="draws the inputs; same seed, same numbers")
    args = parser.parse_args(argv)
    num_points = args.num_points if args.num_points is not None else NUM_POINTS[args.preset]
    if num_points < 10:
        raise UserError(f"--num-points must be >= 10, got {num_points}")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    table = score_sweep(args.sweep, num_points, args.seed)
    folder = SweepFolder(args.sweep)
    csv = os.path.join(folder.path, "udr.csv")
    write_atomic(csv, lambda temp: table.to_csv(temp, index=False))
    results, _ = load_sweep(args.sweep)
    figure = plot_udr(table, results, os.path.join(folder.path, "udr.png"))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {csv} and {figure}")
    return table


if __name__ == "__main__":
    run_cli(main)
