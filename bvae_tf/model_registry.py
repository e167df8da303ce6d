"""The one list of models every consumer reads (train's flags, settings, sweep grids, report labels).

Each objective is declared once, as a :class:`ModelSpec`: its name, paper, loss, hyperparameters
(default, range, help, label) and the reference study's grid of the one it sweeps. The flags of
``train`` and ``sweep``, the defaults and checks of :class:`bvae_tf.config.TrainConfig`, the
Keras classes' defaults, the sweep's ``--models`` grid and the report's labels all read it. A new
model is one module (its Keras class) and one :func:`register` line here.

The declarations name their Keras class by path, so this module (and ``bvae_tf.config``, the
report) stays free of TensorFlow.
"""

import dataclasses
import importlib
import math
from collections.abc import Callable
from typing import Optional, Union


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a model: its default and range, its help text and how figures write it."""

    name: str  # the keyword of the Keras class, the settings field, ``--<name>`` on the command line
    default: Optional[float]  # None: derived when training (``derived`` says how)
    help: str
    label: str  # as figures and tables write it: β, γ, C_max
    integer: bool = False
    minimum: float = 0.0  # inclusive, unless ``positive``
    positive: bool = False
    derived: Optional[str] = None  # what a None default becomes

    def check(self, value):
        """An error message for a bad value, or None."""
        flag = "--" + self.name.replace("_", "-")
        if value is None:
            return None if self.default is None else f"{flag} is required"
        if self.integer and value != int(value):
            return f"{flag} must be an integer, got {value}"
        if not math.isfinite(value) or value < self.minimum or (self.positive and value <= self.minimum):
            bound = f"> {self.minimum:g}" if self.positive else f">= {self.minimum:g}"
            return f"{flag} must be a finite number {bound}, got {value}"
        return None

    def describe_default(self):
        return self.derived if self.default is None else f"{self.default:g}"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One objective: what ``--model NAME`` trains and how everything else names it."""

    name: str  # --model
    title: str
    paper: str
    loss: str
    builder: Union[str, Callable]  # the Keras class, or its path "module:Class" (imported on first use)
    hyperparameters: tuple[Hyperparameter, ...]
    main: str  # the hyperparameter a sweep varies
    grid: tuple[float, ...]  # the reference study's values of ``main``
    fixed: tuple[tuple[str, object], ...] = ()  # constant keyword arguments of the class (e.g. dip_type)

    def __post_init__(self):
        if self.main not in self.defaults:
            raise ValueError(f"model {self.name!r}: main hyperparameter {self.main!r} is not one of its own")

    @property
    def defaults(self):
        """{hyperparameter: default} in declaration order."""
        return {h.name: h.default for h in self.hyperparameters}

    def hyperparameter(self, name):
        return next(h for h in self.hyperparameters if h.name == name)

    @property
    def main_label(self):
        return self.hyperparameter(self.main).label

    def model_class(self):
        if callable(self.builder):
            return self.builder
        module, name = self.builder.split(":")
        return getattr(importlib.import_module(module), name)

    def build(self, latent_dim=10, seed=None, **kwargs):
        """The Keras model with the given hyperparameters (and any other Keras keyword)."""
        return self.model_class()(latent_dim, seed=seed, **dict(self.fixed), **kwargs)


MODELS = {}


def register(spec):
    """Add ``spec`` to the registry (its name must be new); returns it."""
    if spec.name in MODELS:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def unregister(name):
    MODELS.pop(name)


def hyperparameter_names():
    """Every hyperparameter of every model, in registry order (each once)."""
    return tuple(dict.fromkeys(h.name for spec in MODELS.values() for h in spec.hyperparameters))


def label(name):
    """How figures write a hyperparameter: beta -> β (its name when no model declares it)."""
    return next((h.label for spec in MODELS.values() for h in spec.hyperparameters if h.name == name), name)


BETA = Hyperparameter("beta", 1.0, "weight of the KL term, 1 = the plain VAE", "β")
DIP_OD = Hyperparameter("lambda_od", 5.0, "weight of the off-diagonal covariance penalty", "λ_od")
DIP_D_HELP = "λ_d = lambda_d_factor · λ_od, weight of the diagonal penalty"

# Defaults: β-VAE's β=1 (the plain VAE, the baseline); the others the middle of the reference grid.
register(
    ModelSpec(
        "beta_vae",
        "β-VAE",
        "Higgins et al., ICLR 2017",
        "recon + β·kl",
        "bvae_tf.model:BetaVAE",
        (BETA,),
        "beta",
        (1, 2, 4, 6, 8, 16),
    )
)
register(
    ModelSpec(
        "annealed_vae",
        "AnnealedVAE",
        "Burgess et al., arXiv 1804.03599",
        "recon + γ·|kl − C(step)|",
        "bvae_tf.zoo:AnnealedVAE",
        (
            Hyperparameter("c_max", 25.0, "final capacity C in nats", "C_max"),
            Hyperparameter("gamma", 1000.0, "weight of |KL - C|", "γ"),
            Hyperparameter(
                "iteration_threshold",
                None,
                "steps over which C rises to --c-max",
                "T",
                integer=True,
                positive=True,
                derived="a third of the run's steps",
            ),
        ),
        "c_max",
        (5, 10, 25, 50, 75, 100),
    )
)
register(
    ModelSpec(
        "factor_vae",
        "FactorVAE",
        "Kim & Mnih, ICML 2018",
        "recon + kl + γ·TC_D",
        "bvae_tf.zoo:FactorVAE",
        (Hyperparameter("gamma", 30.0, "weight of the discriminator's TC", "γ"),),
        "gamma",
        (10, 20, 30, 40, 50, 100),
    )
)
register(
    ModelSpec(
        "dip_vae_i",
        "DIP-VAE-I",
        "Kumar et al., ICLR 2018",
        "recon + kl + λ_od Σ_{i≠j} Cov[μ]_ij² + λ_d Σ_i (Cov[μ]_ii − 1)²",
        "bvae_tf.zoo:DIPVAE",
        (DIP_OD, Hyperparameter("lambda_d_factor", 10.0, DIP_D_HELP, "λ_d/λ_od")),
        "lambda_od",
        (1, 2, 5, 10, 20, 50),
        fixed=(("dip_type", "i"),),
    )
)
register(
    ModelSpec(
        "dip_vae_ii",
        "DIP-VAE-II",
        "Kumar et al., ICLR 2018",
        "as DIP-VAE-I with Cov = Cov[μ] + E[diag exp(logvar)]",
        "bvae_tf.zoo:DIPVAE",
        (DIP_OD, Hyperparameter("lambda_d_factor", 1.0, DIP_D_HELP, "λ_d/λ_od")),
        "lambda_od",
        (1, 2, 5, 10, 20, 50),
        fixed=(("dip_type", "ii"),),
    )
)
register(
    ModelSpec(
        "beta_tcvae",
        "β-TCVAE",
        "Chen et al., NeurIPS 2018",
        "recon + kl + (β − 1)·TC",
        "bvae_tf.zoo:BetaTCVAE",
        (Hyperparameter("beta", 6.0, "weight of the total correlation", "β"),),
        "beta",
        (1, 2, 4, 6, 8, 10),
    )
)
