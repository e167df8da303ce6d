"""Mutual Information Gap (MIG).

Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
Autoencoders", NeurIPS 2018 (https://arxiv.org/abs/1802.04942); discrete version of
`disentanglement_lib/evaluation/metrics/mig.py`.
"""

import dataclasses

import numpy as np

from bvae_tf.metrics import utils
from bvae_tf.metrics.registry import MatrixView, Metric, Score
from bvae_tf.metrics.sampling import CODES


@dataclasses.dataclass
class MIGResult(utils.Result):
    score: float
    active_latents: int
    mutual_info: np.ndarray = utils.matrix("latent", "factor")  # nats
    normalized_mutual_info: np.ndarray = utils.matrix("latent", "factor")  # MI / H(factor)
    factor_entropy: np.ndarray = utils.matrix("factor")  # nats


def mig(codes, factors, num_bins=utils.NUM_BINS):
    """MIG = mean over factors of (top MI - second MI) / H(factor), on 20-bin discretized codes.

    Args:
      codes: float [N, L] representation (encoder means).
      factors: int [N, K] factor class indices.
    Returns:
      `MIGResult`. A factor that is constant in the sample (zero entropy) contributes a gap of 0.
    """
    codes = utils.check_codes(codes)
    factors = utils.check_factors(factors, len(codes))
    mi = utils.mutual_info_matrix(utils.histogram_discretize(codes, num_bins), factors)
    entropy = utils.discrete_entropy(factors)
    safe_entropy = np.where(entropy > 0, entropy, 1.0)
    normalized = np.where(entropy > 0, mi / safe_entropy, 0.0)
    gaps = np.where(entropy > 0, utils.top_two_gap(mi) / safe_entropy, 0.0)
    return MIGResult(
        score=float(np.mean(gaps)),
        active_latents=int(utils.active_latents(codes).sum()),
        mutual_info=mi,
        normalized_mutual_info=normalized,
        factor_entropy=entropy,
    )


def _score(samples, options, seed):
    return mig(samples.codes["train"], samples.factors["train"], options.num_bins)


METRIC = Metric(
    "mig",
    CODES,
    _score,
    (Score("score", "mig", "MIG"),),
    options=utils.Binning(),
    views=(MatrixView("normalized_mutual_info", "normalized MI (MIG)"),),
)
