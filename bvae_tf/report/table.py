"""Table 1: per (model, hyperparameter, value), the seeds and each loss and metric over them."""

import pandas as pd

from bvae_tf.report.reading import KEYS, setting, symbol, table_labels


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


def markdown(text):
    names = list(text.index.names)
    lines = ["| " + " | ".join(names + list(text.columns)) + " |", "|" + "---|" * (len(names) + len(text.columns))]
    lines += ["| " + " | ".join(list(key) + list(row)) + " |" for key, row in zip(text.index, text.values)]
    return "\n".join(lines)
