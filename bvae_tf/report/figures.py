"""The report's figures: PNGs under the report folder, each function returning the file's name."""

import functools
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402

from bvae_tf.evaluation_figures import matrix_panels, traversal_panel  # noqa: E402
from bvae_tf.files import write_atomic  # noqa: E402
from bvae_tf.images import tile  # noqa: E402
from bvae_tf.layout import ModelFolder, ReportFolder  # noqa: E402
from bvae_tf.metrics import registry  # noqa: E402
from bvae_tf.metrics.sampling import example_observations  # noqa: E402
from bvae_tf.report.reading import (  # noqa: E402
    BASELINE,
    best_value,
    beta_only,
    hyperparameter_of,
    label,
    metric_labels,
    models,
    read_matrices,
    report_dataset,
    saved_model,
    setting,
    shown_trial,
    symbol,
)
from bvae_tf.report.stats import intervals  # noqa: E402

LOSS_TERMS = {"kl": "KL divergence (nats)", "recon": "reconstruction loss (nats)", "loss": "total loss"}


def _save(fig, out_dir, name):
    write_atomic(
        ReportFolder(out_dir).figure(name), lambda temp: fig.savefig(temp, format="png", dpi=110, bbox_inches="tight")
    )
    plt.close(fig)
    return name


def _colors(keys, cmap=plt.cm.plasma):
    """Ordered values, dark blue to orange: plasma stops before its pale yellow end, which is
    faint on white."""
    return dict(zip(keys, cmap(np.linspace(0, 0.78, len(keys)))))


def _model_colors(results):
    return dict(zip(models(results), plt.cm.tab10(np.arange(len(models(results))) % 10)))


def _value_axis(ax, values, label):
    """A log axis (symlog when 0 is among the values) ticked at the values themselves; the labels
    turned upright where two neighbours are closer than a tenth of the axis (β 7.5 and 10)."""
    values = np.asarray(sorted(values), float)
    if (values > 0).all():
        ax.set_xscale("log")
    else:
        positive = values[values > 0]
        ax.set_xscale("symlog", linthresh=positive.min() if positive.size else 1.0)
    ticks = ax.xaxis.get_transform().transform(values)  # positions on the (sym)log scale
    crowded = ticks.size > 2 and np.diff(ticks).min() < (ticks[-1] - ticks[0]) / 10
    ax.set_xticks(values, [f"{v:g}" for v in values], rotation=90 if crowded else 0)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(label)


def _epoch_axis(ax, epochs):
    """Whole epochs only: every epoch ticked when there are few."""
    epochs = sorted(epochs)
    if len(epochs) <= 12:
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_losses(histories, hyperparameter, out_dir, name, terms=tuple(LOSS_TERMS), title=""):
    """Loss terms of one model per epoch (a row per term; training and validation side by side),
    one curve per value of ``hyperparameter``: mean over seeds with a min-max band."""
    colors = _colors(sorted(histories["value"].unique()))
    fig, axes = plt.subplots(len(terms), 2, figsize=(11, 4 * len(terms)), sharey="row", squeeze=False)
    for row, term in zip(axes, terms):
        label = LOSS_TERMS[term]
        for ax, prefix, split in ((row[0], "", "training"), (row[1], "val_", "validation")):
            column = prefix + term
            if column not in histories:
                continue
            stats = histories.groupby(["value", "epoch"])[column].agg(["mean", "min", "max"]).reset_index()
            for value, group in stats.groupby("value"):
                ax.plot(
                    group["epoch"], group["mean"], marker="o", color=colors[value], label=setting(hyperparameter, value)
                )
                ax.fill_between(group["epoch"], group["min"], group["max"], color=colors[value], alpha=0.2)
            ax.set(title=f"{title}{label}, {split}", xlabel="epoch")
            _epoch_axis(ax, stats["epoch"].unique())
            ax.grid(alpha=0.3)
        row[0].set_ylabel(label)
    fig.tight_layout()
    _legend_below(fig, axes[0][0].get_legend_handles_labels()[0])
    return _save(fig, out_dir, name)


def _metric_grid(count, columns=3, size=(4.2, 3.3)):
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    return fig, axes.flat[:count]


def _seed_offsets(values, count, seed=0):
    """x positions for ``count`` seed dots at each of ``values``: spread a little around the value
    (multiplicatively, for the log axis) so that they do not hide behind the mean's marker."""
    spread = np.random.default_rng(seed).uniform(-0.06, 0.06, count)
    return np.asarray(values, float) * 10**spread


