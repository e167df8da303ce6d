"""The sweep report: ``python -m bvae_tf.report sweeps/<name>``.

Reads a sweep folder only (``results.csv``, each run's ``history.csv``, each SavedModel and its
``metrics.json``/``matrices.npz``; nothing is trained or scored here) and writes, under
``<sweep>/report/``, PNG figures, ``summary.csv`` and ``summary.md`` (Table 1) and one
self-contained ``report.html`` with every image embedded. Trials are grouped by model (β-VAE,
AnnealedVAE, FactorVAE, DIP-VAE-I/II, β-TCVAE), each swept over its main hyperparameter:

1. KL, reconstruction and total loss per epoch, one curve per value, mean over seeds with a band.
2. Latent traversals (rows sorted by KL, labelled with the factor of highest MI).
3. Every metric against the hyperparameter, per model (mean ± std over seeds; β=1 of β-VAE drawn
   as a red dashed baseline) and, with several models, every metric side by side per model.
4. Factor x latent matrices for each model's best setting by MIG (and β-VAE's β=1).
5. The summary table, mean ± std over seeds per model and value.
6. Reconstructions of the same inputs, and reconstruction loss against MIG.

A β-VAE-only sweep (also a ``results.csv`` from before the model zoo: ``beta``, ``seed``, no
``model``) keeps the β study's file names: ``loss_{kl,recon,loss}.png``, ``traversals_beta<β>.png``
(nearest to ``--traversal-beta``), ``metrics_vs_beta.png``. Any other sweep names its per-model
figures after the model: ``losses_<model>.png``, ``traversals_<model>.png`` (best value by mean
MIG), ``metrics_vs_<hyperparameter>_<model>.png``, plus ``models_comparison.png`` when it holds
several models. ``matrices.png``, ``reconstructions.png`` and ``tradeoff_recon_vs_mig.png``
always.
"""

import base64
import functools
import html
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402

from bvae_tf.config import MODELS  # noqa: E402
from bvae_tf.data.dsprites import FACTOR_NAMES, DSprites  # noqa: E402
from bvae_tf.errors import ArgumentParser, UserError, run_cli  # noqa: E402
from bvae_tf.files import write_atomic, write_text  # noqa: E402
from bvae_tf.images import tile, traversal_grid  # noqa: E402
from bvae_tf.layout import (  # noqa: E402
    ModelFolder,
    ReportFolder,
    RunFolder,
    ScoresFolder,
    SweepFolder,
    run_name,
    trial_name,
)
from bvae_tf.metrics import registry  # noqa: E402
from bvae_tf.saved_model import SavedModel  # noqa: E402

LOSS_TERMS = {"kl": "KL divergence (nats)", "recon": "reconstruction loss (nats)", "loss": "total loss"}
RUN_LABELS = {
    "val_recon": "recon (val)",
    "val_kl": "KL (val)",
    "val_loss": "loss (val)",
    "active_latents_kl": "active latents",
}
# The model zoo in the order the report shows it (a model not listed here comes after, by name).
MODEL_ORDER = tuple(MODELS)
SYMBOLS = {"beta": "β", "gamma": "γ", "c_max": "C_max", "lambda_od": "λ_od"}
BASELINE = ("beta_vae", 1.0)  # the plain VAE: a red dashed line on β-VAE's metric plots
KEYS = ["model", "hyperparameter", "value"]  # one setting; its trials differ by seed only


def metric_labels():
    """{results.csv column: label} of every registered metric's shown scores."""
    return registry.score_labels()


def table_labels():
    return {**RUN_LABELS, **metric_labels()}


def symbol(hyperparameter):
    """The hyperparameter as figures write it: beta -> β, c_max -> C_max."""
    return SYMBOLS.get(hyperparameter, hyperparameter)


def setting(hyperparameter, value):
    """One setting as a label: ``β=5``, ``C_max=25``."""
    return f"{symbol(hyperparameter)}={value:g}"


