"""Disentanglement metrics for dSprites representations, as disentanglement_lib defines them.

Scorers are pure functions of arrays (codes float [N, L], factors int [N, K]) that anyone can
call on their own representation; samplers (`sample`, `score`) build those arrays from a
representation function and the dSprites ground truth. See shared/specs/metrics.md.
"""

from bvae_tf.metrics.beta_vae import beta_vae_score
from bvae_tf.metrics.dci import dci
from bvae_tf.metrics.factor_vae import factor_vae_score
from bvae_tf.metrics.mig import mig
from bvae_tf.metrics.modularity import modularity_explicitness
from bvae_tf.metrics.sap import sap
from bvae_tf.metrics.sampling import (
    METRICS,
    PRESETS,
    Samples,
    Sizes,
    from_factors,
    from_grid,
    from_images,
    sample,
    score,
)

zdiff = beta_vae_score
zmin = factor_vae_score

__all__ = [
    "mig", "modularity_explicitness", "dci", "sap", "beta_vae_score", "factor_vae_score",
    "zdiff", "zmin", "METRICS", "PRESETS", "Samples", "Sizes",
    "from_factors", "from_grid", "from_images", "sample", "score",
]
