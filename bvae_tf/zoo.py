"""The model zoo: the standard disentangling objectives beside β-VAE, each a small subclass.

Every model is the β-VAE's network (``bvae_tf.model``) with another regularizer, as in
disentanglement_lib's ``BaseVAE.regularizer(kl, mean, logvar, z)`` hook: ``regularizer``
returns the penalty added to the reconstruction loss and the terms to log. The formulas live
once, in ``bvae_tf.objectives``. FactorVAE alone needs its own ``train_step``: it also trains a
discriminator, with its own optimizer, in the same step.
"""

import keras
import tensorflow as tf
from keras import layers, ops

from bvae_tf import objectives
from bvae_tf.model import VAE
from bvae_tf.model_registry import MODELS


class AnnealedVAE(VAE):
    """β-VAE with controlled capacity (Burgess et al. 2018): γ·|KL − C(step)|, C rising
    linearly from 0 to ``c_max`` nats over ``iteration_threshold`` steps."""

    terms = ("capacity",)
    model_name = "annealed_vae"

    def __init__(self, latent_dim=10, c_max=None, gamma=None, iteration_threshold=None, **kwargs):
        super().__init__(latent_dim, **kwargs)
        if iteration_threshold is None:  # its default depends on the run's length: train derives it
            raise ValueError("iteration_threshold: give the number of steps over which C rises to c_max")
        self.c_max = float(self.given_or_default("c_max", c_max))
        self.gamma = float(self.given_or_default("gamma", gamma))
        self.iteration_threshold = int(iteration_threshold)

    def regularizer(self, kl, mean, logvar, z):
        c = objectives.capacity(self.c_max, self.optimizer.iterations, self.iteration_threshold)
        return self.gamma * ops.abs(kl - c), {"capacity": c}


class DIPVAE(VAE):
    """DIP-VAE (Kumar et al. 2018): KL plus a penalty pulling the covariance of the aggregate
    posterior towards the identity; ``dip_type`` "i" uses Cov[μ], "ii" adds E[diag exp(logvar)]."""

    terms = ("dip",)

    def __init__(self, latent_dim=10, lambda_od=None, lambda_d_factor=None, dip_type="i", **kwargs):
        super().__init__(latent_dim, **kwargs)
        if dip_type not in objectives.DIP_TYPES:
            raise ValueError(f"dip_type must be one of {objectives.DIP_TYPES}, got {dip_type!r}")
        self.model_name = f"dip_vae_{dip_type}"  # each DIP type is its own registry entry, with its defaults
        self.lambda_od = float(self.given_or_default("lambda_od", lambda_od))
        self.lambda_d_factor = float(self.given_or_default("lambda_d_factor", lambda_d_factor))
        self.dip_type = dip_type

    def regularizer(self, kl, mean, logvar, z):
        dip = objectives.dip_regularizer(
            mean, logvar, self.lambda_od, self.lambda_d_factor * self.lambda_od, self.dip_type
        )
        return kl + dip, {"dip": dip}