def _label(results, model, value):
    """A setting as figures name it: ``β=5`` in a β-VAE-only sweep, else ``factor_vae γ=30``."""
    label = setting(_hyperparameter(results[results["model"] == model]), value)
    return label if beta_only(results) else f"{model} {label}"


# --- reading the sweep ------------------------------------------------------------------------


def _read_results(path):
    if not os.path.isfile(path):
        raise UserError(
            f"{os.path.dirname(path) or '.'} is not a sweep folder: results.csv is missing "
            "(run python -m bvae_tf.sweep)"
        )
    try:
        results = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        results = pd.DataFrame()
    if results.empty:
        raise UserError(f"{path} holds no finished trial yet")
    return results


def _with_settings(results, path):
    """``results`` with ``model``, ``hyperparameter``, ``value``, ``seed`` and ``trial`` (the folder
    name), sorted by model, value and seed. A table from before the model zoo (``beta``, no
    ``model``) is a β-VAE sweep whose trial folders are ``beta<β>_seed<seed>``."""
    results = results.copy()
    if "model" not in results:
        if "beta" not in results or "seed" not in results:
            raise UserError(f"{path}: expected the columns model, hyperparameter, value, seed (or beta, seed)")
        results.insert(0, "model", "beta_vae")
        results.insert(1, "hyperparameter", "beta")
        results.insert(2, "value", results["beta"].astype(float))
        results["seed"] = results["seed"].astype(int)
        results["trial"] = [run_name(beta, seed) for beta, seed in zip(results["value"], results["seed"])]
    else:
        missing = [c for c in ("hyperparameter", "value", "seed") if c not in results]
        if missing:
            raise UserError(f"{path}: column(s) {', '.join(missing)} missing")
        results["value"], results["seed"] = results["value"].astype(float), results["seed"].astype(int)
        results["trial"] = [
            trial_name(*key)
            for key in zip(results["model"], results["hyperparameter"], results["value"], results["seed"])
        ]
    several = results.groupby("model")["hyperparameter"].nunique()
    if (several > 1).any():
        raise UserError(
            f"{path}: model {several[several > 1].index[0]} is swept over several hyperparameters; "
            "the report expects one per model"
        )
    return results.sort_values(["model", "value", "seed"], key=_zoo_order).reset_index(drop=True)


def _zoo_order(column):
    """Sort key: models in MODEL_ORDER (others after it, by name); other columns as they are."""
    if column.name != "model":
        return column
    order = {model: f"{i:02d}" for i, model in enumerate(MODEL_ORDER)}
    return column.map(lambda model: order.get(model, f"99{model}"))


def load_sweep(sweep_dir):
    """The results table (see `_with_settings`) and each trial's per-epoch history (one frame, a
    row per trial and epoch, with the trial's model, value and seed)."""
    folder = SweepFolder(sweep_dir)
    results = _with_settings(_read_results(folder.results), folder.results)
    # Trials that failed (the loss became NaN) have no metrics: left out, and named in the report.
    status = results["status"].fillna("finished") if "status" in results else pd.Series("finished", results.index)
    failed = status != "finished"
    left_out = [f"{trial} ({why})" for trial, why in zip(results["trial"][failed], status[failed])]
    if failed.all():
        raise UserError(f"{folder.results}: no finished trial to report; failed: {'; '.join(left_out)}")
    results = results[~failed].reset_index(drop=True)
    results.attrs["left_out"] = left_out
    # Each trial's folders, found from its setting in this sweep folder (not from stored paths, so a
    # copied or moved sweep works).
    results["run_dir"] = [folder.run(name).path for name in results["trial"]]
    results["saved_model"] = [folder.model(name).path for name in results["trial"]]
    results["evaluation"] = [evaluation_folder(folder, row) for _, row in results.iterrows()]
    histories = []
    for row in results.itertuples():
        path = RunFolder(row.run_dir).history
        if not os.path.isfile(path):
            raise UserError(f"{path} is missing: trial {row.trial} of results.csv has no run folder here")
        try:
            history = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise UserError(
                f"{path} is empty or not a CSV file (trial {row.trial}; "
                f"{type(error).__name__}: {str(error).strip()}); rerun that trial"
            ) from None
        if "epoch" not in history:
            raise UserError(f"{path} has no epoch column (trial {row.trial}): not a history.csv of bvae_tf.train")
        histories.append(history.assign(model=row.model, value=row.value, seed=row.seed, epoch=history["epoch"] + 1))
    return results, pd.concat(histories, ignore_index=True)


