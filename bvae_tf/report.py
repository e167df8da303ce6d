"""The β-sweep report: ``python -m bvae_tf.report sweeps/<name>``.

Reads a sweep folder only (``results.csv``, each run's ``history.csv``, each SavedModel and its
``metrics.json``/``matrices.npz``; nothing is trained or scored here) and writes, under
``<sweep>/report/``, PNG figures, ``summary.csv`` and ``summary.md`` (Table 1) and one
self-contained ``report.html`` with every image embedded:

1. KL, reconstruction and total loss per epoch, one curve per β, mean over seeds with a band.
2. Latent traversals for one β, rows sorted by KL and labelled with the factor of highest MI.
3. Every metric against β (mean ± std over seeds), β=1 drawn as a red dashed baseline.
4. Factor x latent matrices for β=1 and the best β by MIG: normalized MI, mean |Δz|, modularity.
5. The summary table, mean ± std per β.
6. Reconstructions of the same inputs for every β, and reconstruction loss against MIG.
"""

import argparse
import base64
import html
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bvae_tf.data.dsprites import FACTOR_NAMES, DSprites  # noqa: E402
from bvae_tf.errors import UserError, run_cli  # noqa: E402
from bvae_tf.files import write_atomic, write_text  # noqa: E402
from bvae_tf.images import tile, traversal_grid  # noqa: E402
from bvae_tf.layout import ModelFolder, ReportFolder, RunFolder, SweepFolder, run_name  # noqa: E402
from bvae_tf.metrics import registry  # noqa: E402
from bvae_tf.saved_model import SavedModel  # noqa: E402

LOSS_TERMS = {"kl": "KL divergence (nats)", "recon": "reconstruction loss (nats)", "loss": "total loss"}
RUN_LABELS = {"val_recon": "recon (val)", "val_kl": "KL (val)", "val_loss": "loss (val)",
              "active_latents_kl": "active latents"}


def metric_labels():
    """{results.csv column: label} of every registered metric's shown scores."""
    return registry.score_labels()


def table_labels():
    return {**RUN_LABELS, **metric_labels()}


def load_sweep(sweep_dir):
    """The results table and each trial's per-epoch history (one frame, a row per trial and epoch)."""
    path = SweepFolder(sweep_dir).results
    if not os.path.isfile(path):
        raise UserError(f"{sweep_dir} is not a sweep folder: results.csv is missing (run python -m bvae_tf.sweep)")
    results = pd.read_csv(path)
    if results.empty:
        raise UserError(f"{path} holds no finished trial yet")
    # Each trial's folders, found from its β and seed in this sweep folder (not from stored paths,
    # so a copied or moved sweep works).
    names = [run_name(beta, int(seed)) for beta, seed in zip(results["beta"], results["seed"])]
    results["run_dir"] = [SweepFolder(sweep_dir).run(name).path for name in names]
    results["saved_model"] = [SweepFolder(sweep_dir).model(name).path for name in names]
    histories = []
    for row in results.itertuples():
        history = pd.read_csv(RunFolder(row.run_dir).history)
        histories.append(history.assign(beta=row.beta, seed=row.seed, epoch=history["epoch"] + 1))
    return results, pd.concat(histories, ignore_index=True)


def _save(fig, out_dir, name):
    write_atomic(ReportFolder(out_dir).figure(name), lambda temp: fig.savefig(temp, format="png", dpi=110,
                                                                         bbox_inches="tight"))
    plt.close(fig)
    return name


def _beta_colors(betas):
    colors = plt.cm.viridis(np.linspace(0, 0.95, len(betas)))
    return dict(zip(betas, colors))


