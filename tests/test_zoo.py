"""bvae_tf.zoo: each objective's special cases equal β-VAE, FactorVAE's two updates, and every
model trains, exports and reloads."""

import glob
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

import keras
import numpy as np
import tensorflow as tf

from bvae_tf import objectives
from bvae_tf.data.dsprites import DSprites, render_dsprites
from bvae_tf.export import export_model
from bvae_tf.model import BetaVAE
from bvae_tf.model_registry import MODELS
from bvae_tf.zoo import DIPVAE, AnnealedVAE, BetaTCVAE, FactorVAE, accuracy, make_model
from tests.helpers import slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_images(n, seed=0):
    return render_dsprites(DSprites.sample_factors(n, seed)).astype("float32")[..., None]


def compiled(model, learning_rate=1e-3, **kwargs):
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), **kwargs)
    return model


def spread_posterior(model, seed=0):
    """Random head biases: an untrained encoder's posterior is ~N(0, 1), whose KL is ~0."""
    rng = np.random.default_rng(seed)
    model.encoder.mean_head.bias.assign(rng.normal(0, 1, model.latent_dim).astype("float32"))
    model.encoder.logvar_head.bias.assign(rng.normal(-1, 0.5, model.latent_dim).astype("float32"))
    return model


def numpy_terms(model, images):
    return {key: keras.ops.convert_to_numpy(value) for key, value in model.compute_terms(images).items()}


class SpecialCasesTest(unittest.TestCase):
    """With the regularizer's extra weight at zero, every objective is β-VAE on the same batch."""

    @classmethod
    def setUpClass(cls):
        cls.images = tiny_images(32)

    def assert_same_loss(self, model, beta):
        reference = spread_posterior(compiled(BetaVAE(latent_dim=6, beta=beta, seed=3)))
        compiled(model).set_weights(reference.get_weights())
        expected, got = numpy_terms(reference, self.images), numpy_terms(model, self.images)
        np.testing.assert_allclose(got["z"], expected["z"])  # same seed, same noise
        np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-6)
        self.assertGreater(expected["kl"], 0.1)
        return got

    def test_beta_tcvae_with_beta_1(self):
        terms = self.assert_same_loss(BetaTCVAE(latent_dim=6, beta=1.0, seed=3), 1.0)
        self.assertTrue(np.isfinite(terms["tc"]))

    def test_dip_vae_with_lambdas_0(self):
        for dip_type in ("i", "ii"):
            terms = self.assert_same_loss(DIPVAE(latent_dim=6, lambda_od=0.0, dip_type=dip_type, seed=3), 1.0)
            self.assertEqual(terms["dip"], 0.0)

    def test_annealed_vae_with_c_max_0_and_gamma_beta(self):
        terms = self.assert_same_loss(
            AnnealedVAE(latent_dim=6, c_max=0.0, gamma=4.0, iteration_threshold=10, seed=3), 4.0
        )
        self.assertEqual(terms["capacity"], 0.0)

    def test_regularizers_are_the_papers(self):
        images = self.images
        tcvae = spread_posterior(compiled(BetaTCVAE(latent_dim=6, beta=4.0, seed=1)))
        terms = numpy_terms(tcvae, images)
        mean, logvar = (keras.ops.convert_to_numpy(t) for t in tcvae.encoder(images))
        tc = float(objectives.total_correlation(terms["z"], mean, logvar))
        np.testing.assert_allclose(terms["loss"], terms["recon"] + terms["kl"] + 3.0 * tc, rtol=1e-5)
        annealed = spread_posterior(
            compiled(AnnealedVAE(latent_dim=6, c_max=10.0, gamma=100.0, iteration_threshold=4, seed=1))
        )
        annealed.optimizer.iterations.assign(2)
        terms = numpy_terms(annealed, images)
        self.assertAlmostEqual(float(terms["capacity"]), 5.0)
        np.testing.assert_allclose(terms["loss"], terms["recon"] + 100.0 * abs(terms["kl"] - 5.0), rtol=1e-5)


