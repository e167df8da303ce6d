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
from typing import Optional

from bvae_tf.checks import (  # noqa: F401 (flag_name and the checks are used by other modules through here)
    MAX_INT32,
    MAX_SEED,
    _check_positive,
    _check_range,
    _coerce_numbers,
    _number,
    _require,
    flag_name,
)
from bvae_tf.data.config import DataConfig
from bvae_tf.data.ground_truth import DATASETS
from bvae_tf.errors import UserError
from bvae_tf.layout import trial_name
from bvae_tf.metrics import registry
from bvae_tf.metrics.registry import PRESETS
from bvae_tf.model_registry import MODELS, hyperparameter_names

CONFIG_VERSION = 1
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")
JIT_COMPILE = ("auto", "on", "off")


def _known(cls, values, what):
    """``values`` with unknown keys refused (a misspelt setting must not pass silently)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    _require(not unknown, f"unknown {what}: {', '.join(unknown)}")
    return values


REPORT_BETAS = (0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 50.0)  # the β-VAE report's grid, the sweep's default


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: model, optimisation and data, plus where it goes and how it reports.

    Build it with :meth:`from_dict` to give hyperparameters flat (``TrainConfig.from_dict(beta=5)``);
    an unset one of the model takes the model's default, a set one it lacks is an error.
    """

    model: str = "beta_vae"
    # {name: value} of the model's hyperparameters (bvae_tf.model_registry); unset ones take the
    # model's defaults. Flat in flags and config.json: ``--beta 5``, ``"beta": 5.0``.
    hyperparameters: dict[str, Optional[float]] = dataclasses.field(default_factory=dict)
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
        given = {name: value for name, value in dict(self.hyperparameters).items() if value is not None}
        foreign = [name for name in given if name not in spec.defaults]
        own = ", ".join(flag_name(n) for n in spec.defaults)
        _require(
            not foreign,
            f"{flag_name(foreign[0]) if foreign else ''} does not apply to --model {self.model} "
            f"(its hyperparameters: {own})",
        )
        values = {}
        for hyperparameter in spec.hyperparameters:
            value = given.get(hyperparameter.name, hyperparameter.default)
            if value is not None:
                value = _number(hyperparameter.name, value, int if hyperparameter.integer else float)
            _require(hyperparameter.check(value) is None, hyperparameter.check(value))
            values[hyperparameter.name] = value
        object.__setattr__(self, "hyperparameters", values)

    @property
    def main_value(self):
        return self.hyperparameters[MODELS[self.model].main]

    @property
    def run_name(self):
        return self.name or trial_name(self.model, MODELS[self.model].main, self.main_value, self.seed)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """Flat, keyed by flag names (``config.json``'s ``settings``): the model's hyperparameters
        beside the other settings."""
        flat = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("data", "hyperparameters")
        }
        flat = {"model": flat.pop("model"), **self.hyperparameters, **flat}
        return {**flat, **self.data.to_flags()}

    @classmethod
    def from_dict(cls, values=None, **overrides):
        """From flag-named settings (a dict, e.g. ``config.json``'s, or keywords); missing = defaults.
        Hyperparameters are flat (``beta=5``); None is unset (older config.json files list every
        model's hyperparameters, None where they do not apply)."""
        values = dict(values or {}, **overrides)
        data = DataConfig.from_flags(values, base=values.pop("data", None))
        for flag in DataConfig.FLAGS:
            values.pop(flag, None)
        hyperparameters = dict(values.pop("hyperparameters", {}))
        for name in hyperparameter_names():
            if values.get(name) is not None:
                hyperparameters[name] = values[name]
            values.pop(name, None)
        return cls(data=data, hyperparameters=hyperparameters, **_known(cls, values, "training settings"))

    @classmethod
    def from_args(cls, args):
        """From an argparse namespace holding (at least) the training flags; other flags are ignored."""
        names = {f.name for f in dataclasses.fields(cls)} | set(DataConfig.FLAGS) | set(hyperparameter_names())
        return cls.from_dict({key: value for key, value in vars(args).items() if key in names})


def _resolve_metrics(metrics):
    names = registry.default_metrics() if metrics is None else tuple(dict.fromkeys(map(registry.canonical, metrics)))
    unknown = [m for m in names if m not in registry.METRICS]
    _require(
        names and not unknown,
        f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(registry.METRICS)}",
    )
    return names