def models(results):
    """The sweep's models, in the report's order."""
    return list(dict.fromkeys(results["model"]))


def beta_only(results):
    """A β-VAE-only sweep keeps the β study's figure names."""
    return models(results) == ["beta_vae"]


def _hyperparameter(rows):
    return rows["hyperparameter"].iloc[0]


def best_value(rows):
    """The value with the highest mean MIG over seeds among ``rows`` (one model); the first without MIG."""
    mig = rows.groupby("value")["mig"].mean() if "mig" in rows else pd.Series(dtype=float)
    return float(mig.idxmax()) if mig.notna().any() else float(rows["value"].iloc[0])


def _trial(rows, value):
    """The trial shown for a value of one model: its best seed by MIG (or the first seed without metrics)."""
    rows = rows[rows["value"] == value]
    return rows.loc[rows["mig"].idxmax()] if "mig" in rows and rows["mig"].notna().any() else rows.iloc[0]


def evaluation_folder(folder, row):
    """A trial's evaluation folder: ``evaluations/<settings>/`` of its SavedModel (named in
    results.csv), or the SavedModel folder itself for sweeps from before evaluations had folders."""
    named = row.get("evaluation")
    if isinstance(named, str) and named:
        root = os.path.abspath(folder.path)
        path = os.path.abspath(os.path.join(root, named))
        if os.path.commonpath([path, root]) != root:
            raise UserError(f"{folder.results}: evaluation {named!r} of trial {row['trial']} is outside the sweep")
        return path
    return folder.model(row["trial"]).path


def _matrices(trial):
    path = ScoresFolder(trial["evaluation"]).matrices
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing: evaluate the model first (python -m bvae_tf.evaluate)")
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


@functools.lru_cache(maxsize=8)
def _load(path, modified):
    return SavedModel(path)


def _saved_model(trial, *signatures):
    """The trial's SavedModel (loaded once per report; reloaded if the folder was rewritten)."""
    path = trial["saved_model"]
    pb = os.path.join(path, "saved_model.pb")
    return _load(path, os.path.getmtime(pb) if os.path.isfile(pb) else None).require(*signatures)


# --- figures ----------------------------------------------------------------------------------


def _save(fig, out_dir, name):
    write_atomic(
        ReportFolder(out_dir).figure(name), lambda temp: fig.savefig(temp, format="png", dpi=110, bbox_inches="tight")
    )
    plt.close(fig)
    return name


def _colors(keys, cmap=plt.cm.viridis):
    return dict(zip(keys, cmap(np.linspace(0, 0.95, len(keys)))))


def _model_colors(results):
    return dict(zip(models(results), plt.cm.tab10(np.arange(len(models(results))) % 10)))


def _value_axis(ax, values, label):
    """A log axis (symlog when 0 is among the values) ticked at the values themselves."""
    values = np.asarray(sorted(values), float)
    if (values > 0).all():
        ax.set_xscale("log")
    else:
        positive = values[values > 0]
        ax.set_xscale("symlog", linthresh=positive.min() if positive.size else 1.0)
    ax.set_xticks(values, [f"{v:g}" for v in values])
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
        row[1].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, name)


def _metric_grid(count, columns=3, size=(4.2, 3.3)):
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    return fig, axes.flat[:count]