def _legend_below(fig, handles):
    """One legend for every panel, under them (outside every axis)."""
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=9)


def plot_metrics(results, out_dir, name, title=""):
    """Each metric against one model's hyperparameter (log axis): every seed as a dot, the mean
    over seeds with its 95 % interval; β-VAE's β=1 mean as a red dashed line. ``title`` follows
    each metric's name."""
    metrics = [m for m in metric_labels() if m in results]
    model, hyperparameter = results["model"].iloc[0], hyperparameter_of(results)
    table = intervals(results, metrics, by=["value"])
    seeds = results.groupby("value").size()
    x = _seed_offsets(results["value"], len(results))
    fig, axes = _metric_grid(len(metrics))
    handles = {}
    for ax, metric in zip(axes, metrics):
        frame = table[metric]
        handles["seed"] = ax.scatter(
            x, results[metric], s=16, color="#555555", alpha=0.8, zorder=3, label="one seed (a trial)"
        )
        error = np.vstack([frame["mean"] - frame["low"], frame["high"] - frame["mean"]])
        handles["mean"] = ax.errorbar(
            frame.index,
            frame["mean"],
            yerr=None if np.isnan(error).all() else np.nan_to_num(error),
            marker="o",
            capsize=3,
            color="#1f4e9c",
            label="mean" if seeds.max() == 1 else "mean, 95 % interval",
        )
        if model == BASELINE[0] and BASELINE[1] in frame.index:
            handles["baseline"] = ax.axhline(
                frame.loc[BASELINE[1], "mean"], color="#c0262d", linestyle="--", label="β=1 (VAE) mean"
            )
        _value_axis(ax, frame.index, symbol(hyperparameter))
        ax.set_title(metric_labels()[metric] + title)
        ax.grid(alpha=0.3)
    _legend_below(fig, list(handles.values()))
    fig.suptitle(f"{model}: {spread_label(seeds)}; every seed drawn as a gray dot")
    fig.tight_layout()
    return _save(fig, out_dir, name)


def spread_label(seeds):
    """What the error bars show, from the number of seeds per value: no interval for one seed."""
    low, high = int(seeds.min()), int(seeds.max())
    if high == 1:
        return "one seed (n=1): no interval"
    n = f"n={low}" if low == high else f"n={low}–{high}"
    return f"mean and 95 % interval over {n} seeds"


def plot_comparison(results, out_dir):
    """The models side by side: one panel per metric, each model's spread over seeds and
    hyperparameter values (a box, and every trial as a dot)."""
    metrics = [m for m in metric_labels() if m in results]
    names, colors = models(results), _model_colors(results)
    jitter = np.random.default_rng(0)
    fig, axes = _metric_grid(len(metrics), size=(4.4, 3.6))
    for ax, metric in zip(axes, metrics):
        for position, model in enumerate(names, start=1):
            values = results.loc[results["model"] == model, metric].dropna().to_numpy()
            if not values.size:
                continue
            box = ax.boxplot(values, positions=[position], widths=0.6, showfliers=False, patch_artist=True)
            box["boxes"][0].set(facecolor=(*colors[model][:3], 0.3), edgecolor=colors[model])
            for part in ("medians", "whiskers", "caps"):
                for line in box[part]:
                    line.set_color(colors[model])
            ax.scatter(
                position + jitter.uniform(-0.15, 0.15, values.size),
                values,
                s=14,
                color=colors[model],
                edgecolor="black",
                linewidth=0.4,
                zorder=3,
            )
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(0.4, len(names) + 0.6)
        # Every metric is a score in [0, 1]: from 0, so that a gap of 0.0003 does not fill the panel.
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        ax.set_title(metric_labels()[metric])
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("models compared: each box spans a model's trials (all seeds and hyperparameter values)")
    fig.tight_layout()
    return _save(fig, out_dir, "models_comparison.png")


def matrix_settings(results):
    """The (model, value) pairs whose matrices are drawn: β-VAE's β=1, then each model's best by MIG."""
    shown = [BASELINE] if ((results["model"] == BASELINE[0]) & (results["value"] == BASELINE[1])).any() else []
    shown += [(model, best_value(results[results["model"] == model])) for model in models(results)]
    return list(dict.fromkeys(shown))


