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
import typing
from typing import Optional

from bvae_tf.errors import UserError
from bvae_tf.layout import trial_name
from bvae_tf.metrics import registry
from bvae_tf.metrics.dci import MODELS as DCI_MODELS
from bvae_tf.metrics.sampling import PRESETS, Sizes

CONFIG_VERSION = 1
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")
JIT_COMPILE = ("auto", "on", "off")


def flag_name(field):
    """The command-line flag of a settings field: ``batch_size`` -> ``--batch-size``."""
    return "--" + field.replace("_", "-")


def _require(condition, message):
    if not condition:
        raise UserError(message)


def _check_positive(config, fields):
    for field in fields:
        value = getattr(config, field)
        _require(math.isfinite(value), f"{flag_name(field)} must be a finite number, got {value}")
        _require(value > 0, f"{flag_name(field)} must be positive, got {value}")


def _coerce_numbers(config):
    """Turn the int and float fields of a frozen dataclass into exactly those types (from Python,
    ``beta=5`` must give the same config.json as ``--beta 5``)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        kind = next((t for t in (field.type, *typing.get_args(field.type)) if t in (int, float)), None)
        if kind is None or value is None or isinstance(value, bool):
            continue
        try:
            number = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{flag_name(field.name)} must be a number, got {value!r}") from None
        _require(kind is float or number == value, f"{flag_name(field.name)} must be an integer, got {value!r}")
        object.__setattr__(config, field.name, number)


MAX_SEED = 2**32 - 1  # NumPy's legacy seeding, sklearn's random_state and Keras' set_random_seed take no more
MAX_INT32 = 2**31 - 1  # TensorFlow's shapes and batch sizes


def _check_range(config, fields, low, high):
    for field in fields:
        value = getattr(config, field)
        _require(low <= value <= high, f"{flag_name(field)} must be between {low} and {high}, got {value}")


def _known(cls, values, what):
    """``values`` with unknown keys refused (a misspelt setting must not pass silently)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    _require(not unknown, f"unknown {what}: {', '.join(unknown)}")
    return values


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which dSprites images a run trains on, and where their TFRecords are (see bvae_tf.data)."""

    source: tuple[str, ...] = ("render",)  # a name and at most one path
    subset: int = 50_000  # training images drawn at random; 0 = all not held out
    val_size: int = 5_000
    seed: int = 0  # seed of the subset and split
    shard_size: int = 5_000
    data_dir: Optional[str] = None  # default: derived from the fields above

    # Command-line (and config.json) names of the fields.
    FLAGS = {
        "source": "source",
        "subset": "subset",
        "val_size": "val_size",
        "data_seed": "seed",
        "shard_size": "shard_size",
        "data_dir": "data_dir",
    }

    def __post_init__(self):
        _coerce_numbers(self)
        source = (self.source,) if isinstance(self.source, str) else tuple(self.source)
        if len(source) == 1 and " " in source[0]:
            source = tuple(source[0].split())
        object.__setattr__(self, "source", source)
        _require(1 <= len(source) <= 2, f"--source takes a name and at most one path, got {' '.join(source)}")
        _check_positive(self, ("shard_size",))
        _check_range(self, ("subset", "val_size"), 0, MAX_INT32)
        _require(0 <= self.seed <= MAX_SEED, f"--data-seed must be between 0 and {MAX_SEED}, got {self.seed}")

    @classmethod
    def from_flags(cls, values, base=None):
        """``base`` (default: the defaults) with the data flags found in ``values`` (a dict) applied."""
        found = {field: values[flag] for flag, field in cls.FLAGS.items() if flag in values}
        return dataclasses.replace(base or cls(), **found)

    def to_flags(self):
        return {
            flag: list(self.source) if field == "source" else getattr(self, field) for flag, field in self.FLAGS.items()
        }

    @property
    def folder(self):
        return self.data_dir or os.path.join(
            "data", f"dsprites-{self.source[0]}-n{self.subset}-v{self.val_size}-s{self.seed}"
        )


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One objective of the model zoo as the settings see it (the Keras classes: bvae_tf.model, bvae_tf.zoo)."""

    name: str  # --model
    title: str
    paper: str
    loss: str
    main: str  # the hyperparameter a sweep varies
    defaults: dict  # each hyperparameter of the model -> its default (None: derived when training)
    grid: tuple[float, ...]  # the reference study's values of ``main``