def plot_metrics(results, out_dir, name, title=""):
    """Each metric against one model's hyperparameter (log axis), mean ± std over seeds; β-VAE's
    β=1 as a red dashed line. ``title`` follows each metric's name."""
    metrics = [m for m in metric_labels() if m in results]
    model, hyperparameter = results["model"].iloc[0], _hyperparameter(results)
    stats = results.groupby("value")[metrics].agg(["mean", "std"])
    seeds = results.groupby("value").size()
    fig, axes = _metric_grid(len(metrics))
    for ax, metric in zip(axes, metrics):
        mean, std = stats[(metric, "mean")], stats[(metric, "std")].fillna(0.0)
        ax.errorbar(stats.index, mean, yerr=std if seeds.max() > 1 else None, marker="o", capsize=3)
        ax.scatter(results["value"], results[metric], s=10, color="gray", alpha=0.6, zorder=3)
        if model == BASELINE[0] and BASELINE[1] in stats.index:
            ax.axhline(mean[BASELINE[1]], color="red", linestyle="--", label="β=1 (VAE)")
            ax.legend(fontsize=8)
        _value_axis(ax, stats.index, symbol(hyperparameter))
        ax.set_title(metric_labels()[metric] + title)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{model}: {spread_label(seeds)}; gray dots are single trials")
    fig.tight_layout()
    return _save(fig, out_dir, name)


def spread_label(seeds):
    """What the error bars show, from the number of seeds per value: no "± 0" for one seed."""
    low, high = int(seeds.min()), int(seeds.max())
    if high == 1:
        return "one seed (n=1): no spread"
    return f"mean ± std over n={low} seeds" if low == high else f"mean ± std over n={low}–{high} seeds"


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
    """Factor x latent views (normalized MI, mean |Δz|, modularity's MI), a row per matrix setting."""
    views = [
        ("mig_normalized_mutual_info", "normalized MI (MIG)", True),
        ("zdiff_mean_abs_diff", "mean |Δz| with the factor fixed (Z-diff)", False),
        ("modularity_mutual_info", "MI, per-latent modularity (Modularity)", True),
    ]
    shown = matrix_settings(results)
    fig, axes = plt.subplots(len(shown), len(views), figsize=(5.2 * len(views), 3.2 * len(shown)), squeeze=False)
    for row, (model, value) in zip(axes, shown):
        trial = _trial(results[results["model"] == model], value)
        matrices = _matrices(trial)
        name = _label(results, model, value)
        for ax, (key, title, latent_major) in zip(row, views):
            if key not in matrices:
                ax.axis("off")
                continue
            matrix = matrices[key].T if latent_major else matrices[key]  # factors x latents
            image = ax.imshow(matrix, cmap="viridis", aspect="auto")
            ax.set_yticks(range(len(FACTOR_NAMES)), FACTOR_NAMES)
            ax.set_xticks(range(matrix.shape[1]), [f"z{i}" for i in range(matrix.shape[1])], fontsize=7)
            if key == "modularity_mutual_info" and "modularity_modularity_per_latent" in matrices:
                per_latent = matrices["modularity_modularity_per_latent"]
                ax.set_xticks(range(matrix.shape[1]), [f"z{i}\n{m:.2f}" for i, m in enumerate(per_latent)], fontsize=7)
            ax.set_title(f"{name} (seed {int(trial['seed'])}): {title}", fontsize=9)
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, out_dir, "matrices.png")


def _shown_images(count=8, seed=0):
    """The fixed inputs of the qualitative figures: seeded uniform factors, rendered."""
    classes = DSprites.sample_factors(count, seed)
    return DSprites().images(classes)[..., None].astype(np.float32)


def nearest_value(values, target):
    """The value nearest to ``target`` on a log scale."""
    values = np.array(sorted(values), float)
    return float(values[np.argmin(np.abs(np.log(values + 1e-12) - np.log(target + 1e-12)))])


