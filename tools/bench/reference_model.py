"""The yardstick: the same network and loss as BetaVAE, written the way keras.io's VAE example
teaches (one ``train_step``, TF's fused cross-entropy, one ``Mean`` tracker). Our model's speed is
reported as a ratio to it, measured side by side."""

import keras
import tensorflow as tf
from keras import layers, ops

from bvae_tf.model import IMAGE_SHAPE, BetaVAE


def reference_encoder(latent_dim):
    conv = dict(kernel_size=4, strides=2, padding="same", activation="relu")
    inputs = keras.Input(IMAGE_SHAPE)
    x = layers.Conv2D(32, **conv)(inputs)
    x = layers.Conv2D(32, **conv)(x)
    x = layers.Conv2D(64, **conv)(x)
    x = layers.Conv2D(64, **conv)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def reference_decoder(latent_dim):
    deconv = dict(kernel_size=4, strides=2, padding="same", activation="relu")
    inputs = keras.Input((latent_dim,))
    x = layers.Dense(256, activation="relu")(inputs)
    x = layers.Dense(4 * 4 * 64, activation="relu")(x)
    x = layers.Reshape((4, 4, 64))(x)
    x = layers.Conv2DTranspose(64, **deconv)(x)
    x = layers.Conv2DTranspose(32, **deconv)(x)
    x = layers.Conv2DTranspose(32, **deconv)(x)
    logits = layers.Conv2DTranspose(1, kernel_size=4, strides=2, padding="same")(x)
    return keras.Model(inputs, logits, name="decoder")


class ReferenceVAE(keras.Model):
    """What a user writes by hand after reading keras.io's VAE example."""

    def __init__(self, latent_dim=10, beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.beta = beta
        self.encoder = reference_encoder(latent_dim)
        self.decoder = reference_decoder(latent_dim)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, images):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(images)
            epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
            logits = self.decoder(z_mean + ops.exp(0.5 * z_log_var) * epsilon)
            recon = tf.reduce_mean(
                tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits), axis=(1, 2, 3))
            )
            kl = tf.reduce_mean(tf.reduce_sum(0.5 * (tf.square(z_mean) + tf.exp(z_log_var) - 1.0 - z_log_var), axis=1))
            loss = recon + self.beta * kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def copy_weights(source, target):
    """Give ``target`` (a reference) the weights of ``source`` (a BetaVAE): same start, same work."""
    pairs = [(source.encoder, target.encoder), (source.decoder, target.decoder)]
    for a, b in pairs:
        for wa, wb in zip(a.weights, b.weights, strict=True):
            if tuple(wa.shape) != tuple(wb.shape):
                raise AssertionError(f"weights differ in shape: {wa.path} {wa.shape} vs {wb.path} {wb.shape}")
            wb.assign(wa)


def make_model(kind, latent_dim=10, beta=4.0, seed=0, learning_rate=1e-3, jit_compile=False):
    """``kind`` "ours" (BetaVAE) or "reference" (ReferenceVAE with the same starting weights), compiled."""
    keras.utils.set_random_seed(seed)
    ours = BetaVAE(latent_dim=latent_dim, beta=beta, seed=seed)
    ours.build((None, *IMAGE_SHAPE))
    if kind == "ours":
        model = ours
    else:
        model = ReferenceVAE(latent_dim, beta, seed)
        copy_weights(ours, model)
    model.compile(keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    return model
