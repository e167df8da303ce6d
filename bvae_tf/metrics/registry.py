"""The one list of metrics every consumer iterates over (evaluate, sweep, report).

Each metric module declares a :class:`Metric` once: its name, which samples it needs, how it
scores them, and which of its result's scalars become columns (with the label tables and plots
show). ``bvae_tf.metrics`` registers the built-in ones; adding a metric is one new module with a
``METRIC`` and one line there.
"""

import dataclasses
from collections.abc import Callable
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Sampler:
    """How to draw the factor classes a family of metrics needs from the dSprites ground truth.

    ``draw(sizes, seed) -> (factors, labels)``: ``factors`` maps array names to int class arrays
    [..., 5] (their codes come back under the same names), ``labels`` any per-point labels.
    ``uniform``: the name of an array of uniformly drawn factors (its codes give the evaluation's
    count of active latents). Metrics sharing a sampler share its draw (and its encoding).
    """

    name: str
    draw: Callable
    uniform: str


@dataclasses.dataclass(frozen=True)
class Score:
    """One scalar of a metric's result as a column of ``metrics.json`` scores and ``results.csv``."""

    field: str  # attribute of the metric's Result
    column: str  # flat name, unique across metrics
    label: Optional[str] = None  # shown in the report's table and plots; None = not shown


@dataclasses.dataclass(frozen=True)
class Metric:
    """A disentanglement metric: ``score(samples, spec) -> Result`` on the codes of ``sampler``'s draw.

    ``samples`` is a :class:`bvae_tf.metrics.sampling.Samples`; ``spec`` the
    :class:`bvae_tf.config.EvalSpec` (for its seed and options).
    """

    name: str
    sampler: Sampler
    score: Callable
    scores: tuple[Score, ...]


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


def score_labels():
    """{column: label} of every shown score, in registry order (the report's columns)."""
    return {score.column: score.label for metric in METRICS.values() for score in metric.scores if score.label}