def plot_traversals(results, out_dir, value, name, shown):
    """Latent traversal of one image by one model's setting (named ``shown`` in the title), rows
    sorted by KL and named by their top-MI factor."""
    trial = _trial(results, value)
    model = _saved_model(trial, "encode", "decode")
    with open(ModelFolder(trial["saved_model"]).card) as f:
        kl = np.asarray(json.load(f)["kl_per_latent"], np.float64)
    code = model.call("encode", _shown_images(1))["mean"][0]
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
    images = _shown_images()
    rows, labels = [images[..., 0]], ["input"]
    for model, value in shown:
        trial = _trial(results[results["model"] == model], value)
        rows.append(_saved_model(trial, "reconstruct").call("reconstruct", images)["probs"].reshape(-1, 64, 64))
        labels.append(_label(results, model, value).replace(" ", "\n", 1))
    grid = tile(np.concatenate(rows), len(images))
    fig, ax = plt.subplots(figsize=(8, 1.0 * len(rows) + 0.5))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(rows)) * 64 + 32, labels, fontsize=None if one_model else 8)
    ax.set_xticks([])
    ax.set_title("reconstructions of the same inputs" + ("" if one_model else ", each model's best setting by MIG"))
    return _save(fig, out_dir, "reconstructions.png")


def plot_tradeoff(results, out_dir):
    """Validation reconstruction loss against MIG, one point per trial, coloured by value (one
    model) or by model (several)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if len(models(results)) == 1:
        hyperparameter = _hyperparameter(results)
        colors = _colors(sorted(results["value"].unique()))
        for value, rows in results.groupby("value"):
            ax.scatter(rows["mig"], rows["val_recon"], color=colors[value], label=setting(hyperparameter, value), s=40)
    else:
        colors = _model_colors(results)
        for model in models(results):
            rows = results[results["model"] == model]
            ax.scatter(
                rows["mig"], rows["val_recon"], color=colors[model], label=model, s=40, edgecolor="black", linewidth=0.4
            )
    ax.set(xlabel="MIG", ylabel="validation reconstruction loss (nats)", title="disentanglement vs reconstruction")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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
        hyperparameter = _hyperparameter(rows)
        baseline = " (red dashed: β=1)" if model == BASELINE[0] and (rows["value"] == BASELINE[1]).any() else ""
        figures.append(
            (
                f"{model}: metrics against {symbol(hyperparameter)}{baseline}",
                plot_metrics(rows, out_dir, f"metrics_vs_{hyperparameter}_{model}.png", f", {model}"),
            )
        )
    for model, rows, curves in per_model:
        hyperparameter = _hyperparameter(rows)
        figures.append(
            (
                f"{model}: KL, reconstruction and total loss per epoch, one curve per {symbol(hyperparameter)}",
                plot_losses(curves, hyperparameter, out_dir, f"losses_{model}.png", title=f"{model}: "),
            )
        )
    for model, rows, _ in per_model:
        value = best_value(rows)
        best = setting(_hyperparameter(rows), value)
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
    shown = ", ".join(_label(results, model, value) for model, value in matrix_settings(results))
    figures.append((f"factor x latent matrices: {shown}", plot_matrices(results, out_dir)))
    one_model = len(models(results)) == 1
    figures.append(
        (
            "reconstructions of the same inputs "
            + (f"for every {symbol(_hyperparameter(results))}" if one_model else "by each model's best setting by MIG"),
            plot_reconstructions(results, out_dir),
        )
    )
    figures.append(("trade-off: reconstruction loss against MIG", plot_tradeoff(results, out_dir)))
    return [(f"Figure {i}: {caption}", name) for i, (caption, name) in enumerate(figures, start=1)]


# --- Table 1 ----------------------------------------------------------------------------------


def summarize(results):
    """Table 1: seeds, and mean and std over seeds of every loss and metric, one row per
    (model, hyperparameter, value). The std of a single seed is left empty."""
    columns = [c for c in table_labels() if c in results]
    grouped = results.groupby(KEYS, sort=False)[columns]
    table = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1)
    table.insert(0, ("seeds", "n"), grouped.size())
    return table


def _cell(mean, std, seeds):
    """ "mean ± std"; the mean alone for one seed; "–" for no value."""
    if pd.isna(mean):
        return "–"
    return f"{mean:.3f}" if seeds < 2 or pd.isna(std) else f"{mean:.3f} ± {std:.3f}"


def format_table(table):
    """Table 1 as text: a row per model and value, each cell "mean ± std" (the mean for one seed),
    columns named as in the figures. With one hyperparameter the value column is named by it (β),
    otherwise each value is written with its symbol (C_max=25)."""
    labels = table_labels()
    columns = [c for c in labels if ("mean", c) in table]
    seeds = table[("seeds", "n")]
    cells = {labels[c]: [_cell(*cell) for cell in zip(table[("mean", c)], table[("std", c)], seeds)] for c in columns}
    model = table.index.get_level_values("model")
    hyperparameter, value = table.index.get_level_values("hyperparameter"), table.index.get_level_values("value")
    if hyperparameter.nunique() == 1:
        settings, name = [f"{v:g}" for v in value], symbol(hyperparameter[0])
    else:
        settings, name = [setting(h, v) for h, v in zip(hyperparameter, value)], "setting"
    index = pd.MultiIndex.from_arrays([model, settings], names=["model", name])
    return pd.DataFrame({"seeds": [str(int(n)) for n in seeds], **cells}, index=index)


def _markdown(text):
    names = list(text.index.names)
    lines = ["| " + " | ".join(names + list(text.columns)) + " |", "|" + "---|" * (len(names) + len(text.columns))]
    lines += ["| " + " | ".join(list(key) + list(row)) + " |" for key, row in zip(text.index, text.values)]
    return "\n".join(lines)


# --- the page ---------------------------------------------------------------------------------


def _title(results, sweep_dir):
    kind = "β sweep" if beta_only(results) else "Model sweep"
    return f"{kind} report: {os.path.basename(os.path.abspath(sweep_dir))}"


def _overview(results):
    """One line: trials, each model's values, seeds."""
    parts = []
    for model in models(results):
        rows = results[results["model"] == model]
        shown = ", ".join(f"{v:g}" for v in sorted(rows["value"].unique()))
        values = f"{symbol(_hyperparameter(rows))} ∈ {{{shown}}}"
        parts.append(values if beta_only(results) else f"{model} {values}")
    return f"{len(results)} trials, {', '.join(parts)}, seeds {sorted(int(s) for s in results['seed'].unique())}."


