"""The typed settings of a run, an evaluation and a sweep: built once, validated in one place.

A command line, the sweep and the pipeline all build these frozen dataclasses (from flags with
``from_args``, from Python with keywords or ``from_dict``), and everything downstream reads
their fields. A bad value raises :class:`~bvae_tf.errors.UserError` naming the flag, which the
commands print as one ``error:`` line (exit 2) before anything is written. ``to_dict`` /
``from_dict`` are the ``config.json`` and ``sweep.json`` forms, with flag names as keys.

TensorFlow is not imported here: settings are plain values.
"""

import dataclasses
import math
import os
from typing import Optional, Tuple

from bvae_tf.errors import UserError
from bvae_tf.metrics import registry
from bvae_tf.metrics.dci import MODELS as DCI_MODELS
from bvae_tf.metrics.sampling import PRESETS, Sizes

CONFIG_VERSION = 1
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")


def _flag(field):
    return "--" + field.replace("_", "-")


def _require(condition, message):
    if not condition:
        raise UserError(message)


def _check_positive(config, fields):
    for field in fields:
        value = getattr(config, field)
        _require(value > 0 and math.isfinite(value), f"{_flag(field)} must be positive, got {value}")


def _coerce_numbers(config):
    """Turn the int and float fields of a frozen dataclass into exactly those types (from Python,
    ``beta=5`` must give the same config.json as ``--beta 5``)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.type not in (int, float) or isinstance(value, bool):
            continue
        try:
            number = field.type(value)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{_flag(field.name)} must be a number, got {value!r}") from None
        _require(field.type is float or number == value, f"{_flag(field.name)} must be an integer, got {value!r}")
        object.__setattr__(config, field.name, number)


def _known(cls, values, what):
    """``values`` with unknown keys refused (a misspelt setting must not pass silently)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    _require(not unknown, f"unknown {what}: {', '.join(unknown)}")
    return values


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which dSprites images a run trains on, and where their TFRecords are (see bvae_tf.data)."""

    source: Tuple[str, ...] = ("render",)  # a name and at most one path
    subset: int = 50_000  # training images drawn at random; 0 = all not held out
    val_size: int = 5_000
    seed: int = 0  # seed of the subset and split
    shard_size: int = 5_000
    data_dir: Optional[str] = None  # default: derived from the fields above

    # Command-line (and config.json) names of the fields.
    FLAGS = {"source": "source", "subset": "subset", "val_size": "val_size", "data_seed": "seed",
             "shard_size": "shard_size", "data_dir": "data_dir"}

    def __post_init__(self):
        _coerce_numbers(self)
        source = (self.source,) if isinstance(self.source, str) else tuple(self.source)
        if len(source) == 1 and " " in source[0]:
            source = tuple(source[0].split())
        object.__setattr__(self, "source", source)
        _require(1 <= len(source) <= 2, f"--source takes a name and at most one path, got {' '.join(source)}")
        _check_positive(self, ("shard_size",))

    @classmethod
    def from_flags(cls, values, base=None):
        """``base`` (default: the defaults) with the data flags found in ``values`` (a dict) applied."""
        found = {field: values[flag] for flag, field in cls.FLAGS.items() if flag in values}
        return dataclasses.replace(base or cls(), **found)

    def to_flags(self):
        return {flag: list(self.source) if field == "source" else getattr(self, field)
                for flag, field in self.FLAGS.items()}

    @property
    def folder(self):
        return self.data_dir or os.path.join(
            "data", f"dsprites-{self.source[0]}-n{self.subset}-v{self.val_size}-s{self.seed}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: model, optimisation and data, plus where it goes and how it reports."""

    beta: float = 1.0
    latent_dim: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 10
    seed: int = 0
    precision: str = "auto"
    strategy: str = "default"
    data: DataConfig = DataConfig()
    name: Optional[str] = None  # default beta<β>_seed<seed>
    runs_dir: str = "runs"
    saved_models_dir: str = "saved_models"
    resume: bool = False
    overwrite: bool = False
    verbose: int = 1

    # Settings that may change when a run is resumed; any other difference is an error.
    RESUMABLE = ("epochs", "resume", "overwrite", "verbose")

    def __post_init__(self):
        _coerce_numbers(self)
        _require(isinstance(self.data, DataConfig), "data must be a DataConfig")
        _require(self.beta >= 0 and math.isfinite(self.beta), f"--beta must be a finite number >= 0, got {self.beta}")
        _check_positive(self, ("latent_dim", "batch_size", "epochs", "learning_rate"))
        _require(self.precision in PRECISIONS,
                 f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        _require(self.strategy in STRATEGIES,
                 f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        _require(not (self.resume and self.overwrite), "--resume and --overwrite exclude each other")
        name = self.run_name
        _require(name and os.sep not in name and name not in (".", ".."),
                 f"--name must be a plain folder name, got {name!r}")

    @property
    def run_name(self):
        return self.name or f"beta{self.beta:g}_seed{self.seed}"

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """Flat, keyed by flag names (``config.json``'s ``settings``)."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "data"}
        return {**flat, **self.data.to_flags()}

    @classmethod
    def from_dict(cls, values=None, **overrides):
        """From flag-named settings (a dict, e.g. ``config.json``'s, or keywords); missing = defaults."""
        values = dict(values or {}, **overrides)
        data = DataConfig.from_flags(values, base=values.pop("data", None))
        for flag in DataConfig.FLAGS:
            values.pop(flag, None)
        return cls(data=data, **_known(cls, values, "training settings"))

    @classmethod
    def from_args(cls, args):
        """From an argparse namespace holding (at least) the training flags; other flags are ignored."""
        names = {f.name for f in dataclasses.fields(cls)} | set(DataConfig.FLAGS)
        return cls.from_dict({key: value for key, value in vars(args).items() if key in names})


def _resolve_metrics(metrics):
    names = tuple(registry.METRICS) if metrics is None else tuple(metrics)
    unknown = [m for m in names if m not in registry.METRICS]
    _require(names and not unknown, f"unknown metric(s) {', '.join(unknown) or '(none given)'}; "
                                    f"choose from {','.join(registry.METRICS)}")
    return names


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """One evaluation: which metrics, at which sample sizes, with which seed and DCI classifier.

    Build it with :meth:`create` from loose values (a preset name plus size overrides).
    """

    metrics: Optional[Tuple[str, ...]] = None  # default: every registered metric
    preset: str = "reference"
    sizes: Sizes = PRESETS["reference"]
    seed: int = 0
    dci_model: str = "reference"  # "reference": the spec's classifier; "fast": approximate

    def __post_init__(self):
        _coerce_numbers(self)
        object.__setattr__(self, "metrics", _resolve_metrics(self.metrics))
        _require(self.preset in PRESETS, f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        _require(self.dci_model in DCI_MODELS,
                 f"unknown DCI model {self.dci_model!r}; choose from {', '.join(DCI_MODELS)}")
        for field in dataclasses.fields(Sizes):
            value = getattr(self.sizes, field.name)
            _require(isinstance(value, int) and value >= 2, f"size {field.name} must be an integer >= 2, got {value!r}")

    @classmethod
    def create(cls, metrics=None, preset="reference", seed=0, sizes=None, dci_model=None):
        """``sizes``: {field: int} overriding the preset's (None values keep it)."""
        _require(preset in PRESETS, f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        overrides = {k: v for k, v in (sizes or {}).items() if v is not None}
        fields = [f.name for f in dataclasses.fields(Sizes)]
        unknown = [k for k in overrides if k not in fields]
        _require(not unknown, f"unknown size {', '.join(unknown)}; choose from {', '.join(fields)}")
        overrides = {k: int(v) if isinstance(v, int) or hasattr(v, "__index__") else v for k, v in overrides.items()}
        return cls(_resolve_metrics(metrics), preset, dataclasses.replace(PRESETS[preset], **overrides), seed,
                   dci_model or "reference")

    @property
    def size_overrides(self):
        """The sizes that differ from the preset's."""
        preset = PRESETS[self.preset]
        return {f.name: getattr(self.sizes, f.name) for f in dataclasses.fields(Sizes)
                if getattr(self.sizes, f.name) != getattr(preset, f.name)}


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A grid of (β, seed) trials, each trained with ``training`` and scored with ``evaluation``."""

    betas: Tuple[float, ...] = (0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 50.0)  # the report's
    seeds: Tuple[int, ...] = (0,)
    out_dir: str = os.path.join("sweeps", "beta_sweep")
    training: TrainConfig = TrainConfig(verbose=0)
    evaluation: EvalSpec = dataclasses.field(default_factory=lambda: EvalSpec.create(preset="fast"))

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        _require(self.betas and self.seeds, "--betas and --seeds need at least one value each")
        _require(len(set(self.betas)) == len(self.betas) and len(set(self.seeds)) == len(self.seeds),
                 "--betas and --seeds must not repeat a value")
        bad = [b for b in self.betas if not (b >= 0 and math.isfinite(b))]
        _require(not bad, f"--betas must be finite numbers >= 0, got {bad[0] if bad else None}")
        _require("mig" in self.evaluation.metrics,
                 f"--metrics must include mig, the sweep's objective; got {','.join(self.evaluation.metrics)}")

    def trial(self, beta, seed, runs_dir, saved_models_dir, name):
        """The TrainConfig of one trial (resumable, so a rerun continues it)."""
        return self.training.replace(beta=beta, seed=seed, name=name, resume=True, overwrite=False,
                                     runs_dir=runs_dir, saved_models_dir=saved_models_dir)

    def to_dict(self):
        """``sweep.json``: what identifies the sweep (a rerun must match it to resume)."""
        training = self.training.to_dict()
        # Per-trial settings, and presentation (verbose), do not identify the sweep.
        for key in ("beta", "seed", "name", "runs_dir", "saved_models_dir", "resume", "overwrite", "verbose"):
            training.pop(key)
        spec = self.evaluation
        return {"version": CONFIG_VERSION, "betas": list(self.betas), "seeds": list(self.seeds),
                "preset": spec.preset, "metrics": list(spec.metrics), "metric_seed": spec.seed,
                "metric_sizes": spec.size_overrides, "dci_model": spec.dci_model, "training": training}
