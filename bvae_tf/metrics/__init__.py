"""Disentanglement metrics for dSprites representations, as disentanglement_lib defines them.

Scorers are pure functions of arrays (codes float [N, L], factors int [N, K]) that anyone can
call on their own representation; samplers (`sample`, `score`) build those arrays from a
representation function and the dSprites ground truth. Each metric module declares itself
once (its ``METRIC``: name, sampler and sizes, options, columns, matrices); the registry below
is the one list every consumer iterates over. One public name per metric: the module, the
scorer, the registry entry and the column (``zdiff`` is the β-VAE score, ``zmin`` the FactorVAE
score; `--metrics` also accepts those names). Importing this package needs numpy and
scikit-learn only, never TensorFlow.
"""

# The metric modules first: below, the scorers take their names (bvae_tf.metrics.mig is the function).
from bvae_tf.metrics import dci as _dci, mig as _mig, modularity as _modularity  # isort: skip
from bvae_tf.metrics import sap as _sap, zdiff as _zdiff, zmin as _zmin  # isort: skip
from bvae_tf.metrics import downstream as _downstream, fairness as _fairness, irs as _irs  # isort: skip
from bvae_tf.metrics import unsupervised as _unsupervised  # isort: skip
from bvae_tf.metrics.dci import dci
from bvae_tf.metrics.downstream import downstream_task
from bvae_tf.metrics.fairness import fairness
from bvae_tf.metrics.irs import irs
from bvae_tf.metrics.mig import mig
from bvae_tf.metrics.modularity import modularity
from bvae_tf.metrics.registry import METRICS, PRESETS, register
from bvae_tf.metrics.sampling import Samples, from_factors, from_grid, from_images, sample, score
from bvae_tf.metrics.sap import sap
from bvae_tf.metrics.udr import udr
from bvae_tf.metrics.unsupervised import unsupervised
from bvae_tf.metrics.zdiff import zdiff
from bvae_tf.metrics.zmin import zmin

# The registry: one line per metric module.
for _module in (_mig, _zdiff, _zmin, _modularity, _dci, _sap):
    register(_module.METRIC)
# The families (asked for by name, never in the default set; UDR scores a set of models: bvae_tf.udr).
for _module in (_irs, _unsupervised, _downstream, _fairness):
    register(_module.METRIC)

__all__ = [
    "mig",
    "zdiff",
    "zmin",
    "modularity",
    "dci",
    "sap",
    "irs",
    "unsupervised",
    "downstream_task",
    "fairness",
    "udr",
    "METRICS",
    "PRESETS",
    "Samples",
    "register",
    "from_factors",
    "from_grid",
    "from_images",
    "sample",
    "score",
]
