"""The sweep report: ``python -m bvae_tf.report sweeps/<name>``.

Reads a sweep folder only (``results.csv``, each run's ``history.csv``, each SavedModel and its
``metrics.json``/``matrices.npz``; nothing is trained or scored here) and writes, under
``<sweep>/report/``, PNG figures, ``summary.csv`` and ``summary.md`` (Table 1) and one
self-contained ``report.html`` with every image embedded. Trials are grouped by model (β-VAE,
AnnealedVAE, FactorVAE, DIP-VAE-I/II, β-TCVAE), each swept over its main hyperparameter:

1. KL, reconstruction and total loss per epoch, one curve per value, mean over seeds with a band.
2. Latent traversals (rows sorted by KL, labelled with the factor of highest MI).
3. Every metric against the hyperparameter, per model (every seed a dot, the mean with its 95 %
   interval; β=1 of β-VAE drawn as a red dashed baseline) and, with several models, every metric
   side by side per model.
4. Factor x latent matrices for each model's best setting by MIG (and β-VAE's β=1).
5. The summary table, mean [95 % interval] over seeds per model and value (``stats``: Student's t
   below 10 seeds, a seeded bootstrap from 10), where each metric's variance lies (between
   settings or over seeds), and "what this study shows": the settings whose interval does not
   overlap the baseline's (β=1 for β-VAE, else the model's lowest value).
6. Reconstructions of the same inputs, and reconstruction loss against MIG (every seed a dot).
7. The metrics' Spearman rank correlations with each other over the trials
   (``metric_correlations.png``) and, when ``python -m bvae_tf.udr`` has written ``udr.csv``, UDR
   against MIG and DCI (``udr.png``) and a table of each trial's UDR.

A β-VAE-only sweep keeps the β study's file names: ``loss_{kl,recon,loss}.png``,
``traversals_beta<β>.png`` (nearest to ``--traversal-beta``), ``metrics_vs_beta.png``. Any other sweep names its per-model
figures after the model: ``losses_<model>.png``, ``traversals_<model>.png`` (best value by mean
MIG), ``metrics_vs_<hyperparameter>_<model>.png``, plus ``models_comparison.png`` when it holds
several models. ``matrices.png``, ``reconstructions.png`` and ``tradeoff_recon_vs_mig.png``
always.
"""

import os

from bvae_tf import saved_model
from bvae_tf.errors import ArgumentParser
from bvae_tf.files import write_text
from bvae_tf.layout import ReportFolder, SweepFolder, trial_name
from bvae_tf.report.families import family_figures
from bvae_tf.report.figures import (
    plot_all,
    plot_comparison,
    plot_losses,
    plot_matrices,
    plot_metrics,
    plot_reconstructions,
    plot_tradeoff,
    plot_traversals,
    spread_label,
)
from bvae_tf.report.html import SHARES_TITLE, TABLE_TITLE, TRIALS_TITLE, UDR_TITLE, write_html
from bvae_tf.report.reading import (
    best_value,
    beta_only,
    hyperparameter_of,
    load_sweep,
    metric_labels,
    models,
    report_dataset,
    setting,
    symbol,
    table_labels,
)
from bvae_tf.report.stats import findings, interval, variance_shares
from bvae_tf.report.table import format_table, format_trials, markdown, summarize

__all__ = [
    "best_value",
    "findings",
    "format_table",
    "format_trials",
    "interval",
    "load_sweep",
    "main",
    "make_report",
    "metric_labels",
    "models",
    "plot_all",
    "plot_comparison",
    "plot_losses",
    "plot_matrices",
    "plot_metrics",
    "plot_reconstructions",
    "plot_tradeoff",
    "plot_traversals",
    "setting",
    "spread_label",
    "summarize",
    "symbol",
    "table_labels",
    "trial_name",
    "variance_shares",
    "write_html",
]


def _title(results, sweep_dir):
    kind = "β sweep" if beta_only(results) else "Model sweep"
    return f"{kind} report: {os.path.basename(os.path.abspath(sweep_dir))} ({report_dataset(results).name})"


def _overview(results):
    """One line: trials (of how many the grid has, while the sweep is unfinished), each model's
    values, seeds."""
    parts = []
    for model in models(results):
        rows = results[results["model"] == model]
        shown = ", ".join(f"{v:g}" for v in sorted(rows["value"].unique()))
        values = f"{symbol(hyperparameter_of(rows))} ∈ {{{shown}}}"
        parts.append(values if beta_only(results) else f"{model} {values}")
    trials = f"{len(results)} trials"
    planned, ended = results.attrs.get("planned"), len(results) + len(results.attrs.get("left_out", []))
    if planned and ended < planned:
        trials = f"{len(results)} of the sweep's {planned} trials (unfinished: rerun its command to continue it)"
    return f"{trials}, {', '.join(parts)}, seeds {sorted(int(s) for s in results['seed'].unique())}."


def _shares_text(shares):
    """The variance shares as percentages, one row per metric."""
    text = shares.map(lambda share: f"{100 * share:.0f} %")
    text.index.name = "metric"
    return text


def make_report(sweep_dir, out_dir=None, traversal_beta=5.0):
    """Write every figure, the table and the HTML page; returns the output folder."""
    results, histories = load_sweep(sweep_dir)
    left_out = results.attrs.get("left_out", [])
    notes = (
        [f"Left out {len(left_out)} failed trial(s), which have no metrics: {'; '.join(left_out)}."] if left_out else []
    )
    out_dir = out_dir or SweepFolder(sweep_dir).report
    os.makedirs(out_dir, exist_ok=True)
    figures = plot_all(results, histories, out_dir, traversal_beta)
    more, udr = family_figures(results, sweep_dir, out_dir)
    figures += [(f"Figure {len(figures) + i}: {caption}", name) for i, (caption, name) in enumerate(more, start=1)]
    table = summarize(results)
    write_text(ReportFolder(out_dir).summary_csv, table.to_csv())
    text = format_table(table)
    shares = _shares_text(variance_shares(results))
    shown = findings(results)
    title = _title(results, sweep_dir)
    overview = _overview(results)
    lines = [f"# {title}", "", overview, "", *[f"{note}\n" for note in notes]]
    if shown:
        lines += ["## What this study shows", "", *[f"{sentence}\n" for sentence in shown]]
    lines += [f"## {TABLE_TITLE}", "", markdown(text), ""]
    if not shares.empty:
        lines += [f"## {SHARES_TITLE}", "", markdown(shares), ""]
    tables = [(TRIALS_TITLE, format_trials(results))] + ([(UDR_TITLE, udr)] if udr is not None else [])
    for caption, frame in tables:
        lines += [f"## {caption}", "", markdown(frame), ""]
    lines += [f"## {caption}\n\n![{caption}]({name})\n" for caption, name in figures]
    write_text(ReportFolder(out_dir).summary_md, "\n".join(lines))
    write_html(out_dir, figures, text, title, [overview, *notes], shown, shares, tables)
    saved_model.forget()
    return out_dir


def main(argv=None):
    parser = ArgumentParser(prog="python -m bvae_tf.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="sweep folder written by python -m bvae_tf.sweep")
    parser.add_argument("--out", default=None, help="output folder (default <sweep>/report)")
    parser.add_argument(
        "--traversal-beta",
        type=float,
        default=5.0,
        help="β-VAE-only sweeps: the β whose traversals are drawn (nearest available); "
        "other sweeps draw each model's best setting by MIG",
    )
    args = parser.parse_args(argv)
    out_dir = make_report(args.sweep, args.out, args.traversal_beta)
    print(f"report written to {out_dir} (open report.html)")
    return 0