def plot_losses(histories, out_dir):
    """Figures 1-3: each loss term per epoch, mean over seeds with a min-max band, one curve per β."""
    names = []
    colors = _beta_colors(sorted(histories["beta"].unique()))
    for term, label in LOSS_TERMS.items():
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, prefix, title in ((axes[0], "", "training"), (axes[1], "val_", "validation")):
            column = prefix + term
            if column not in histories:
                continue
            stats = histories.groupby(["beta", "epoch"])[column].agg(["mean", "min", "max"]).reset_index()
            for beta, group in stats.groupby("beta"):
                ax.plot(group["epoch"], group["mean"], marker="o", color=colors[beta], label=f"β={beta:g}")
                ax.fill_between(group["epoch"], group["min"], group["max"], color=colors[beta], alpha=0.2)
            ax.set(title=f"{label}, {title}", xlabel="epoch")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(label)
        axes[1].legend(fontsize=8)
        names.append(_save(fig, out_dir, f"loss_{term}.png"))
    return names


def summarize(results):
    """Table 1: mean ± std over seeds of every loss and metric, one row per β."""
    columns = [c for c in table_labels() if c in results]
    grouped = results.groupby("beta")[columns]
    mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    table = pd.concat({"mean": mean, "std": std}, axis=1)
    table.insert(0, ("seeds", "n"), results.groupby("beta").size())
    return table


def format_table(table):
    """Table 1 as text: one row per β, each cell "mean ± std", columns named as in the figures."""
    columns = [c for c in table_labels() if ("mean", c) in table]
    cells = {table_labels()[c]: [f"{m:.3f} ± {s:.3f}" for m, s in zip(table[("mean", c)], table[("std", c)])]
             for c in columns}
    text = pd.DataFrame({"seeds": [str(n) for n in table[("seeds", "n")]], **cells},
                        index=[f"{beta:g}" for beta in table.index])
    text.index.name = "β"
    return text


def _markdown(text):
    lines = ["| β | " + " | ".join(text.columns) + " |", "|" + "---|" * (len(text.columns) + 1)]
    lines += [f"| {beta} | " + " | ".join(row) + " |" for beta, row in zip(text.index, text.values)]
    return "\n".join(lines)


def plot_metrics(results, out_dir):
    """Figure 5: each metric against β (log axis), mean ± std over seeds, β=1 as a red dashed line."""
    metrics = [m for m in metric_labels() if m in results]
    columns = 3
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False)
    stats = results.groupby("beta")[metrics].agg(["mean", "std"])
    for ax, metric in zip(axes.flat, metrics):
        mean, std = stats[(metric, "mean")], stats[(metric, "std")].fillna(0.0)
        ax.errorbar(stats.index, mean, yerr=std, marker="o", capsize=3)
        ax.scatter(results["beta"], results[metric], s=10, color="gray", alpha=0.6, zorder=3)
        if 1.0 in stats.index:
            ax.axhline(mean[1.0], color="red", linestyle="--", label="β=1 (VAE)")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set(title=metric_labels()[metric], xlabel="β")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, out_dir, "metrics_vs_beta.png")


def _trial(results, beta):
    """The trial shown for a β: its best seed by MIG (or the first seed without metrics)."""
    rows = results[results["beta"] == beta]
    return rows.loc[rows["mig"].idxmax()] if "mig" in rows and rows["mig"].notna().any() else rows.iloc[0]


