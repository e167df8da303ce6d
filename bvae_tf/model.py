"""The VAE all models share (a convolutional encoder and decoder), and β-VAE (Higgins et al. 2017).

Reading order follows keras.io's VAE example: the two halves, the per-latent KL metric, then
the model whose ``train_step`` puts them together. The loss formulas are in
``bvae_tf.objectives``; the other objectives in ``bvae_tf.zoo``.
"""

import keras
import tensorflow as tf
from keras import layers, ops

from bvae_tf import objectives
from bvae_tf.model_registry import MODELS

IMAGE_SHAPE = (64, 64, 1)  # dSprites'; a model of another dataset takes [64, 64, channels]
ACTIVE_KL_NATS = 0.01  # a latent with mean KL above this (in nats) carries information


class Encoder(layers.Layer):
    """q(z|x): images [B, 64, 64, 1] -> (mean, logvar), each [B, latent_dim].

    The architecture of the β-VAE papers (Higgins et al. 2017, Burgess et al. 2018): four
    4x4 stride-2 convolutions. disentanglement_lib uses kernel 2 in the last two; we keep
    the papers' 4. The two heads run in float32 so the KL stays accurate under mixed precision.
    """

    def __init__(self, latent_dim=10, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        conv = dict(kernel_size=4, strides=2, padding="same", activation="relu")
        self.body = [
            layers.Conv2D(32, **conv),
            layers.Conv2D(32, **conv),
            layers.Conv2D(64, **conv),
            layers.Conv2D(64, **conv),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
        ]
        self.mean_head = layers.Dense(latent_dim, dtype="float32", name="mean")
        self.logvar_head = layers.Dense(latent_dim, dtype="float32", name="logvar")

    def call(self, images):
        x = images
        for layer in self.body:
            x = layer(x)
        return self.mean_head(x), self.logvar_head(x)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}


