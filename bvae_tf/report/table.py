"""Table 1: per (model, hyperparameter, value), the seeds and each loss and metric over them:
the mean and its 95 % confidence interval (see :mod:`bvae_tf.report.stats`). Table 2: every
trial, the numbers behind Table 1's means and the figures' dots."""

import pandas as pd

from bvae_tf.report.reading import KEYS, RUN_LABELS, setting, symbol, table_labels
from bvae_tf.report.stats import intervals


def summarize(results):
    """Table 1: seeds, and the mean over seeds of every loss and metric with its 95 % interval
    (``low``, ``high``; empty for one seed), one row per (model, hyperparameter, value)."""
    columns = [c for c in table_labels() if c in results]
    stats = intervals(results, columns)
    table = pd.concat(
        {part: pd.DataFrame({c: stats[c][part] for c in columns}) for part in ("mean", "low", "high")}, axis=1
    )
    table.insert(0, ("seeds", "n"), results.groupby(KEYS, sort=False).size())
    return table


def cell(mean, low, high, digits=3):
    """ "mean [low, high]"; the mean alone without an interval (one seed); "–" for no value."""
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" if pd.isna(low) else f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def format_table(table):
    """Table 1 as text: a row per model and value, its seeds (n) and each cell "mean [low, high]"
    (the mean alone for one seed), columns named as in the figures: scores to 3 decimals, losses
    (nats) and latent counts to 1. With one hyperparameter the
    value column is named by it (β), otherwise each value is written with its symbol (C_max=25)."""
    labels = table_labels()
    columns = [c for c in labels if ("mean", c) in table]
    cells = {
        labels[c]: [
            cell(*values, digits=1 if c in RUN_LABELS else 3)
            for values in zip(table[("mean", c)], table[("low", c)], table[("high", c)])
        ]
        for c in columns
    }
    index = _setting_index(*(table.index.get_level_values(key) for key in KEYS))
    return pd.DataFrame({"n": [str(int(n)) for n in table[("seeds", "n")]], **cells}, index=index)


def format_trials(results):
    """Table 2 as text: a row per trial (model, setting, seed), in Table 1's order and columns,
    each cell the trial's own number ("–" where it has none)."""
    labels = table_labels()
    columns = [c for c in labels if c in results]
    trials = pd.concat([group.sort_values("seed") for _, group in results.groupby(KEYS, sort=False)])
    cells = {
        labels[c]: [cell(value, None, None, digits=1 if c in RUN_LABELS else 3) for value in trials[c]] for c in columns
    }
    index = _setting_index(*(trials[key] for key in KEYS), seeds=[str(int(seed)) for seed in trials["seed"]])
    return pd.DataFrame(cells, index=index)


def _setting_index(model, hyperparameter, value, seeds=None):
    """The rows' index: model and setting (named by the hyperparameter, β, when there is one; else
    each value with its symbol, C_max=25), and the seed if given."""
    hyperparameter, value = list(hyperparameter), list(value)
    if len(set(hyperparameter)) == 1:
        settings, name = [f"{v:g}" for v in value], symbol(hyperparameter[0])
    else:
        settings, name = [setting(h, v) for h, v in zip(hyperparameter, value)], "setting"
    arrays, names = [list(model), settings], ["model", name]
    if seeds is not None:
        arrays, names = arrays + [seeds], names + ["seed"]
    return pd.MultiIndex.from_arrays(arrays, names=names)


def markdown(text):
    """A DataFrame with a (multi-)index as a Markdown table, the index as the first columns."""
    names = list(text.index.names)
    lines = ["| " + " | ".join(names + list(text.columns)) + " |", "|" + "---|" * (len(names) + len(text.columns))]
    keys = [key if isinstance(key, tuple) else (key,) for key in text.index]
    lines += ["| " + " | ".join(list(key) + list(row)) + " |" for key, row in zip(keys, text.values)]
    return "\n".join(lines)
