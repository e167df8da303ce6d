"""What has been trained here: ``python -m bvae_tf.runs [FOLDER ...]`` (default: runs/ and saved_models/).

One row per trained run (a folder with config.json and history.csv) and per SavedModel without
its run folder (a folder with saved_model.pb), found anywhere under the folders given (so a sweep
folder lists its trials): the model, dataset, hyperparameters, epochs done (of those asked), the
final training losses and whether the SavedModel is evaluated (a metrics.json beside it or an
``evaluations/`` folder in it). It reads only JSON and CSV files: no TensorFlow is imported.
"""

import json
import os
import re
import sys

import pandas as pd

from bvae_tf.config import MODELS
from bvae_tf.errors import ArgumentParser, UserError, run_cli
from bvae_tf.layout import ModelFolder, RunFolder

DEFAULT_FOLDERS = ("runs", "saved_models")
DEFAULT_DATASET = "dsprites_full"  # what every run trained on before the dataset was a setting
MAX_WIDTH = 120
NUMBER = re.compile(r"(\d+(?:\.\d+)?)")  # split() keeps them: every odd part is a number
COLUMNS = ("name", "model", "dataset", "hyperparameters", "epochs", "loss", "recon", "kl", "evaluated")


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def hyperparameters(model, values):
    """``beta=4`` or ``c_max=25 gamma=1000 iteration_threshold=520``: the main one first, unset ones left out."""
    spec = MODELS.get(model)
    names = [spec.main, *(name for name in spec.defaults if name != spec.main)] if spec else []
    return " ".join(f"{name}={values[name]:g}" for name in names if isinstance(values.get(name), (int, float)))


def evaluated(saved_model):
    """The settings names of the SavedModel's evaluations ("fast-seed0, reference-seed0"), "no", or
    "-" without a SavedModel; "yes" for a metrics.json beside it (written before evaluations had folders)."""
    if saved_model is None or not os.path.isdir(saved_model):
        return "-"
    folder = ModelFolder(saved_model)
    names = sorted(
        name
        for name in (os.listdir(folder.evaluations) if os.path.isdir(folder.evaluations) else [])
        if os.path.isfile(folder.evaluation(name).metrics)
    )
    if names:
        return ", ".join(names)
    return "yes" if os.path.isfile(os.path.join(saved_model, "metrics.json")) else "no"


def epochs(done, asked):
    return f"{done}" if asked in (None, done) else f"{done}/{asked}"


def run_row(path):
    """A run folder's row, from config.json and history.csv (and its SavedModel, if it is there)."""
    run = RunFolder(path)
    config = read_json(run.config)
    settings = config.get("settings", {})
    model = settings.get("model", "beta_vae")  # runs from before the model zoo trained β-VAEs
    try:
        history = pd.read_csv(run.history)
    except (OSError, ValueError):
        history = pd.DataFrame()
    final = history.iloc[-1].to_dict() if len(history) else {}
    saved_model = config.get("saved_model")
    return {
        "name": os.path.basename(os.path.normpath(path)),
        "model": model,
        "dataset": settings.get("dataset", DEFAULT_DATASET),
        "hyperparameters": hyperparameters(model, settings),
        "epochs": epochs(len(history), settings.get("epochs")),
        **{term: final.get(term) for term in ("loss", "recon", "kl")},
        "evaluated": evaluated(saved_model),
        "saved_model": os.path.abspath(saved_model) if saved_model else None,
    }


def model_row(path):
    """A SavedModel's row, from its model card."""
    card = read_json(ModelFolder(path).card)
    model = card.get("model", "beta_vae")
    final = card.get("final", {})
    return {
        "name": os.path.basename(os.path.normpath(path)),
        "model": model,
        "dataset": card.get("dataset", card.get("data", {}).get("dataset", DEFAULT_DATASET)),
        "hyperparameters": hyperparameters(model, card),
        "epochs": epochs(card.get("epochs_completed", "?"), card.get("training", {}).get("epochs")),
        **{term: final.get(term) for term in ("loss", "recon", "kl")},
        "evaluated": evaluated(path),
        "saved_model": os.path.abspath(path),
    }


def natural_order(name):
    """A sort key that reads the numbers in a name as numbers: β 0.5, 1, 2.5, 10, not 0.5, 1, 10, 2.5."""
    return [(0, float(part), "") if k % 2 else (1, 0.0, part) for k, part in enumerate(NUMBER.split(name))]


def find(folder):
    """(run folders, SavedModel folders) anywhere under ``folder``, in name order (`natural_order`)."""
    runs, models = [], []
    for path, dirs, files in os.walk(folder):
        dirs.sort(key=natural_order)
        if "config.json" in files and "history.csv" in files:
            runs.append(path)
        elif "saved_model.pb" in files:
            models.append(path)
        else:
            continue
        dirs.clear()  # nothing to list inside a run or a SavedModel
    return runs, models


def list_runs(folders):
    """The table's rows: each run, then each SavedModel whose run folder is not among them."""
    runs, models = [], []
    for folder in folders:
        found = find(folder)
        runs += found[0]
        models += found[1]
    rows = [run_row(path) for path in runs]
    exported = {row["saved_model"] for row in rows}
    rows += [model_row(path) for path in models if os.path.abspath(path) not in exported]
    return rows


def cell(value):
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def format_table(rows, max_width=MAX_WIDTH):
    """A plain text table, at most ``max_width`` columns: numbers right-aligned, and the widest
    text columns (name, hyperparameters) cut with "…" when the rows would be wider."""
    cells = [[cell(row[column]) for column in COLUMNS] for row in rows]
    widths = [max([len(column), *(len(line[k]) for line in cells)]) for k, column in enumerate(COLUMNS)]
    shrinkable = [COLUMNS.index("name"), COLUMNS.index("hyperparameters")]
    while sum(widths) + 2 * (len(widths) - 1) > max_width:  # cut the wider of the two, a character at a time
        k = max(shrinkable, key=lambda k: widths[k])
        if widths[k] <= len(COLUMNS[k]):
            break
        widths[k] -= 1
    numeric = {"epochs", "loss", "recon", "kl"}

    def line(values):
        parts = []
        for value, width, column in zip(values, widths, COLUMNS):
            value = value if len(value) <= width else value[: width - 1] + "…"
            parts.append(value.rjust(width) if column in numeric else value.ljust(width))
        return "  ".join(parts).rstrip()

    return "\n".join([line(COLUMNS), *(line(values) for values in cells)])


def main(argv=None):
    parser = ArgumentParser(prog="python -m bvae_tf.runs", description=__doc__.splitlines()[0])
    parser.add_argument(
        "folders", nargs="*", metavar="FOLDER", help="where to look (default: runs and saved_models, those that exist)"
    )
    args = parser.parse_args(argv)
    folders = args.folders or [folder for folder in DEFAULT_FOLDERS if os.path.isdir(folder)]
    for folder in args.folders:
        if not os.path.isdir(folder):
            raise UserError(f"FOLDER: {folder} is not a folder; give a folder of runs or SavedModels (e.g. runs)")
    if not folders:
        raise UserError("no runs/ or saved_models/ folder here; give the folder to list (e.g. sweeps/<name>)")
    rows = list_runs(folders)
    if not rows:
        print(f"no trained runs or SavedModels under {', '.join(folders)}")
        return 0
    print(format_table(rows))
    print(f"\n{len(rows)} found; losses are the last epoch's training values")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