class BetaTCVAE(VAE):
    """β-TCVAE (Chen et al. 2018, α = γ = 1): KL + (β − 1)·TC, TC by minibatch-weighted sampling
    (constants dropped, so the logged ``tc`` may be negative)."""

    terms = ("tc",)
    model_name = "beta_tcvae"

    def __init__(self, latent_dim=10, beta=None, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.beta = float(self.given_or_default("beta", beta))

    def regularizer(self, kl, mean, logvar, z):
        tc = objectives.total_correlation(z, mean, logvar)
        return kl + (self.beta - 1.0) * tc, {"tc": tc}


class Discriminator(layers.Layer):
    """FactorVAE's critic: 6 dense layers of 1,000 leaky-ReLU units, then 2 logits (float32):
    "a sample of q(z)" (0) against "a sample of the product of its marginals" (1)."""

    def __init__(self, units=1000, depth=6, **kwargs):
        super().__init__(**kwargs)
        self.body = [layers.Dense(units, activation="leaky_relu") for _ in range(depth)]
        self.logits_head = layers.Dense(2, dtype="float32", name="logits")

    def call(self, z):
        for layer in self.body:
            z = layer(z)
        return self.logits_head(z)


class FactorVAE(VAE):
    """FactorVAE (Kim & Mnih 2018): KL + γ·TC_D, TC_D the discriminator's log-odds that z is a
    sample of q(z) rather than of the product of its marginals (``permute_dims``).

    One ``train_step`` updates the VAE (its own optimizer, the compiled one) and the
    discriminator (``discriminator_optimizer``, Adam 1e-4, β₁ 0.5, β₂ 0.9) from the same
    forward pass; each update takes only its own weights, so neither moves the other.
    """

    terms = ("tc", "discriminator_loss", "discriminator_accuracy")
    model_name = "factor_vae"

    def __init__(self, latent_dim=10, gamma=None, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.gamma = float(self.given_or_default("gamma", gamma))
        self.discriminator = Discriminator(name="discriminator")
        self.permute_seed = keras.random.SeedGenerator(None if self.seed is None else self.seed + 1)
        self.discriminator_optimizer = None

    def build(self, input_shape=None):
        super().build(input_shape)
        self.discriminator(keras.KerasTensor((None, self.latent_dim)))

    @property
    def vae_weights(self):
        """What the VAE optimizer updates: the encoder's and decoder's weights, not the discriminator's."""
        return self.encoder.trainable_weights + self.decoder.trainable_weights

    def compile(self, optimizer="adam", discriminator_optimizer=None, **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        if self.encoder.built:
            # The VAE optimizer over the weights train_step gives it, now: left to Keras, a resumed
            # run builds it over every weight (the discriminator's too) before restoring, and the
            # saved Adam state no longer fits ("Skipping variable loading for optimizer").
            self.optimizer.build(self.vae_weights)
        discriminator_optimizer = discriminator_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9)
        if keras.config.dtype_policy().name == "mixed_float16":  # Keras wraps only the compiled optimizer
            discriminator_optimizer = keras.optimizers.LossScaleOptimizer(discriminator_optimizer)
        discriminator_optimizer.build(self.discriminator.trainable_variables)
        self.discriminator_optimizer = discriminator_optimizer

    def regularizer(self, kl, mean, logvar, z):
        tc = objectives.discriminator_tc(self.discriminator(z))
        return kl + self.gamma * tc, {"tc": tc}

    def train_step(self, images):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        vae_weights = self.vae_weights
        critic_weights = self.discriminator.trainable_weights
        with tf.GradientTape() as vae_tape, tf.GradientTape() as critic_tape:
            terms = self.compute_terms(images)
            z = ops.stop_gradient(terms["z"])
            real, permuted = self.discriminator(z), self.discriminator(objectives.permute_dims(z, self.permute_seed))
            terms["discriminator_loss"] = objectives.discriminator_loss(real, permuted)
            vae_loss = self.optimizer.scale_loss(terms["loss"] / replicas)
            critic_loss = self.discriminator_optimizer.scale_loss(terms["discriminator_loss"] / replicas)
        vae_grads = vae_tape.gradient(vae_loss, vae_weights)
        critic_grads = critic_tape.gradient(critic_loss, critic_weights)
        self.optimizer.apply_gradients(zip(vae_grads, vae_weights))
        self.discriminator_optimizer.apply_gradients(zip(critic_grads, critic_weights))
        terms["discriminator_accuracy"] = accuracy(real, permuted)
        return self.update_metrics(terms)

    def test_step(self, images):
        terms = self.compute_terms(images)
        real = self.discriminator(terms["z"])
        permuted = self.discriminator(objectives.permute_dims(terms["z"], self.permute_seed))
        terms["discriminator_loss"] = objectives.discriminator_loss(real, permuted)
        terms["discriminator_accuracy"] = accuracy(real, permuted)
        return self.update_metrics(terms)


def accuracy(real_logits, permuted_logits):
    """How often the discriminator calls a sample of q(z) class 0 and a permuted one class 1."""
    real = ops.cast(ops.argmax(real_logits, axis=-1) == 0, "float32")
    permuted = ops.cast(ops.argmax(permuted_logits, axis=-1) == 1, "float32")
    return 0.5 * (ops.mean(real) + ops.mean(permuted))


def make_model(name, latent_dim=10, seed=None, rank1_logs=False, **hyperparameters):
    """The model ``name`` (registered in bvae_tf.model_registry) with its hyperparameters."""
    return MODELS[name].build(latent_dim, seed=seed, rank1_logs=rank1_logs, **hyperparameters)
