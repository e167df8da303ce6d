"""Reading a sweep folder: ``results.csv``, each trial's ``history.csv``, its SavedModel and matrices.

Also the names every part of the report shares: the columns it shows and their labels (from the
metric registry), how a setting is written (``β=5``), the models' order, and which trial of a
setting stands for it in the figures.
"""

import functools
import json
import os

import numpy as np
import pandas as pd

from bvae_tf import model_registry
from bvae_tf.config import MODELS
from bvae_tf.data import get_dataset
from bvae_tf.errors import UserError
from bvae_tf.history import zero_based
from bvae_tf.layout import RunFolder, ScoresFolder, SweepFolder, trial_name
from bvae_tf.metrics import registry
from bvae_tf.saved_model import load

RUN_LABELS = {
    "val_recon": "recon (val)",
    "val_kl": "KL (val)",
    "val_loss": "loss (val)",
    "active_latents_kl": "active latents",
}
# What cannot be negative: a Bernoulli reconstruction loss, a KL divergence, a count. (The total
# loss can: FactorVAE's and β-TCVAE's total-correlation estimates may be.)
RUN_RANGES = {"val_recon": (0.0, None), "val_kl": (0.0, None), "active_latents_kl": (0.0, None)}
# The model zoo in the order the report shows it.
MODEL_ORDER = tuple(MODELS)
BASELINE = ("beta_vae", 1.0)  # the plain VAE: a red dashed line on β-VAE's metric plots
KEYS = ["model", "hyperparameter", "value"]  # one setting; its trials differ by seed only


def metric_labels():
    """{results.csv column: label} of every registered metric's shown scores."""
    return registry.score_labels()


def table_labels():
    return {**RUN_LABELS, **metric_labels()}


def value_ranges():
    """{column: (low, high)} of Table 1's columns with a known range (None: unbounded)."""
    return {**RUN_RANGES, **registry.score_ranges()}


def symbol(hyperparameter):
    """The hyperparameter as figures write it (its model's declaration): beta -> β, c_max -> C_max."""
    return model_registry.label(hyperparameter)


def setting(hyperparameter, value):
    """One setting as a label: ``β=5``, ``C_max=25``."""
    return f"{symbol(hyperparameter)}={value:g}"


def label(results, model, value):
    """A setting as figures name it: ``β=5`` in a β-VAE-only sweep, else ``factor_vae γ=30``."""
    label = setting(hyperparameter_of(results[results["model"] == model]), value)
    return label if beta_only(results) else f"{model} {label}"


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
    """``results`` with ``value`` and ``seed`` typed and ``trial`` (the folder name), sorted by model,
    value and seed. Every name that becomes part of a path is checked first: the model against
    the zoo, the hyperparameter against the model's, the value and seed as numbers (so a crafted
    ``results.csv`` cannot make the report read or write outside the sweep)."""
    missing = [c for c in ("model", "hyperparameter", "value", "seed") if c not in results]
    if missing:
        raise UserError(f"{path}: column(s) {', '.join(missing)} missing")
    results = results.copy()
    for model, hyperparameter in zip(results["model"], results["hyperparameter"]):
        if model not in MODELS:
            raise UserError(f"{path}: model {model!r} is not one of bvae_tf's models ({', '.join(MODELS)})")
        if hyperparameter != MODELS[model].main:
            raise UserError(
                f"{path}: hyperparameter {hyperparameter!r} of model {model} is not the one its sweeps vary "
                f"({MODELS[model].main})"
            )
    for column, kind in (("value", float), ("seed", int)):
        numbers = pd.to_numeric(results[column], errors="coerce")
        bad = ~np.isfinite(numbers) | ((numbers != numbers.round()) if kind is int else False)
        if bad.any():
            raise UserError(f"{path}: {column} '{results[column][bad].iloc[0]}' is not a finite {kind.__name__}")
        results[column] = numbers.astype(kind)
    results["trial"] = [
        trial_name(*key) for key in zip(results["model"], results["hyperparameter"], results["value"], results["seed"])
    ]
    return results.sort_values(["model", "value", "seed"], key=_zoo_order).reset_index(drop=True)


def _zoo_order(column):
    """Sort key: models in MODEL_ORDER; other columns as they are."""
    return column.map(MODEL_ORDER.index) if column.name == "model" else column


def planned_trials(folder):
    """How many trials the sweep's grid has (settings x seeds, from sweep.json); None without it."""
    try:
        with open(folder.config) as f:
            grid = json.load(f)
        return len(grid["settings"]) * len(grid["seeds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_sweep(sweep_dir):
    """The results table (see `_with_settings`) and each trial's per-epoch history (one frame, a
    row per trial and epoch, with the trial's model, value and seed). The table's attrs: the
    failed trials left out (``left_out``), the size of the sweep's grid (``planned``)."""
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
    results.attrs["planned"] = planned_trials(folder)
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
        if zero_based(history):  # written before bvae_tf counted epochs from 1
            history = history.assign(epoch=history["epoch"] + 1)
        histories.append(history.assign(model=row.model, value=row.value, seed=row.seed))
    return results, pd.concat(histories, ignore_index=True)


def models(results):
    """The sweep's models, in the report's order."""
    return list(dict.fromkeys(results["model"]))


def beta_only(results):
    """A β-VAE-only sweep keeps the β study's figure names."""
    return models(results) == ["beta_vae"]


def hyperparameter_of(rows):
    return rows["hyperparameter"].iloc[0]


def best_value(rows):
    """The value with the highest mean MIG over seeds among ``rows`` (one model); the first without MIG."""
    mig = rows.groupby("value")["mig"].mean() if "mig" in rows else pd.Series(dtype=float)
    return float(mig.idxmax()) if mig.notna().any() else float(rows["value"].iloc[0])


def shown_trial(rows, value):
    """The trial shown for a value of one model: its best seed by MIG (or the first seed without metrics)."""
    rows = rows[rows["value"] == value]
    return rows.loc[rows["mig"].idxmax()] if "mig" in rows and rows["mig"].notna().any() else rows.iloc[0]


@functools.lru_cache(maxsize=4)
def _dataset(name):
    return get_dataset(name)


def report_dataset(results):
    """The ground truth of a sweep's trials (the ``dataset`` column; dsprites_full for sweeps from
    before datasets were a setting): factor names and example images for the figures."""
    names = results["dataset"].dropna().unique() if "dataset" in results else []
    if len(names) > 1:
        raise UserError(
            f"the sweep's trials were trained on several datasets ({', '.join(names)}); report one at a time"
        )
    return _dataset(names[0] if len(names) else "dsprites_full")


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


def read_matrices(trial):
    path = ScoresFolder(trial["evaluation"]).matrices
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing: evaluate the model first (python -m bvae_tf.evaluate)")
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def saved_model(trial, *signatures):
    """The trial's SavedModel (`bvae_tf.saved_model.load`: loaded once per report)."""
    return load(trial["saved_model"]).require(*signatures)