def plot_matrices(results, out_dir):
    """Factor x latent views declared by the metrics (normalized MI, mean |Δz|, modularity's MI), a
    row per matrix setting."""
    shown = matrix_settings(results)
    rows = [(model, value, shown_trial(results[results["model"] == model], value)) for model, value in shown]
    rows = [(model, value, trial, read_matrices(trial)) for model, value, trial in rows]
    columns = max(sum(key in matrices for key, _ in registry.matrix_views()) for *_, matrices in rows) or 1
    fig, axes = plt.subplots(len(rows), columns, figsize=(5.4 * columns, 3.2 * len(rows)), squeeze=False)
    factor_names = report_dataset(results).factor_names
    for row, (model, value, trial, matrices) in zip(axes, rows):
        prefix = f"{label(results, model, value)} (seed {int(trial['seed'])}): "
        matrix_panels(row, matrices, factor_names, prefix)
    fig.tight_layout()
    return _save(fig, out_dir, "matrices.png")


def _shown_images(results, count=8):
    """The fixed inputs of the qualitative figures: seeded observations of the sweep's dataset."""
    return example_observations(report_dataset(results), count)


def nearest_value(values, target):
    """The value nearest to ``target`` on a log scale."""
    values = np.array(sorted(values), float)
    return float(values[np.argmin(np.abs(np.log(values + 1e-12) - np.log(target + 1e-12)))])


def plot_traversals(results, out_dir, value, name, shown):
    """Latent traversal of one image by one model's setting (named ``shown`` in the title), rows
    sorted by KL and named by their top-MI factor."""
    trial = shown_trial(results, value)
    model = saved_model(trial, "encode", "decode")
    with open(ModelFolder(trial["saved_model"]).card) as f:
        kl = np.asarray(json.load(f)["kl_per_latent"], np.float64)
    mi = read_matrices(trial).get("mig_normalized_mutual_info")
    fig, ax = plt.subplots(figsize=(7, 0.75 * len(kl) + 0.8))
    traversal_panel(ax, model, _shown_images(results, 1)[0], kl, report_dataset(results).factor_names, mi)
    ax.set_title(f"latent traversals, {shown} (seed {int(trial['seed'])}); rows by KL, factor of highest MI")
    return _save(fig, out_dir, name)


def plot_reconstructions(results, out_dir):
    """The same inputs reconstructed by every value (one model) or by each model's best setting
    (several), the best seed of each."""
    one_model = len(models(results)) == 1
    if one_model:
        shown = [(results["model"].iloc[0], value) for value in sorted(results["value"].unique())]
    else:
        shown = [(model, best_value(results[results["model"] == model])) for model in models(results)]
    images = _shown_images(results)
    rows, labels = [images], ["input"]
    for model, value in shown:
        trial = shown_trial(results[results["model"] == model], value)
        rows.append(saved_model(trial, "reconstruct").call("reconstruct", images)["probs"].reshape(images.shape))
        labels.append(label(results, model, value).replace(" ", "\n", 1))
    grid = tile(np.concatenate(rows), len(images))
    fig, ax = plt.subplots(figsize=(8, 1.0 * len(rows) + 0.5))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(rows)) * 64 + 32, labels, fontsize=None if one_model else 8)
    ax.set_xticks([])
    ax.set_title("reconstructions of the same inputs" + ("" if one_model else ", each model's best setting by MIG"))
    return _save(fig, out_dir, "reconstructions.png")


