"""BetaVAE: the loss against numpy, learning on a tiny set, β's effect, MirroredStrategy."""

import os
import subprocess
import sys
import textwrap
import unittest

import keras
import numpy as np
import tensorflow as tf

from bvae_tf.data.dsprites import DSprites, render_dsprites
from bvae_tf.model import BetaVAE
from tests.helpers import slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_images(n, seed=0):
    return render_dsprites(DSprites.sample_factors(n, seed)).astype("float32")[..., None]


def trained(beta, images, steps, batch_size=16, seed=0, learning_rate=3e-3):
    """A BetaVAE after ``steps`` Adam steps on ``images``; returns (model, first-epoch logs, last)."""
    keras.utils.set_random_seed(seed)
    model = BetaVAE(latent_dim=10, beta=beta, seed=seed)
    model.build((None, 64, 64, 1))
    model.compile(keras.optimizers.Adam(learning_rate))
    data = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed).batch(batch_size)
    epochs = -(-steps * batch_size // len(images))
    history = model.fit(data, epochs=epochs, shuffle=False, verbose=0).history
    return model, {k: v[0] for k, v in history.items()}, {k: v[-1] for k, v in history.items()}


class LossTest(unittest.TestCase):
    def test_beta_vae_loss_matches_numpy(self):
        model = BetaVAE(latent_dim=10, beta=4.0, seed=0)
        model.build()
        rng = np.random.default_rng(0)  # a spread posterior: an untrained one has KL ~0
        model.encoder.mean_head.bias.assign(rng.normal(0, 1, 10).astype("float32"))
        model.encoder.logvar_head.bias.assign(rng.normal(-1, 0.5, 10).astype("float32"))
        images = tiny_images(3)
        terms = {k: keras.ops.convert_to_numpy(v) for k, v in model.compute_terms(images).items()}
        mean, logvar = (keras.ops.convert_to_numpy(t).astype("float64") for t in model.encoder(images))
        logits = keras.ops.convert_to_numpy(model.decoder(terms["z"])).astype("float64")

        probs = 1 / (1 + np.exp(-logits))
        nll = -(images * np.log(probs) + (1 - images) * np.log(1 - probs))
        recon = nll.sum(axis=(1, 2, 3)).mean()
        kl_per_latent = (0.5 * (mean**2 + np.exp(logvar) - 1 - logvar)).mean(axis=0)
        np.testing.assert_allclose(terms["recon"], recon, rtol=1e-5)
        np.testing.assert_allclose(terms["kl_per_latent"], kl_per_latent, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(terms["kl"], kl_per_latent.sum(), rtol=1e-5)
        np.testing.assert_allclose(terms["loss"], recon + 4.0 * kl_per_latent.sum(), rtol=1e-5)
        self.assertEqual(model.hyperparameters(), {"beta": 4.0})


@slow
class TrainingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        images = tiny_images(256)
        cls.images = images
        cls.vae, cls.vae_first, cls.vae_last = trained(1.0, images, steps=176)
        cls.strong, _, cls.strong_last = trained(50.0, images, steps=176)

    def test_reconstruction_loss_falls(self):
        self.assertLess(self.vae_last["recon"], 0.5 * self.vae_first["recon"])
        self.assertEqual(self.vae_last["active_latents"], sum(self.vae_last[f"kl_{i}"] > 0.01 for i in range(10)))

    def test_large_beta_switches_latents_off(self):
        strong_kl = np.array([self.strong_last[f"kl_{i}"] for i in range(10)])
        vae_kl = np.array([self.vae_last[f"kl_{i}"] for i in range(10)])
        self.assertGreaterEqual((strong_kl < 0.15).sum(), 7, strong_kl)
        self.assertLessEqual((vae_kl < 0.15).sum(), 1, vae_kl)
        self.assertLess(strong_kl.sum(), 0.2 * vae_kl.sum())


MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from bvae_tf.model import BetaVAE
    from bvae_tf.data.dsprites import DSprites, render_dsprites

    class MeanCodeVAE(BetaVAE):
        # Each replica draws its own noise, so sampled runs cannot match one device exactly;
        # decoding the mean tests what matters: loss scaling and gradient aggregation.
        def sample(self, mean, logvar):
            return mean

    images = render_dsprites(DSprites.sample_factors(64, 1)).astype("float32")[..., None]
    keras.utils.set_random_seed(0)
    init = None
    weights = []
    for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
        with strategy.scope():
            model = MeanCodeVAE(beta=4.0, seed=0)
            model.build((None, 64, 64, 1))
            model.compile(keras.optimizers.Adam(1e-3))
        init = init or model.get_weights()
        model.set_weights(init)
        model.fit(tf.data.Dataset.from_tensor_slices(images).batch(16), epochs=1, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    print("replicas", strategy.num_replicas_in_sync)
    print("maxdiff", max(float(np.abs(a - b).max()) for a, b in zip(*weights)))
    print("moved", max(float(np.abs(a - b).max()) for a, b in zip(init, weights[0])))
""")


@slow
class MirroredTest(unittest.TestCase):
    def test_two_replicas_match_one_device(self):
        out = subprocess.run(
            [sys.executable, "-c", MIRRORED_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        values = dict(
            line.split() for line in out.stdout.splitlines() if line.split()[0] in ("replicas", "maxdiff", "moved")
        )
        self.assertEqual(values["replicas"], "2")
        self.assertGreater(float(values["moved"]), 1e-3)  # four Adam steps really changed the weights
        self.assertLess(float(values["maxdiff"]), 1e-4)


if __name__ == "__main__":
    unittest.main()