class Decoder(layers.Layer):
    """p(x|z): latents [B, latent_dim] -> Bernoulli logits [B, 64, 64, channels] (float32): one
    Bernoulli per pixel and channel, on intensities in [0, 1], as the reference does for colour."""

    def __init__(self, channels=1, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        deconv = dict(kernel_size=4, strides=2, padding="same", activation="relu")
        self.body = [
            layers.Dense(256, activation="relu"),
            layers.Dense(4 * 4 * 64, activation="relu"),
            layers.Reshape((4, 4, 64)),
            layers.Conv2DTranspose(64, **deconv),
            layers.Conv2DTranspose(32, **deconv),
            layers.Conv2DTranspose(32, **deconv),
        ]
        self.logits_head = layers.Conv2DTranspose(
            channels, kernel_size=4, strides=2, padding="same", dtype="float32", name="logits"
        )

    def call(self, latents):
        x = latents
        for layer in self.body:
            x = layer(x)
        return self.logits_head(x)


class LatentKL(keras.metrics.Metric):
    """Mean KL of each latent over an epoch (``kl_0`` ...) and how many are active (> 0.01 nats)."""

    def __init__(self, latent_dim, name="latent_kl", **kwargs):
        super().__init__(name=name, **kwargs)
        self.latent_dim = latent_dim
        self.total = self.add_variable((latent_dim,), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, kl_per_latent):
        self.total.assign_add(ops.cast(kl_per_latent, "float32"))
        self.count.assign_add(1.0)

    def result(self):
        mean_kl = self.total / ops.maximum(self.count, 1.0)
        logs = {f"kl_{i}": kl for i, kl in enumerate(ops.unstack(mean_kl, self.latent_dim))}
        logs["active_latents"] = ops.sum(ops.cast(mean_kl > ACTIVE_KL_NATS, "float32"))
        return logs

    def reset_state(self):
        self.total.assign(ops.zeros_like(self.total))
        self.count.assign(0.0)


class VAE(keras.Model):
    """The VAE every model of the zoo shares: encoder, reparameterised sample, Bernoulli decoder,
    and loss = reconstruction + ``regularizer(kl, mean, logvar, z)``, the hook each objective
    overrides (as disentanglement_lib's ``BaseVAE.regularizer``). ``terms`` names the extra
    numbers a regularizer logs (e.g. ``("tc",)``). Calling the model returns Bernoulli logits of
    a reconstruction from the posterior mean; ``fit`` trains on batches of images in {0, 1}.

    ``rank1_logs``: return logs of shape [1] from train/test_step, the workaround for
    MultiWorkerMirroredStrategy (keras-team/keras#20585; see ``callbacks.SqueezeLogs``).
    """

    terms = ()
    model_name = None  # the model's name in bvae_tf.model_registry, whose declaration lists its hyperparameters

    def __init__(self, latent_dim=10, seed=None, rank1_logs=False, channels=1, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.channels = channels
        self.seed = seed
        self.rank1_logs = rank1_logs
        self.encoder = Encoder(latent_dim, name="encoder")
        self.decoder = Decoder(channels, name="decoder")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "recon", "kl", *self.terms)}
        self.latent_kl = LatentKL(latent_dim)

    def regularizer(self, kl, mean, logvar, z):
        """(penalty added to the reconstruction loss, {term: value} to log)."""
        raise NotImplementedError

    def given_or_default(self, name, value):
        """``value``, or the hyperparameter's default in the model's registry declaration when None."""
        return MODELS[self.model_name].defaults[name] if value is None else value

    def hyperparameters(self):
        """{name: value} of the objective's hyperparameters (logged each epoch, in the model card),
        as its registry declaration lists them."""
        return {name: getattr(self, name) for name in MODELS[self.model_name].defaults}

    @property
    def metrics(self):
        return [*self.trackers.values(), self.latent_kl]

    def build(self, input_shape=None):
        """Create the weights. ``train_step`` never calls ``self(x)``, so call this before
        ``compile``, or export and keras-tuner checkpoints fail on an unbuilt model."""
        mean, _ = self.encoder(keras.KerasTensor(input_shape or (None, *self.image_shape)))
        self.decoder(mean)

    def call(self, images):
        mean, _ = self.encoder(images)
        return self.decoder(mean)

    def sample(self, mean, logvar):
        """The reparameterisation trick: z = mean + σ·ε, differentiable in mean and logvar."""
        epsilon = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * logvar) * epsilon

    def compute_terms(self, images):
        """The loss and everything logged, in float32: ``loss``, ``recon``, ``kl``, ``kl_per_latent``,
        the sample ``z`` and the regularizer's terms."""
        mean, logvar = self.encoder(images)
        z = self.sample(mean, logvar)
        recon = objectives.bernoulli_reconstruction(images, self.decoder(z))
        kl_per_latent = objectives.gaussian_kl_per_latent(mean, logvar)
        kl = ops.sum(kl_per_latent)
        penalty, logged = self.regularizer(kl, mean, logvar, z)
        return {"loss": recon + penalty, "recon": recon, "kl": kl, "kl_per_latent": kl_per_latent, "z": z, **logged}

    def train_step(self, images):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images)
            # Each replica averages over its share of the batch; gradients are summed across
            # replicas, so divide to get the mean over the global batch.
            scaled = self.optimizer.scale_loss(terms["loss"] / replicas)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self.update_metrics(terms)

    def test_step(self, images):
        return self.update_metrics(self.compute_terms(images))

    def update_metrics(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        self.latent_kl.update_state(terms["kl_per_latent"])
        logs = self.get_metrics_result()
        if self.rank1_logs:
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def get_config(self):
        fixed = dict(MODELS[self.model_name].fixed)
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "seed": self.seed,
            "channels": self.channels,
            **self.hyperparameters(),
            **fixed,
        }

    @property
    def image_shape(self):
        return (*IMAGE_SHAPE[:2], self.channels)


class BetaVAE(VAE):
    """β-VAE (Higgins et al. 2017): loss = recon + β·KL; β=1 is the plain VAE."""

    model_name = "beta_vae"

    def __init__(self, latent_dim=10, beta=None, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.beta = float(self.given_or_default("beta", beta))

    def regularizer(self, kl, mean, logvar, z):
        return self.beta * kl, {}