def plot_tradeoff(results, out_dir):
    """Validation reconstruction loss against MIG: every trial (seed) as a small dot, each
    setting's mean as a large hollow marker with its 95 % interval on both axes; coloured by value
    (one model) or by model (several)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    one_model = len(models(results)) == 1
    if one_model:
        key, colors = "value", _colors(sorted(results["value"].unique()))
        name = functools.partial(setting, hyperparameter_of(results))
    else:
        key, colors, name = "model", _model_colors(results), str
    table = intervals(results, ["mig", "val_recon"])
    for (model, hyperparameter, value), mig in table["mig"].iterrows():
        recon = table["val_recon"].loc[(model, hyperparameter, value)]
        color = colors[value if one_model else model]
        xerr = None if np.isnan(mig["low"]) else [[mig["mean"] - mig["low"]], [mig["high"] - mig["mean"]]]
        yerr = None if np.isnan(recon["low"]) else [[recon["mean"] - recon["low"]], [recon["high"] - recon["mean"]]]
        ax.errorbar(
            mig["mean"],
            recon["mean"],
            xerr=xerr,
            yerr=yerr,
            color=color,
            marker="o",
            markersize=11,
            markerfacecolor="none",
            markeredgewidth=1.6,
            capsize=3,
            zorder=2,
        )
    for group, rows in results.groupby(key, sort=False):
        ax.scatter(
            rows["mig"],
            rows["val_recon"],
            color=colors[group],
            label=name(group),
            s=22,
            edgecolor="black",
            linewidth=0.4,
            zorder=3,
        )
    ax.set(xlabel="MIG", ylabel="validation reconstruction loss (nats)", title="disentanglement vs reconstruction")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(
        plt.Line2D([], [], color="gray", marker="o", markersize=11, markerfacecolor="none", linestyle="none")
    )
    labels.append("setting's mean, 95 % interval")
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="dots: single seeds")
    return _save(fig, out_dir, "tradeoff_recon_vs_mig.png")


def _beta_study_figures(results, histories, out_dir, traversal_beta):
    """A β-VAE-only sweep: the β study's figures under its file names."""
    figures = [
        (f"{label} per epoch", plot_losses(histories, "beta", out_dir, f"loss_{term}.png", [term]))
        for term, label in LOSS_TERMS.items()
    ]
    beta = nearest_value(results["value"].unique(), traversal_beta)
    figures.append(
        (
            "latent traversals",
            plot_traversals(results, out_dir, beta, f"traversals_beta{beta:g}.png", setting("beta", beta)),
        )
    )
    baseline = " (red dashed: β=1)" if (results["value"] == BASELINE[1]).any() else ""
    figures.append((f"metrics against β{baseline}", plot_metrics(results, out_dir, "metrics_vs_beta.png")))
    return figures


def _model_figures(results, histories, out_dir):
    """Any other sweep: the models compared (when several), then per model its metrics against its
    hyperparameter, its losses and the traversals of its best setting."""
    figures = []
    if len(models(results)) > 1:
        figures.append(
            (
                "the models compared: every metric over each model's trials (seeds and hyperparameter values)",
                plot_comparison(results, out_dir),
            )
        )
    per_model = [
        (model, results[results["model"] == model], histories[histories["model"] == model]) for model in models(results)
    ]
    for model, rows, _ in per_model:
        hyperparameter = hyperparameter_of(rows)
        baseline = " (red dashed: β=1)" if model == BASELINE[0] and (rows["value"] == BASELINE[1]).any() else ""
        figures.append(
            (
                f"{model}: metrics against {symbol(hyperparameter)}{baseline}",
                plot_metrics(rows, out_dir, f"metrics_vs_{hyperparameter}_{model}.png", f", {model}"),
            )
        )
    for model, rows, curves in per_model:
        hyperparameter = hyperparameter_of(rows)
        figures.append(
            (
                f"{model}: KL, reconstruction and total loss per epoch, one curve per {symbol(hyperparameter)}",
                plot_losses(curves, hyperparameter, out_dir, f"losses_{model}.png", title=f"{model}: "),
            )
        )
    for model, rows, _ in per_model:
        value = best_value(rows)
        best = setting(hyperparameter_of(rows), value)
        figures.append(
            (
                f"{model}: latent traversals of its best setting by MIG, {best}",
                plot_traversals(rows, out_dir, value, f"traversals_{model}.png", f"{model} {best}"),
            )
        )
    return figures


def plot_all(results, histories, out_dir, traversal_beta=5.0):
    """Every figure; returns [(caption, file name)] in the report's order."""
    if beta_only(results):
        figures = _beta_study_figures(results, histories, out_dir, traversal_beta)
    else:
        figures = _model_figures(results, histories, out_dir)
    shown = ", ".join(label(results, model, value) for model, value in matrix_settings(results))
    figures.append((f"factor x latent matrices: {shown}", plot_matrices(results, out_dir)))
    one_model = len(models(results)) == 1
    figures.append(
        (
            "reconstructions of the same inputs "
            + (
                f"for every {symbol(hyperparameter_of(results))}"
                if one_model
                else "by each model's best setting by MIG"
            ),
            plot_reconstructions(results, out_dir),
        )
    )
    figures.append(("trade-off: reconstruction loss against MIG", plot_tradeoff(results, out_dir)))
    return [(f"Figure {i}: {caption}", name) for i, (caption, name) in enumerate(figures, start=1)]