def _typed(field, value, what):
    """A command-line string (or a value) as the type of an options dataclass ``field``."""
    kind = field.type if isinstance(field.type, type) else type(field.default)
    if isinstance(value, str) and kind in (int, float):
        try:
            value = kind(value)
        except ValueError:
            raise UserError(f"{what} must be a number, got {value!r}") from None
    return value


def _options(metric, given):
    """The metric's options dataclass with ``given`` ({field: value}) applied; UserError naming a bad one."""
    reference = registry.METRICS[metric].options
    fields = {f.name: f for f in dataclasses.fields(reference)} if reference is not None else {}
    unknown = [name for name in given if name not in fields]
    _require(
        not unknown,
        f"--metric-option: {metric} has no option {', '.join(unknown)}"
        + (f"; its options: {', '.join(fields)}" if fields else "; it takes none"),
    )
    typed = {name: _typed(fields[name], value, f"--metric-option {metric}.{name}") for name, value in given.items()}
    try:
        return dataclasses.replace(reference, **typed)
    except ValueError as error:
        raise UserError(f"--metric-option {metric}: {error}") from None


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """One evaluation: which metrics, with which seed, at which sample sizes and options.

    Each metric declares its options (and its sampler the sizes it draws) in its ``METRIC``
    (bvae_tf.metrics.registry); the spec holds their values for this evaluation: ``sizes``
    {sampler: sizes}, ``options`` {metric: options}. Build it with :meth:`create` from loose
    values (a preset name plus flat size overrides and per-metric options).
    """

    metrics: Optional[tuple[str, ...]] = None  # default: the registry's default metrics
    preset: str = "reference"
    seed: int = 0
    sizes: dict = dataclasses.field(default_factory=dict)  # {sampler name: sizes}; missing: the preset's
    options: dict = dataclasses.field(default_factory=dict)  # {metric name: options}; missing: the reference's
    dataset: str = "dsprites_full"  # the ground truth the factors are drawn from (bvae_tf.data.DATASETS)

    def __post_init__(self):
        _coerce_numbers(self)
        object.__setattr__(self, "metrics", _resolve_metrics(self.metrics))
        _require(self.preset in PRESETS, f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        _require(0 <= self.seed <= MAX_SEED, f"--seed must be between 0 and {MAX_SEED}, got {self.seed}")
        _require(self.dataset in DATASETS, f"--dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        sizes = {
            sampler.name: self.sizes.get(sampler.name, sampler.preset(self.preset)) for sampler in registry.samplers()
        }
        object.__setattr__(self, "sizes", sizes)
        for name, value in self.flat_sizes.items():
            _require(isinstance(value, int) and value >= 2, f"size {name} must be an integer >= 2, got {value!r}")
        options = {name: self.options.get(name, metric.options) for name, metric in registry.METRICS.items()}
        object.__setattr__(self, "options", options)

    @classmethod
    def create(cls, metrics=None, preset="reference", seed=0, sizes=None, options=None, dci_model=None, dataset=None):
        """``sizes``: {size name: int} overriding the preset's in every sampler that draws that size
        (None values keep it); ``options``: {metric: {option: value}} or {"metric.option": value};
        ``dci_model``: short for ``options={"dci": {"model": ...}}``."""
        _require(preset in PRESETS, f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        overrides = {k: v for k, v in (sizes or {}).items() if v is not None}
        fields = registry.size_fields()
        unknown = [k for k in overrides if k not in fields]
        _require(not unknown, f"unknown size {', '.join(unknown)}; choose from {', '.join(fields)}")
        overrides = {k: int(v) if isinstance(v, int) or hasattr(v, "__index__") else v for k, v in overrides.items()}
        per_sampler = {}
        for sampler in registry.samplers():
            own = {k: v for k, v in overrides.items() if k in {f.name for f in dataclasses.fields(sampler.sizes)}}
            per_sampler[sampler.name] = dataclasses.replace(sampler.preset(preset), **own)
        given = {}
        for key, value in (options or {}).items():
            metric, _, option = key.partition(".")
            pairs = value.items() if not option else [(option, value)]
            given.setdefault(registry.canonical(metric), {}).update(pairs)
        if dci_model is not None:
            given.setdefault("dci", {})["model"] = dci_model
        unknown = [metric for metric in given if metric not in registry.METRICS]
        _require(
            not unknown,
            f"--metric-option: unknown metric {', '.join(unknown)}; choose from {','.join(registry.METRICS)}",
        )
        per_metric = {metric: _options(metric, values) for metric, values in given.items()}
        return cls(_resolve_metrics(metrics), preset, seed, per_sampler, per_metric, dataset or "dsprites_full")

    def sizes_of(self, sampler):
        return self.sizes[sampler]

    def options_of(self, metric):
        return self.options[metric]

    @property
    def flat_sizes(self):
        """{size name: value} over every sampler (a size two samplers draw has one value)."""
        return {k: v for sizes in self.sizes.values() for k, v in dataclasses.asdict(sizes).items()}

    @property
    def size_overrides(self):
        """The sizes that differ from the preset's."""
        preset = {
            k: v for sampler in registry.samplers() for k, v in dataclasses.asdict(sampler.preset(self.preset)).items()
        }
        return {name: value for name, value in self.flat_sizes.items() if value != preset[name]}

    @property
    def changed_options(self):
        """{metric: {option: value}} of the evaluated metrics' options that differ from the reference."""
        changed = {}
        for name in self.metrics:
            options, reference = self.options[name], registry.METRICS[name].options
            if options is not None:
                diff = {k: v for k, v in dataclasses.asdict(options).items() if v != getattr(reference, k)}
                if diff:
                    changed[name] = diff
        return changed

    @property
    def option_values(self):
        """{metric: {option: value}} of the evaluated metrics that have options (metrics.json, sweep.json)."""
        return {name: dataclasses.asdict(self.options[name]) for name in self.metrics if self.options[name] is not None}


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A grid of trials: every (model, value of its main hyperparameter) setting for every seed,
    each trained with the ``training`` template and scored with ``evaluation``."""

    settings: tuple[tuple[str, float], ...] = tuple(("beta_vae", beta) for beta in REPORT_BETAS)
    seeds: tuple[int, ...] = (0,)
    out_dir: str = os.path.join("sweeps", "beta_sweep")
    training: TrainConfig = TrainConfig(verbose=0)
    evaluation: EvalSpec = dataclasses.field(default_factory=lambda: EvalSpec.create(preset="fast"))
    # {model: Adam learning rate} for models that do not train at the template's (AnnealedVAE's
    # capacity target diverges at 1e-3 and learns at the reference's 1e-4).
    learning_rates: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        rates = tuple((str(model), float(rate)) for model, rate in dict(self.learning_rates).items())
        for model, rate in rates:
            _require(model in MODELS, f"learning rate given for an unknown model {model!r}")
            _require(
                math.isfinite(rate) and rate > 0, f"the learning rate of {model} must be a positive number, got {rate}"
            )
        object.__setattr__(self, "learning_rates", rates)
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
        # Trials are scored on the data they were trained on.
        object.__setattr__(self, "evaluation", dataclasses.replace(self.evaluation, dataset=self.training.data.dataset))

    @staticmethod
    def trial_name(model, value, seed):
        return trial_name(model, MODELS[model].main, value, seed)

    @property
    def models(self):
        return tuple(dict.fromkeys(model for model, _ in self.settings))

    def trial(self, model, value, seed, runs_dir, saved_models_dir):
        """The TrainConfig of one trial (resumable, so a rerun continues it)."""
        return self.training.replace(
            model=model,
            hyperparameters={MODELS[model].main: value},
            learning_rate=dict(self.learning_rates).get(model, self.training.learning_rate),
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
            "metric_options": spec.option_values,
            "training": _sweep_training(self.training),
            # Only when given, so a sweep.json of before per-model rates still matches.
            **({"learning_rates": dict(self.learning_rates)} if self.learning_rates else {}),
        }

    @staticmethod
    def upgrade(identity):
        """A ``sweep.json`` as `to_dict` writes it now: training settings that an older bvae_tf did
        not have yet take their defaults (the only values they can have had), and an older
        ``dci_model`` becomes DCI's option among the metrics' default options, so that sweep
        resumes after an upgrade; settings it had keep their values."""
        identity = {**identity, "training": _sweep_training(TrainConfig.from_dict(identity.get("training", {})))}
        if "dci_model" in identity:
            metrics = [m for m in identity.get("metrics", []) if m in registry.METRICS]
            spec = EvalSpec.create(metrics or None, dci_model=identity.pop("dci_model") or "reference")
            identity["metric_options"] = spec.option_values
        return identity


def _sweep_training(training):
    """A sweep's training template, less per-trial settings and presentation (verbose): those do
    not identify the sweep."""
    flat = training.to_dict()
    for key in (
        "model",
        *training.hyperparameters,
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