class FactorVAETest(unittest.TestCase):
    @slow
    def test_discriminator_tells_correlated_samples_from_their_permutation(self):
        keras.utils.set_random_seed(0)
        model = compiled(FactorVAE(latent_dim=2, seed=0))
        critic, optimizer = model.discriminator, model.discriminator_optimizer
        rng = np.random.default_rng(0)

        def batch():
            x = rng.normal(size=(256, 1)).astype("float32")
            return np.concatenate([x, x + 0.1 * rng.normal(size=(256, 1)).astype("float32")], axis=1)

        @tf.function
        def step(z):
            with tf.GradientTape() as tape:
                loss = objectives.discriminator_loss(critic(z), critic(objectives.permute_dims(z, 1)))
            optimizer.apply_gradients(zip(tape.gradient(loss, critic.trainable_weights), critic.trainable_weights))

        for _ in range(150):
            step(batch())
        z = batch()
        self.assertGreater(float(accuracy(critic(z), critic(objectives.permute_dims(z, 2)))), 0.8)

    def test_each_update_moves_only_its_own_weights(self):
        images = tiny_images(16)
        for frozen in ("vae", "discriminator"):
            keras.utils.set_random_seed(0)
            model = FactorVAE(latent_dim=4, gamma=10.0, seed=0)
            model.build()
            critic_optimizer = keras.optimizers.Adam(0.0 if frozen == "discriminator" else 1e-3)
            model.compile(
                optimizer=keras.optimizers.Adam(0.0 if frozen == "vae" else 1e-3),
                discriminator_optimizer=critic_optimizer,
            )
            vae_before = [w.copy() for w in model.encoder.get_weights() + model.decoder.get_weights()]
            critic_before = [w.copy() for w in model.discriminator.get_weights()]
            history = model.fit(tf.data.Dataset.from_tensors(images), epochs=1, verbose=0, shuffle=False).history
            logs = {key: values[-1] for key, values in history.items()}
            vae_moved = max(
                np.abs(a - b).max()
                for a, b in zip(vae_before, model.encoder.get_weights() + model.decoder.get_weights())
            )
            critic_moved = max(np.abs(a - b).max() for a, b in zip(critic_before, model.discriminator.get_weights()))
            with self.subTest(frozen=frozen):
                self.assertEqual(vae_moved if frozen == "vae" else critic_moved, 0.0)
                self.assertGreater(critic_moved if frozen == "vae" else vae_moved, 1e-5)
                for key in ("tc", "discriminator_loss", "discriminator_accuracy", "recon", "kl"):
                    self.assertTrue(np.isfinite(logs[key]), key)

    def test_a_resumed_run_gets_both_optimizers_state_back(self):
        images = tf.data.Dataset.from_tensor_slices(tiny_images(32)).batch(8)
        path = os.path.join(tempfile.mkdtemp(), "backup", "latest.weights.h5")
        keras.utils.set_random_seed(0)
        trained = compiled(FactorVAE(latent_dim=4, seed=0))
        trained.fit(
            images,
            epochs=1,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(os.path.dirname(path), delete_checkpoint=False)],
        )
        resumed = compiled(FactorVAE(latent_dim=4, seed=0))  # as train.py builds it, then restores
        self.assertEqual(len(resumed.optimizer.variables), len(trained.optimizer.variables))
        resumed.load_weights(glob_one(os.path.dirname(path), "*.weights.h5"))
        self.assertEqual(int(resumed.optimizer.iterations), 4)
        for restored, saved in zip(
            resumed.optimizer.variables + resumed.discriminator_optimizer.variables,
            trained.optimizer.variables + trained.discriminator_optimizer.variables,
        ):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(saved))


def glob_one(folder, pattern):
    (path,) = glob.glob(os.path.join(folder, pattern))
    return path


