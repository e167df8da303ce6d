"""Disentanglement metrics for dSprites representations, as disentanglement_lib defines them.

Scorers are pure functions of arrays (codes float [N, L], factors int [N, K]) that anyone can
call on their own representation; samplers (`sample`, `score`) build those arrays from a
representation function and the dSprites ground truth. Each metric module declares itself
once (its ``METRIC``); the registry below is the one list every consumer iterates over.
Importing this package needs numpy and scikit-learn only, never TensorFlow.
"""

# The metric modules first: below, the scorers take their names (bvae_tf.metrics.mig is the function).
from bvae_tf.metrics import beta_vae as _beta_vae, dci as _dci, factor_vae as _factor_vae  # isort: skip
from bvae_tf.metrics import mig as _mig, modularity as _modularity, sap as _sap  # isort: skip
from bvae_tf.metrics.beta_vae import beta_vae_score
from bvae_tf.metrics.dci import dci
from bvae_tf.metrics.factor_vae import factor_vae_score
from bvae_tf.metrics.mig import mig
from bvae_tf.metrics.modularity import modularity_explicitness
from bvae_tf.metrics.registry import METRICS, register
from bvae_tf.metrics.sampling import PRESETS, Samples, Sizes, from_factors, from_grid, from_images, sample, score
from bvae_tf.metrics.sap import sap

# The registry: one line per metric module.
for _module in (_mig, _beta_vae, _factor_vae, _modularity, _dci, _sap):
    register(_module.METRIC)

zdiff = beta_vae_score
zmin = factor_vae_score

__all__ = [
    "mig",
    "modularity_explicitness",
    "dci",
    "sap",
    "beta_vae_score",
    "factor_vae_score",
    "zdiff",
    "zmin",
    "METRICS",
    "PRESETS",
    "Samples",
    "Sizes",
    "register",
    "from_factors",
    "from_grid",
    "from_images",
    "sample",
    "score",
]