def _matrices(trial):
    path = ModelFolder(trial["saved_model"]).matrices
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing: evaluate the model first (python -m bvae_tf.evaluate)")
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def plot_matrices(results, out_dir):
    """Figures 6-7: factor x latent views for β=1 and for the best β by mean MIG."""
    mean_mig = results.groupby("beta")["mig"].mean()
    betas = list(dict.fromkeys([b for b in (1.0, mean_mig.idxmax()) if b in mean_mig.index]))
    views = [
        ("mig_normalized_mutual_info", "normalized MI (MIG)", True),
        ("zdiff_mean_abs_diff", "mean |Δz| with the factor fixed (Z-diff)", False),
        ("modularity_mutual_info", "MI, per-latent modularity (Modularity)", True),
    ]
    fig, axes = plt.subplots(len(betas), len(views), figsize=(5.2 * len(views), 3.2 * len(betas)), squeeze=False)
    for row, beta in enumerate(betas):
        trial = _trial(results, beta)
        matrices = _matrices(trial)
        for ax, (key, title, latent_major) in zip(axes[row], views):
            if key not in matrices:
                ax.axis("off")
                continue
            matrix = matrices[key].T if latent_major else matrices[key]  # factors x latents
            image = ax.imshow(matrix, cmap="viridis", aspect="auto")
            ax.set_yticks(range(len(FACTOR_NAMES)), FACTOR_NAMES)
            ax.set_xticks(range(matrix.shape[1]), [f"z{i}" for i in range(matrix.shape[1])], fontsize=7)
            if key == "modularity_mutual_info" and "modularity_modularity_per_latent" in matrices:
                per_latent = matrices["modularity_modularity_per_latent"]
                ax.set_xticks(range(matrix.shape[1]), [f"z{i}\n{m:.2f}" for i, m in enumerate(per_latent)],
                              fontsize=7)
            ax.set_title(f"β={beta:g} (seed {int(trial['seed'])}): {title}", fontsize=9)
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, out_dir, "matrices.png")


def _shown_images(count=8, seed=0):
    """The fixed inputs of the qualitative figures: seeded uniform factors, rendered."""
    classes = DSprites.sample_factors(count, seed)
    return DSprites().images(classes)[..., None].astype(np.float32)


def plot_traversals(results, out_dir, beta):
    """Figure 4: latent traversal of one image, rows sorted by KL and named by their top-MI factor."""
    available = np.array(sorted(results["beta"].unique()))
    beta = float(available[np.argmin(np.abs(np.log(available + 1e-12) - np.log(beta + 1e-12)))])
    trial = _trial(results, beta)
    model = SavedModel(trial["saved_model"]).require("encode", "decode")
    with open(ModelFolder(trial["saved_model"]).card) as f:
        kl = np.asarray(json.load(f)["kl_per_latent"], np.float64)
    image = _shown_images(1)
    code = model.call("encode", image)["mean"][0]
    values = np.linspace(-3, 3, 9)
    grid, order = traversal_grid(lambda z: model.call("decode", z)["probs"], code, kl_per_latent=kl, values=values)
    mi = _matrices(trial).get("mig_normalized_mutual_info")
    fig, ax = plt.subplots(figsize=(7, 0.75 * len(order) + 0.8))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    labels = []
    for latent in order:
        factor = f"{FACTOR_NAMES[int(np.argmax(mi[latent]))]} ({mi[latent].max():.2f})" if mi is not None else ""
        labels.append(f"z{latent} KL={kl[latent]:.2f}\n{factor}")
    ax.set_yticks(np.arange(len(order)) * 64 + 32, labels, fontsize=7)
    ax.set_xticks(np.arange(len(values)) * 64 + 32, [f"{v:+.1f}" for v in values], fontsize=7)
    ax.set_title(f"latent traversals, β={beta:g} (seed {int(trial['seed'])}); rows by KL, factor of highest MI")
    return _save(fig, out_dir, f"traversals_beta{beta:g}.png")


def plot_reconstructions(results, out_dir):
    """Beyond the study: the same inputs reconstructed by every β (the best seed of each)."""
    images = _shown_images()
    rows, labels = [images[..., 0]], ["input"]
    for beta in sorted(results["beta"].unique()):
        model = SavedModel(_trial(results, beta)["saved_model"]).require("reconstruct")
        rows.append(model.call("reconstruct", images)["probs"].reshape(-1, 64, 64))
        labels.append(f"β={beta:g}")
    grid = tile(np.concatenate(rows), len(images))
    fig, ax = plt.subplots(figsize=(8, 1.0 * len(rows) + 0.5))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(rows)) * 64 + 32, labels)
    ax.set_xticks([])
    ax.set_title("reconstructions of the same inputs")
    return _save(fig, out_dir, "reconstructions.png")


