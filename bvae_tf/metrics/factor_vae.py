"""FactorVAE score, a.k.a. Z-min.

Kim & Mnih, "Disentangling by Factorising", ICML 2018 (https://arxiv.org/abs/1802.05983); as in
`disentanglement_lib/evaluation/metrics/factor_vae.py`, but reporting the true number of
active latents.
"""

import dataclasses
import warnings

import numpy as np

from bvae_tf.metrics import utils


@dataclasses.dataclass
class FactorVAEResult(utils.Result):
    score: float  # eval accuracy
    train_accuracy: float
    active_latents: int
    votes: np.ndarray = utils.matrix("factor", "latent")  # train votes (factor held fixed, latent of least variance)


def global_std(codes):
    """Std (ddof=1) of each latent over a uniform sample, used to rescale the batches."""
    return np.std(np.asarray(codes, np.float64), axis=0, ddof=1)


def features(batch_codes, std):
    """One point per batch: per-latent variance (ddof=1) of the codes divided by the global std.

    batch_codes: [P, B, L]; std: [L] from `global_std` (latents with std 0 are left unscaled).
    """
    scaled = np.asarray(batch_codes, np.float64) / np.where(std > 0, std, 1.0)
    return np.var(scaled, axis=1, ddof=1)


def _votes(features, labels, active, num_factors):
    votes = np.zeros((num_factors, features.shape[1]), dtype=np.int64)
    active_index = np.flatnonzero(active)
    chosen = active_index[np.argmin(features[:, active_index], axis=1)]
    np.add.at(votes, (labels, chosen), 1)
    return votes


def factor_vae_score(train_features, train_labels, eval_features, eval_labels, active=None):
    """Majority-vote accuracy: each active latent predicts the factor that most often made it the
    least-varying one; accuracy = correct votes / all votes. 0 (with a warning) with no active latent.

    Args:
      train_features, eval_features: float [P, L] from `features`.
      train_labels, eval_labels: int [P] index of the factor held fixed in each batch.
      active: bool [L], latents whose global std is >= 0.05; default: all.
    Returns:
      `FactorVAEResult`.
    """
    x_train, y_train, x_eval, y_eval = utils.check_features(train_features, train_labels, eval_features, eval_labels)
    active = np.ones(x_train.shape[1], bool) if active is None else np.asarray(active, bool)
    num_factors = int(max(y_train.max(), y_eval.max())) + 1
    if not active.any():
        warnings.warn("factor_vae_score: no active latent (all std < 0.05); the score is 0")
        return FactorVAEResult(0.0, 0.0, 0, np.zeros((num_factors, x_train.shape[1]), np.int64))
    train_votes = _votes(x_train, y_train, active, num_factors)
    eval_votes = _votes(x_eval, y_eval, active, num_factors)
    classifier = np.argmax(train_votes, axis=0)
    latents = np.arange(x_train.shape[1])
    return FactorVAEResult(
        score=float(eval_votes[classifier, latents].sum() / eval_votes.sum()),
        train_accuracy=float(train_votes[classifier, latents].sum() / train_votes.sum()),
        active_latents=int(active.sum()),
        votes=train_votes,
    )
