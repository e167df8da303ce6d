"""How sure the report is: a 95 % confidence interval of each setting's mean over seeds, how much
of a metric's variance the settings explain, and which settings differ from the baseline.

A sweep has few seeds per setting: Student's t interval below ``BOOTSTRAP_FROM`` seeds (it
assumes roughly normal scores, the only option with 2-9 points), a seeded percentile bootstrap
from there on (no normality assumption). One seed has no interval. An interval is cut to the
quantity's range (MIG in [0, 1], a reconstruction loss >= 0): its mean lies there, so the cut
interval covers it exactly as often, and a t interval over two or three seeds reaches far past
the range otherwise.
"""

import numpy as np
import pandas as pd
from scipy import stats

from bvae_tf.report.reading import BASELINE, KEYS, metric_labels, models, setting, value_ranges

LEVEL = 0.95
BOOTSTRAP_FROM = 10  # seeds; fewer: Student's t
RESAMPLES = 9999


def interval(values, seed=0, bounds=(None, None)):
    """(mean, low, high) of ``values`` (one setting's scores over seeds, NaNs dropped); low and
    high are NaN for one value, all three for none; cut to ``bounds`` (None: unbounded)."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if n == 1:
        return mean, np.nan, np.nan
    if np.ptp(values) == 0:  # identical scores: no spread (scipy's intervals are undefined there)
        return mean, mean, mean
    if n < BOOTSTRAP_FROM:
        low, high = stats.t.interval(LEVEL, n - 1, loc=mean, scale=stats.sem(values))
    else:
        result = stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=LEVEL,
            n_resamples=RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = result.confidence_interval
    floor, ceiling = bounds
    low = low if floor is None else max(low, floor)
    high = high if ceiling is None else min(high, ceiling)
    return mean, float(low), float(high)


def intervals(results, columns, by=KEYS):
    """{column: DataFrame[mean, low, high, n]} per group of ``by`` (in the results' order); the
    intervals of a column with a known range (a metric's, a loss that cannot be negative) cut to it."""
    grouped = results.groupby(by, sort=False)
    ranges = value_ranges()
    out = {}
    for column in columns:
        bounds = ranges.get(column, (None, None))
        rows = {
            key: (*interval(group[column], bounds=bounds), int(group[column].notna().sum())) for key, group in grouped
        }
        frame = pd.DataFrame(list(rows.values()), columns=["mean", "low", "high", "n"])
        keys = list(rows)  # tuples: groupby over a list of columns
        frame.index = (
            pd.MultiIndex.from_tuples(keys, names=by) if len(by) > 1 else pd.Index([k[0] for k in keys], name=by[0])
        )
        out[column] = frame
    return out


def variance_shares(results):
    """Per metric, the share of its variance that lies between settings (the settings' means
    around the grand mean) and within them (seeds around their setting's mean): one-way sums of
    squares, between + within = 1, over the settings with two or more seeds. A setting with one
    seed has no measured spread: counting it would add to "between" alone. Empty until two
    settings have two seeds; only metrics with some variance."""
    rows = {}
    for metric, label in metric_labels().items():
        if metric not in results:
            continue
        scores = results[KEYS + [metric]].dropna()
        scores = scores[scores.groupby(KEYS)[metric].transform("size") >= 2]
        total = ((scores[metric] - scores[metric].mean()) ** 2).sum()
        if total <= 0 or scores.groupby(KEYS).ngroups < 2:
            continue
        means = scores.groupby(KEYS)[metric].transform("mean")
        within = ((scores[metric] - means) ** 2).sum() / total
        rows[label] = {"between settings": 1.0 - within, "within settings (seeds)": within}
    return pd.DataFrame.from_dict(rows, orient="index")


def baseline(rows):
    """The value one model's other settings are compared with: β=1 for β-VAE (the plain VAE), else
    the model's lowest value (the weakest regularizer swept)."""
    model = rows["model"].iloc[0]
    if model == BASELINE[0] and (rows["value"] == BASELINE[1]).any():
        return BASELINE[1]
    return float(rows["value"].min())


def findings(results):
    """ "What this study shows": per model and metric, the settings whose 95 % interval does not
    overlap the baseline's, from the numbers alone. Returns a list of sentences."""
    sentences = []
    for model in models(results):
        rows = results[results["model"] == model]
        hyperparameter = rows["hyperparameter"].iloc[0]
        base = baseline(rows)
        metrics = {m: label for m, label in metric_labels().items() if m in rows}
        table = intervals(rows, list(metrics), by=["value"])
        lead = f"{model}, against {setting(hyperparameter, base)}"
        if table and (next(iter(table.values()))["n"] < 2).all():
            sentences.append(f"{lead}: one seed per setting, so no intervals and no claim of a difference.")
            continue
        if rows["value"].nunique() < 2:
            continue
        parts = []
        for metric, label in metrics.items():
            frame = table[metric]
            if base not in frame.index or not np.isfinite(frame.loc[base, "low"]):
                continue
            low, high = frame.loc[base, "low"], frame.loc[base, "high"]
            apart = [
                f"{setting(hyperparameter, value)} ({'higher' if row['mean'] > high else 'lower'})"
                for value, row in frame.drop(index=base).iterrows()
                if np.isfinite(row["low"]) and (row["low"] > high or row["high"] < low)
            ]
            parts.append(f"{label}: {', '.join(apart)}" if apart else f"{label}: none")
        if parts:
            sentences.append(
                f"{lead}: the settings whose 95 % interval does not overlap the baseline's, per metric: {'; '.join(parts)}."
            )
    return sentences