def plot_tradeoff(results, out_dir):
    """Beyond the study: validation reconstruction loss against MIG, one point per trial."""
    colors = _beta_colors(sorted(results["beta"].unique()))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for beta, rows in results.groupby("beta"):
        ax.scatter(rows["mig"], rows["val_recon"], color=colors[beta], label=f"β={beta:g}", s=40)
    ax.set(xlabel="MIG", ylabel="validation reconstruction loss (nats)", title="disentanglement vs reconstruction")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "tradeoff_recon_vs_mig.png")


def write_html(out_dir, figures, table_text, title):
    """One self-contained page: every PNG embedded as base64, the table as HTML."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>",
             f"</head><body><h1>{html.escape(title)}</h1>"]
    parts.append("<h2>Table 1: metrics per β (mean ± std over seeds)</h2>")
    parts.append(table_text.to_html())
    for caption, name in figures:
        with open(ReportFolder(out_dir).figure(name), "rb") as f:
            encoded = base64.b64encode(f.read()).decode("ascii")
        parts.append(f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(name)}' "
                     f"src='data:image/png;base64,{encoded}'>")
    parts.append("</body></html>")
    path = ReportFolder(out_dir).html
    write_text(path, "\n".join(parts))
    return path


def make_report(sweep_dir, out_dir=None, traversal_beta=5.0):
    """Write every figure, the table and the HTML page; returns the output folder."""
    results, histories = load_sweep(sweep_dir)
    out_dir = out_dir or SweepFolder(sweep_dir).report
    os.makedirs(out_dir, exist_ok=True)
    figures = [(f"Figure {i + 1}: {label} per epoch", name)
               for i, (label, name) in enumerate(zip(LOSS_TERMS.values(), plot_losses(histories, out_dir)))]
    figures.append(("Figure 4: latent traversals", plot_traversals(results, out_dir, traversal_beta)))
    figures.append(("Figure 5: metrics against β (red dashed: β=1)", plot_metrics(results, out_dir)))
    figures.append(("Figures 6-7: factor x latent matrices, β=1 and the best β by MIG",
                    plot_matrices(results, out_dir)))
    figures.append(("Reconstructions of the same inputs for every β", plot_reconstructions(results, out_dir)))
    figures.append(("Trade-off: reconstruction loss against MIG", plot_tradeoff(results, out_dir)))
    table = summarize(results)
    write_text(ReportFolder(out_dir).summary_csv, table.to_csv())
    text = format_table(table)
    markdown = _markdown(text)
    lines = [f"# β sweep report: {os.path.basename(os.path.abspath(sweep_dir))}", "",
             f"{len(results)} trials, β ∈ {{{', '.join(f'{b:g}' for b in sorted(results['beta'].unique()))}}}, "
             f"seeds {sorted(int(s) for s in results['seed'].unique())}.", "",
             "## Table 1: mean ± std over seeds", "", markdown, ""]
    lines += [f"## {caption}\n\n![{caption}]({name})\n" for caption, name in figures]
    write_text(ReportFolder(out_dir).summary_md, "\n".join(lines))
    write_html(out_dir, figures, text, f"β sweep report: {os.path.basename(os.path.abspath(sweep_dir))}")
    return out_dir


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bvae_tf.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="sweep folder written by python -m bvae_tf.sweep")
    parser.add_argument("--out", default=None, help="output folder (default <sweep>/report)")
    parser.add_argument("--traversal-beta", type=float, default=5.0,
                        help="β whose traversals are drawn (nearest available; default 5)")
    args = parser.parse_args(argv)
    out_dir = make_report(args.sweep, args.out, args.traversal_beta)
    print(f"report written to {out_dir} (open report.html)")
    return 0


if __name__ == "__main__":
    run_cli(main)