def write_html(out_dir, figures, table_text, title, notes=()):
    """One self-contained page: every PNG embedded as base64, the table as HTML."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        *[f"<p>{html.escape(note)}</p>" for note in notes],
    ]
    parts.append("<h2>Table 1: metrics per model and setting (mean ± std over seeds; the mean alone for one seed)</h2>")
    parts.append(table_text.to_html())
    for caption, name in figures:
        with open(ReportFolder(out_dir).figure(name), "rb") as f:
            encoded = base64.b64encode(f.read()).decode("ascii")
        parts.append(
            f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{encoded}'>"
        )
    parts.append("</body></html>")
    path = ReportFolder(out_dir).html
    write_text(path, "\n".join(parts))
    return path


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
    table = summarize(results)
    write_text(ReportFolder(out_dir).summary_csv, table.to_csv())
    text = format_table(table)
    title = _title(results, sweep_dir)
    lines = [
        f"# {title}",
        "",
        _overview(results),
        "",
        *[f"{note}\n" for note in notes],
        "## Table 1: mean ± std over seeds (the mean alone for one seed)",
        "",
        _markdown(text),
        "",
    ]
    lines += [f"## {caption}\n\n![{caption}]({name})\n" for caption, name in figures]
    write_text(ReportFolder(out_dir).summary_md, "\n".join(lines))
    write_html(out_dir, figures, text, title, notes)
    _load.cache_clear()
    return out_dir


def main(argv=None):
    parser = ArgumentParser(prog="python -m bvae_tf.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="sweep folder written by python -m bvae_tf.sweep")
    parser.add_argument("--out", default=None, help="output folder (default <sweep>/report)")
    parser.add_argument(
        "--traversal-beta",
        type=float,
        default=5.0,
        help="β-VAE-only sweeps: the β whose traversals are drawn (nearest available; default 5); "
        "other sweeps draw each model's best setting by MIG",
    )
    args = parser.parse_args(argv)
    out_dir = make_report(args.sweep, args.out, args.traversal_beta)
    print(f"report written to {out_dir} (open report.html)")
    return 0


if __name__ == "__main__":
    run_cli(main)