MIRRORED_FACTOR_VAE = textwrap.dedent("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from bvae_tf.data.dsprites import DSprites, render_dsprites
    from bvae_tf.zoo import FactorVAE

    images = render_dsprites(DSprites.sample_factors(64, 1)).astype("float32")[..., None]
    keras.config.set_dtype_policy("mixed_float16")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = FactorVAE(latent_dim=4, gamma=10.0, seed=0)
        model.build()
        model.compile(keras.optimizers.Adam(1e-3))
    before = [w.copy() for w in model.discriminator.get_weights()]
    history = model.fit(tf.data.Dataset.from_tensor_slices(images).batch(16), epochs=1, verbose=0, shuffle=False).history
    moved = max(float(np.abs(a - b).max()) for a, b in zip(before, model.discriminator.get_weights()))
    print("replicas", strategy.num_replicas_in_sync)
    print("scaled", type(model.discriminator_optimizer).__name__, type(model.optimizer).__name__)
    print("moved", moved)
    print("finite", all(np.isfinite(v[-1]) for v in history.values()))
""")


@slow
class FactorVAEDistributedTest(unittest.TestCase):
    def test_mirrored_and_mixed_precision(self):
        out = subprocess.run(
            [sys.executable, "-c", MIRRORED_FACTOR_VAE], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        values = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
        self.assertEqual(values["replicas"], "2")
        self.assertEqual(values["scaled"], "LossScaleOptimizer LossScaleOptimizer")  # both optimizers scale
        self.assertGreater(float(values["moved"]), 1e-6)
        self.assertEqual(values["finite"], "True")


RELOAD = textwrap.dedent("""
    import json, sys, numpy as np, tensorflow as tf
    images = np.load(sys.argv[1])
    out = {}
    for path in sys.argv[2:]:
        model = tf.saved_model.load(path)
        out[path] = model.encode(images)["mean"].numpy().tolist()
    print(json.dumps(out))
""")


@slow
class EveryModelTrainsTest(unittest.TestCase):
    def test_train_lower_recon_export_and_reload_in_a_fresh_process(self):
        images = tiny_images(128)
        data = tf.data.Dataset.from_tensor_slices(images).shuffle(128, seed=0).batch(16)
        tmp = tempfile.mkdtemp()
        expected, paths = {}, []
        settings = {
            "beta_vae": {"beta": 4.0},
            "annealed_vae": {"c_max": 10.0, "iteration_threshold": 40},  # C reaches C_max within the run
            "factor_vae": {"gamma": 10.0},
            "dip_vae_i": {"lambda_od": 5.0},
            "dip_vae_ii": {"lambda_od": 5.0, "lambda_d_factor": 1.0},
            "beta_tcvae": {"beta": 6.0},
        }
        self.assertEqual(set(settings), set(MODELS))
        for name, hyperparameters in settings.items():
            keras.utils.set_random_seed(0)
            model = compiled(make_model(name, 6, seed=0, **hyperparameters), learning_rate=3e-3)
            history = model.fit(data, epochs=8, verbose=0, shuffle=False).history  # 64 steps: recon ~0.25x by 40
            with self.subTest(name):
                self.assertLess(history["recon"][-1], 0.6 * history["recon"][0])
                for term in model.terms:
                    self.assertTrue(np.isfinite(history[term]).all(), term)
            path = export_model(model, os.path.join(tmp, name), {"model": name, **model.hyperparameters()})
            paths.append(path)
            expected[path] = keras.ops.convert_to_numpy(model.encoder(images[:4])[0])
        np.save(os.path.join(tmp, "images.npy"), images[:4])
        out = subprocess.run(
            [sys.executable, "-c", RELOAD, os.path.join(tmp, "images.npy"), *paths],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        reloaded = json.loads(out.stdout.strip().splitlines()[-1])
        for path in paths:
            np.testing.assert_allclose(reloaded[path], expected[path], atol=1e-5)


if __name__ == "__main__":
    unittest.main()