# Defaults: β-VAE's β=1 (the plain VAE, the baseline); the others the middle of the reference grid.
MODELS = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "beta_vae", "β-VAE", "Higgins et al., ICLR 2017", "recon + β·kl", "beta", {"beta": 1.0}, (1, 2, 4, 6, 8, 16)
        ),
        ModelSpec(
            "annealed_vae",
            "AnnealedVAE",
            "Burgess et al., arXiv 1804.03599",
            "recon + γ·|kl − C(step)|",
            "c_max",
            {"c_max": 25.0, "gamma": 1000.0, "iteration_threshold": None},
            (5, 10, 25, 50, 75, 100),
        ),
        ModelSpec(
            "factor_vae",
            "FactorVAE",
            "Kim & Mnih, ICML 2018",
            "recon + kl + γ·TC_D",
            "gamma",
            {"gamma": 30.0},
            (10, 20, 30, 40, 50, 100),
        ),
        ModelSpec(
            "dip_vae_i",
            "DIP-VAE-I",
            "Kumar et al., ICLR 2018",
            "recon + kl + λ_od Σ_{i≠j} Cov[μ]_ij² + λ_d Σ_i (Cov[μ]_ii − 1)²",
            "lambda_od",
            {"lambda_od": 5.0, "lambda_d_factor": 10.0},
            (1, 2, 5, 10, 20, 50),
        ),
        ModelSpec(
            "dip_vae_ii",
            "DIP-VAE-II",
            "Kumar et al., ICLR 2018",
            "as DIP-VAE-I with Cov = Cov[μ] + E[diag exp(logvar)]",
            "lambda_od",
            {"lambda_od": 5.0, "lambda_d_factor": 1.0},
            (1, 2, 5, 10, 20, 50),
        ),
        ModelSpec(
            "beta_tcvae",
            "β-TCVAE",
            "Chen et al., NeurIPS 2018",
            "recon + kl + (β − 1)·TC",
            "beta",
            {"beta": 6.0},
            (1, 2, 4, 6, 8, 10),
        ),
    )
}
REPORT_BETAS = (0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 50.0)  # the β-VAE report's grid, the sweep's default
HYPERPARAMETERS = ("beta", "gamma", "c_max", "iteration_threshold", "lambda_od", "lambda_d_factor")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: model, optimisation and data, plus where it goes and how it reports.

    The hyperparameters (``beta`` … ``lambda_d_factor``) are None unless the model has them;
    an unset one of the model takes the model's default, a set one it lacks is an error.
    """

    model: str = "beta_vae"
    beta: Optional[float] = None
    gamma: Optional[float] = None
    c_max: Optional[float] = None
    iteration_threshold: Optional[int] = None  # AnnealedVAE; None: a third of the run's steps
    lambda_od: Optional[float] = None
    lambda_d_factor: Optional[float] = None  # DIP-VAE: λ_d = lambda_d_factor · λ_od
    latent_dim: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 10
    seed: int = 0
    precision: str = "auto"
    strategy: str = "default"
    steps_per_execution: int = 1
    jit_compile: str = "auto"  # Keras' "auto": XLA on a GPU, off on CPU and under a strategy
    data: DataConfig = DataConfig()
    name: Optional[str] = None  # default <model>_<hyperparameter><value>_seed<seed>
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
        self._resolve_hyperparameters()
        _check_positive(self, ("latent_dim", "batch_size", "epochs", "learning_rate"))
        _check_range(self, ("latent_dim", "batch_size", "epochs", "steps_per_execution"), 1, MAX_INT32)
        _require(
            self.jit_compile in JIT_COMPILE,
            f"--jit-compile must be one of {', '.join(JIT_COMPILE)}, got {self.jit_compile!r}",
        )
        _check_range(self, ("seed",), 0, MAX_SEED)
        _require(
            self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
        )
        _require(
            self.strategy in STRATEGIES, f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
        )
        _require(not (self.resume and self.overwrite), "--resume and --overwrite exclude each other")
        name = self.run_name
        _require(
            name and os.sep not in name and name not in (".", ".."), f"--name must be a plain folder name, got {name!r}"
        )

    def _resolve_hyperparameters(self):
        _require(self.model in MODELS, f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        spec = MODELS[self.model]
        for name in HYPERPARAMETERS:
            value = getattr(self, name)
            if name not in spec.defaults:
                own = ", ".join(flag_name(n) for n in spec.defaults)
                _require(
                    value is None,
                    f"{flag_name(name)} does not apply to --model {self.model} (its hyperparameters: {own})",
                )
                continue
            if value is None:
                value = spec.defaults[name]
                object.__setattr__(self, name, value)
            if name == "iteration_threshold":
                _require(value is None or value > 0, f"--iteration-threshold must be positive, got {value}")
            else:
                _require(
                    value >= 0 and math.isfinite(value), f"{flag_name(name)} must be a finite number >= 0, got {value}"
                )

    @property
    def hyperparameters(self):
        """The model's hyperparameters and their values (None: derived when training)."""
        return {name: getattr(self, name) for name in MODELS[self.model].defaults}

    @property
    def main_value(self):
        return getattr(self, MODELS[self.model].main)

    @property
    def run_name(self):
        return self.name or trial_name(self.model, MODELS[self.model].main, self.main_value, self.seed)

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
    _require(
        names and not unknown,
        f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(registry.METRICS)}",
    )
    return names


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """One evaluation: which metrics, at which sample sizes, with which seed and DCI classifier.

    Build it with :meth:`create` from loose values (a preset name plus size overrides).
    """

    metrics: Optional[tuple[str, ...]] = None  # default: every registered metric
    preset: str = "reference"
    sizes: Sizes = PRESETS["reference"]
    seed: int = 0
    dci_model: str = "reference"  # "reference": the spec's classifier; "fast": approximate

    def __post_init__(self):
        _coerce_numbers(self)
        object.__setattr__(self, "metrics", _resolve_metrics(self.metrics))
        _require(self.preset in PRESETS, f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        _require(0 <= self.seed <= MAX_SEED, f"--seed must be between 0 and {MAX_SEED}, got {self.seed}")
        _require(
            self.dci_model in DCI_MODELS, f"unknown DCI model {self.dci_model!r}; choose from {', '.join(DCI_MODELS)}"
        )
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
        return cls(
            _resolve_metrics(metrics),
            preset,
            dataclasses.replace(PRESETS[preset], **overrides),
            seed,
            dci_model or "reference",
        )

    @property
    def size_overrides(self):
        """The sizes that differ from the preset's."""
        preset = PRESETS[self.preset]
        return {
            f.name: getattr(self.sizes, f.name)
            for f in dataclasses.fields(Sizes)
            if getattr(self.sizes, f.name) != getattr(preset, f.name)
        }


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A grid of trials: every (model, value of its main hyperparameter) setting for every seed,
    each trained with the ``training`` template and scored with ``evaluation``."""

    settings: tuple[tuple[str, float], ...] = tuple(("beta_vae", beta) for beta in REPORT_BETAS)
    seeds: tuple[int, ...] = (0,)
    out_dir: str = os.path.join("sweeps", "beta_sweep")
    training: TrainConfig = TrainConfig(verbose=0)
    evaluation: EvalSpec = dataclasses.field(default_factory=lambda: EvalSpec.create(preset="fast"))

    def __post_init__(self):
        settings = tuple((str(model), _finite_value(model, value)) for model, value in self.settings)
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        _require(self.settings and self.seeds, "a sweep needs at least one value and one seed")
        _require(len(set(self.seeds)) == len(self.seeds), "--seeds must not repeat a value")
        bad = [seed for seed in self.seeds if not 0 <= seed <= MAX_SEED]
        _require(not bad, f"--seeds must be between 0 and {MAX_SEED}, got {bad[0] if bad else None}")
        names = {}
        for model, value in self.settings:
            name = self.trial_name(model, value, 0)
            _require(
                name not in names,
                f"values {names.get(name)} and {value!r} of {model} give the same trial "
                f"({name}); give each value once, differing in its first 6 digits",
            )
            names[name] = value
        _require(
            "mig" in self.evaluation.metrics,
            f"--metrics must include mig, the sweep's objective; got {','.join(self.evaluation.metrics)}",
        )

    @staticmethod
    def trial_name(model, value, seed):
        return trial_name(model, MODELS[model].main, value, seed)

    @property
    def models(self):
        return tuple(dict.fromkeys(model for model, _ in self.settings))

    def trial(self, model, value, seed, runs_dir, saved_models_dir):
        """The TrainConfig of one trial (resumable, so a rerun continues it)."""
        unset = {name: None for name in HYPERPARAMETERS}
        return self.training.replace(
            model=model,
            **{**unset, MODELS[model].main: value},
            seed=seed,
            name=None,
            resume=True,
            overwrite=False,
            runs_dir=runs_dir,
            saved_models_dir=saved_models_dir,
        )

    def to_dict(self):
        """``sweep.json``: what identifies the sweep (a rerun must match it to resume)."""
        spec = self.evaluation
        return {
            "version": CONFIG_VERSION,
            "settings": [list(setting) for setting in self.settings],
            "seeds": list(self.seeds),
            "preset": spec.preset,
            "metrics": list(spec.metrics),
            "metric_seed": spec.seed,
            "metric_sizes": spec.size_overrides,
            "dci_model": spec.dci_model,
            "training": _sweep_training(self.training),
        }

    @staticmethod
    def upgrade(identity):
        """A ``sweep.json`` as `to_dict` writes it now: training settings that an older bvae_tf did
        not have yet take their defaults (the only values they can have had), so that sweep
        resumes after an upgrade; settings it had keep their values."""
        return {**identity, "training": _sweep_training(TrainConfig.from_dict(identity.get("training", {})))}


def _sweep_training(training):
    """A sweep's training template, less per-trial settings and presentation (verbose): those do
    not identify the sweep."""
    flat = training.to_dict()
    for key in (
        "model",
        *HYPERPARAMETERS,
        "seed",
        "name",
        "runs_dir",
        "saved_models_dir",
        "resume",
        "overwrite",
        "verbose",
    ):
        flat.pop(key)
    return flat


def _finite_value(model, value):
    _require(model in MODELS, f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    flag = "--betas" if MODELS[model].main == "beta" else "--values"
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{flag}: {value!r} is not a number") from None
    _require(value >= 0 and math.isfinite(value), f"{flag} must be finite numbers >= 0, got {value} ({model})")
    return value
