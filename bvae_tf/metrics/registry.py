"""The one list of metrics every consumer iterates over (evaluate, sweep, report).

Each metric module declares a :class:`Metric` once: its name, which samples it needs, how it
scores them, and which of its result's scalars become columns (with the label tables and plots
show). ``bvae_tf.metrics`` registers the built-in ones; adding a metric is one new module with a
``METRIC`` and one line there.
"""

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any, Optional

PRESETS = ("reference", "fast")  # reference: disentanglement_lib's sizes; fast: a quick look


@dataclasses.dataclass(frozen=True)
class Sampler:
    """How to draw the factor classes a family of metrics needs from the dSprites ground truth.

    ``draw(sizes, seed) -> (factors, labels)``: ``factors`` maps array names to int class arrays
    [..., 5] (their codes come back under the same names), ``labels`` any per-point labels.
    ``uniform``: the name of an array of uniformly drawn factors (its codes give the evaluation's
    count of active latents). Metrics sharing a sampler share its draw (and its encoding), so
    they share its sizes: ``sizes`` is a frozen dataclass of them at the reference values (its
    field names are the evaluation's size flags, e.g. ``--num-train``), ``fast`` the same at the
    ``fast`` preset's.
    """

    name: str
    draw: Callable
    uniform: str
    sizes: Any
    fast: Any

    def preset(self, name):
        return self.fast if name == "fast" else self.sizes


@dataclasses.dataclass(frozen=True)
class Score:
    """One scalar of a metric's result as a column of ``metrics.json`` scores and ``results.csv``."""

    field: str  # attribute of the metric's Result
    column: str  # flat name, unique across metrics
    label: Optional[str] = None  # shown in the report's table and plots; None = not shown
    low: float = 0.0  # the range of the score
    high: Optional[float] = 1.0  # None: unbounded
    higher_is_better: bool = True


@dataclasses.dataclass(frozen=True)
class MatrixView:
    """A matrix of a metric's result that the report draws as a factor x latent heat map."""

    field: str  # the Result's matrix field
    title: str
    per_latent: Optional[str] = None  # a [L] field written under each latent's tick
    latent_rows: bool = True  # the matrix is [latent, factor] (False: [factor, latent])
    rows: str = "factor"  # what the drawn rows are: "factor", or "latent" for a [latent, latent] matrix


@dataclasses.dataclass(frozen=True)
class Metric:
    """A disentanglement metric: ``score(samples, options, seed) -> Result`` on the codes of
    ``sampler``'s draw.

    ``samples`` is a :class:`bvae_tf.metrics.sampling.Samples`; ``options`` the metric's own
    options (a frozen dataclass; here, at the reference values; None if it has none) as the
    evaluation set them; ``seed`` the evaluation's seed. ``views``: the matrices the report draws.
    """

    name: str
    sampler: Sampler
    score: Callable
    scores: tuple[Score, ...]
    options: Any = None
    views: tuple[MatrixView, ...] = ()
    default: bool = True  # scored when no --metrics are given (slow families are asked for by name)
    cost: Optional[str] = None  # said in its progress line when scoring takes minutes, e.g. "about 10 min at ..."


METRICS = {}


def register(metric):
    """Add ``metric`` to the registry (its name and columns must be new); returns it."""
    if metric.name in METRICS:
        raise ValueError(f"a metric named {metric.name!r} is already registered")
    taken = {score.column for known in METRICS.values() for score in known.scores}
    clash = [score.column for score in metric.scores if score.column in taken]
    if clash:
        raise ValueError(f"metric {metric.name!r}: columns {clash} are already taken")
    METRICS[metric.name] = metric
    return metric


def unregister(name):
    METRICS.pop(name)


ALIASES = {  # other names researchers know a metric by, accepted by --metrics
    "beta_vae_score": "zdiff",
    "beta_vae": "zdiff",
    "factor_vae_score": "zmin",
    "factor_vae": "zmin",
}


def canonical(name):
    """The registry's name of a metric given by its name or an alias (unknown names unchanged)."""
    return ALIASES.get(name, name)


def reference_points():
    """{"perfect"|"random": {column: score}}: what a perfect and a random code score, as measured
    by tools/reference_points.py (empty if not measured)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_points.json")
    try:
        with open(path) as f:
            return json.load(f)["points"]
    except (OSError, ValueError, KeyError):
        return {}


def default_metrics():
    """The metrics an evaluation scores when none are named."""
    return tuple(name for name, metric in METRICS.items() if metric.default)


def samplers():
    """The samplers of the registered metrics, each once, in registry order."""
    return list(dict.fromkeys(metric.sampler for metric in METRICS.values()))


def size_fields():
    """Every sampler's size names (the evaluation's size flags), each once."""
    return tuple(dict.fromkeys(f.name for sampler in samplers() for f in dataclasses.fields(sampler.sizes)))


def matrix_views():
    """[(matrix key in matrices.npz, MatrixView)] of every registered metric, in registry order."""
    return [(f"{metric.name}_{view.field}", view) for metric in METRICS.values() for view in metric.views]


def score_labels():
    """{column: label} of every shown score, in registry order (the report's columns)."""
    return {score.column: score.label for metric in METRICS.values() for score in metric.scores if score.label}


def score_ranges():
    """{column: (low, high)} of every score; high is None where it is unbounded."""
    return {score.column: (score.low, score.high) for metric in METRICS.values() for score in metric.scores}
