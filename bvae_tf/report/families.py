"""The report's views across metrics: how the metrics rank a sweep's trials against each other, and
UDR (`bvae_tf.udr`) when the sweep has been scored with it."""

import os

import numpy as np
import pandas as pd

from bvae_tf.layout import SweepFolder
from bvae_tf.report.figures import _save, plt
from bvae_tf.report.reading import metric_labels

UDR_LABELS = {"udr_lasso": "UDR (lasso)", "udr_spearman": "UDR (Spearman)"}


def read_udr(sweep_dir):
    """The sweep's udr.csv (written by ``python -m bvae_tf.udr``), or None."""
    path = os.path.join(SweepFolder(sweep_dir).path, "udr.csv")
    return pd.read_csv(path) if os.path.isfile(path) else None


def with_udr(results, udr):
    """``results`` with the UDR columns of ``udr`` (by trial; None: unchanged)."""
    if udr is None:
        return results
    return results.merge(udr[["trial", *UDR_LABELS]], on="trial", how="left")


def rank_correlations(results):
    """Spearman's rank correlation [metric, metric] over the trials, of every labelled score column
    present with at least two distinct values (UDR's too); pairwise-complete rows."""
    labels = {**metric_labels(), **UDR_LABELS}
    columns = [c for c in labels if c in results and results[c].nunique(dropna=True) > 1]
    table = results[columns].apply(pd.to_numeric, errors="coerce").corr(method="spearman", min_periods=3)
    return table.rename(index=labels, columns=labels)


def plot_metric_correlations(results, out_dir):
    """metric_correlations.png: the metric x metric rank correlations; None with fewer than 3
    trials or 2 metrics (nothing to rank)."""
    table = rank_correlations(results)
    if len(results) < 3 or len(table) < 2:
        return None
    size = 1.0 + 0.55 * len(table)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(table.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(table)), table.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(table)), table.index, fontsize=8)
    for (i, j), value in np.ndenumerate(table.to_numpy(float)):
        if np.isfinite(value):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(value) > 0.6 else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, label="Spearman ρ")
    ax.set_title(f"rank correlation of the metrics over {len(results)} trials", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, "metric_correlations.png")


def udr_table(udr):
    """udr.csv as the report shows it: one row per trial."""
    table = udr.set_index("trial")[["model", "value", "seed", *UDR_LABELS]].rename(columns=UDR_LABELS)
    return table.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)).assign(
        value=[f"{v:g}" for v in udr["value"]]
    )


def family_figures(results, sweep_dir, out_dir):
    """[(caption, file name)] of the cross-metric figures, and udr.csv's table (None without one)."""
    from bvae_tf.udr import plot_udr  # its plotting only: nothing is encoded here

    udr = read_udr(sweep_dir)
    figures = []
    correlations = plot_metric_correlations(with_udr(results, udr), out_dir)
    if correlations:
        figures.append(("metric x metric Spearman rank correlation over the trials", correlations))
    if udr is not None:
        plot_udr(udr, results, os.path.join(out_dir, "udr.png"))
        figures.append(("UDR against the supervised metrics (Spearman ρ in each title)", "udr.png"))
    return figures, None if udr is None else udr_table(udr)
