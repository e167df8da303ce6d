"""The losses of the model zoo (β-VAE, AnnealedVAE, FactorVAE, DIP-VAE-I/II, β-TCVAE) as pure functions.

One source of truth for the losses: every objective is written once here (with ``keras.ops``; the
reconstruction loss with TensorFlow's fused op, the graph ``keras.ops`` builds too), in float32, so the same function is what a model's ``train_step`` calls inside the traced graph and
what tests, notebooks and reports call eagerly on numpy arrays (each returns a tensor; ``float()``
of a scalar one gives the number). Definitions follow the papers cited in each function and the
community reference implementation, disentanglement_lib. Conventions that decide the numbers:
reconstruction is summed over pixels and KL summed over latents (both averaged over the batch),
so regularizer weights keep the papers' meaning.
"""

import math

import keras
import tensorflow as tf
from keras import ops

LOG_2PI = math.log(2.0 * math.pi)
DISCRIMINATOR_EPS = 1e-6  # FactorVAE clips the discriminator's probabilities to [eps, 1 - eps]
DIP_TYPES = ("i", "ii")


def _f32(*tensors):
    return tuple(ops.cast(t, "float32") for t in tensors)


def bernoulli_reconstruction(images, logits):
    """Bernoulli NLL of ``images`` [B, H, W, C] under decoder ``logits``: summed over pixels,
    mean over the batch (Higgins et al. 2017). Summing, not averaging, keeps β's meaning."""
    images, logits = _f32(images, logits)
    pixel_nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits)
    return ops.mean(ops.sum(pixel_nll, axis=(1, 2, 3)))


def gaussian_kl_per_latent(mean, logvar):
    """Batch-mean KL(N(mean, exp(logvar)) || N(0, 1)) of each latent: [B, L] -> [L]
    (Higgins et al. 2017)."""
    mean, logvar = _f32(mean, logvar)
    return ops.mean(0.5 * (ops.square(mean) + ops.exp(logvar) - 1.0 - logvar), axis=0)


def gaussian_kl(mean, logvar):
    """Batch mean of KL(N(mean, diag(exp(logvar))) || N(0, I)), summed over latents
    (Higgins et al. 2017): the sum of ``gaussian_kl_per_latent``."""
    return ops.sum(gaussian_kl_per_latent(mean, logvar))


def capacity(c_max, step, iteration_threshold):
    """AnnealedVAE's target KL C(step) = min(c_max, c_max·step/iteration_threshold), in nats
    (Burgess et al. 2018): linear from 0, flat at c_max from ``iteration_threshold`` on.
    ``step`` may be a tensor (e.g. ``optimizer.iterations``); ``iteration_threshold`` > 0."""
    if isinstance(iteration_threshold, (int, float)) and iteration_threshold <= 0:
        raise ValueError(f"iteration_threshold must be positive, got {iteration_threshold!r}")
    c_max, step, iteration_threshold = _f32(c_max, step, iteration_threshold)
    return ops.minimum(c_max, c_max * step / iteration_threshold)


def total_correlation(z, mean, logvar):
    """β-TCVAE's minibatch-weighted-sampling estimate of TC(z) (Chen et al. 2018), constants dropped.

    With log q(z_j|x_i)_l the Gaussian log-density of sample j's latent l under example i's
    posterior, over all pairs (j, i) of the batch:
    TC = mean_j [logsumexp_i Σ_l log q(z_j|x_i)_l − Σ_l logsumexp_i log q(z_j|x_i)_l].
    The dropped constant is (L−1)·log(B·N) (B batch size, N dataset size, L latents): it does not
    change gradients, but the value is shifted by it and so may be negative.
    """
    z, mean, logvar = _f32(z, mean, logvar)
    z = ops.expand_dims(z, 1)  # [B_j, 1, L]
    mean = ops.expand_dims(mean, 0)  # [1, B_i, L]
    logvar = ops.expand_dims(logvar, 0)
    log_qz_pairs = -0.5 * (ops.square(z - mean) * ops.exp(-logvar) + logvar + LOG_2PI)  # [B_j, B_i, L]
    log_qz = ops.logsumexp(ops.sum(log_qz_pairs, axis=2), axis=1)
    log_qz_product = ops.sum(ops.logsumexp(log_qz_pairs, axis=1), axis=1)
    return ops.mean(log_qz - log_qz_product)


def dip_regularizer(mean, logvar, lambda_od, lambda_d, dip_type):
    """DIP-VAE's covariance penalty alone, without the KL (Kumar et al. 2018, eqs. 6 and 7):
    λ_od Σ_{i≠j} Cov_ij² + λ_d Σ_i (Cov_ii − 1)².

    Cov is the biased batch covariance of ``mean`` (E[μμᵀ] − E[μ]E[μ]ᵀ) for ``dip_type`` "i",
    plus the batch mean of diag(exp(logvar)) for "ii".
    """
    if dip_type not in DIP_TYPES:
        raise ValueError(f"dip_type must be one of {DIP_TYPES}, got {dip_type!r}")
    mean, logvar = _f32(mean, logvar)
    expected_outer = ops.mean(ops.expand_dims(mean, 2) * ops.expand_dims(mean, 1), axis=0)
    expected_mean = ops.mean(mean, axis=0)
    cov = expected_outer - ops.expand_dims(expected_mean, 1) * ops.expand_dims(expected_mean, 0)
    if dip_type == "ii":
        cov = cov + ops.diag(ops.mean(ops.exp(logvar), axis=0))
    cov_diag = ops.diagonal(cov)
    cov_off_diag = cov - ops.diag(cov_diag)
    return lambda_od * ops.sum(ops.square(cov_off_diag)) + lambda_d * ops.sum(ops.square(cov_diag - 1.0))


def permute_dims(z, seed):
    """FactorVAE's samples of the product of marginals (Kim & Mnih 2018): every latent column of
    ``z`` [B, L] shuffled independently across the batch.

    ``seed``: an int (same seed, same shuffle) or a ``keras.random.SeedGenerator`` (a new shuffle
    per call, as in ``train_step``). Works in a traced graph with a dynamic batch size.
    """
    (z,) = _f32(z)
    # Each column sorted along the last axis: an argsort over axis 0 transposes its int32 result,
    # which oneDNN does only with AVX-512 and otherwise reports on the console at every run.
    columns = ops.transpose(z)  # [L, B]
    keys = keras.random.uniform(ops.shape(columns), seed=seed)
    return ops.transpose(ops.take_along_axis(columns, ops.argsort(keys, axis=-1), axis=-1))


def discriminator_tc(logits):
    """FactorVAE's TC estimate TC_D = mean over the batch of (logit₀ − logit₁), from the
    discriminator's logits [B, 2] on samples of q(z) (Kim & Mnih 2018)."""
    (logits,) = _f32(logits)
    return ops.mean(logits[:, 0] - logits[:, 1])


def discriminator_loss(logits_real, logits_permuted):
    """FactorVAE's discriminator loss (Kim & Mnih 2018): −(0.5·mean log p₀(z) + 0.5·mean
    log p₁(permute_dims(z))), softmax probabilities clipped to [1e-6, 1 − 1e-6]."""
    logits_real, logits_permuted = _f32(logits_real, logits_permuted)

    def log_prob(logits, label):
        probs = ops.clip(ops.softmax(logits, axis=-1), DISCRIMINATOR_EPS, 1.0 - DISCRIMINATOR_EPS)
        return ops.log(probs[:, label])

    return -(0.5 * ops.mean(log_prob(logits_real, 0)) + 0.5 * ops.mean(log_prob(logits_permuted, 1)))
