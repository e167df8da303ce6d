"""bvae_tf.objectives: each loss against a float64 numpy transcription of its paper's formula,
plus the properties the models rely on (TC grows with correlation, DIP vanishes at identity
covariance, C(step) ramps then stays flat, permute_dims shuffles each latent on its own)."""

import math
import os
import subprocess
import sys
import unittest

import keras
import numpy as np
import tensorflow as tf
from scipy.special import logsumexp

from bvae_tf import objectives as obj


def posterior(seed, batch=24, latents=5):
    """Fixed seeded (z, mean, logvar) as float32 arrays, z drawn from N(mean, exp(logvar))."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.0, 1.5, (batch, latents))
    logvar = rng.uniform(-3.0, 0.5, (batch, latents))
    z = mean + np.exp(0.5 * logvar) * rng.normal(size=(batch, latents))
    return tuple(a.astype("float32") for a in (z, mean, logvar))


def np_kl_per_latent(mean, logvar):
    mean, logvar = np.float64(mean), np.float64(logvar)
    batch, latents = mean.shape
    out = np.zeros(latents)
    for b in range(batch):
        for l in range(latents):
            var = math.exp(logvar[b, l])
            out[l] += 0.5 * (mean[b, l] ** 2 + var - logvar[b, l] - 1.0) / batch
    return out


def np_total_correlation(z, mean, logvar):
    """Chen et al. (2018) minibatch-weighted sampling, constants dropped, with explicit loops."""
    z, mean, logvar = np.float64(z), np.float64(mean), np.float64(logvar)
    batch, latents = z.shape
    total = 0.0
    for j in range(batch):
        log_q = np.zeros((batch, latents))  # log q(z_j | x_i)_l
        for i in range(batch):
            for l in range(latents):
                log_q[i, l] = -0.5 * (
                    (z[j, l] - mean[i, l]) ** 2 / math.exp(logvar[i, l]) + logvar[i, l] + math.log(2 * math.pi)
                )
        log_qz = logsumexp([log_q[i].sum() for i in range(batch)])
        log_prod_marginals = sum(logsumexp(log_q[:, l]) for l in range(latents))
        total += log_qz - log_prod_marginals
    return total / batch


def np_dip(mean, logvar, lambda_od, lambda_d, dip_type):
    mean, logvar = np.float64(mean), np.float64(logvar)
    batch, latents = mean.shape
    mu_bar = mean.mean(axis=0)
    cov = np.zeros((latents, latents))
    for b in range(batch):
        cov += np.outer(mean[b], mean[b]) / batch
    cov -= np.outer(mu_bar, mu_bar)
    if dip_type == "ii":
        cov += np.diag(np.exp(logvar).mean(axis=0))
    off = sum(cov[i, j] ** 2 for i in range(latents) for j in range(latents) if i != j)
    diag = sum((cov[i, i] - 1.0) ** 2 for i in range(latents))
    return lambda_od * off + lambda_d * diag


def np_log_softmax_clipped(logits):
    logits = np.float64(logits)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.log(np.clip(e / e.sum(axis=1, keepdims=True), 1e-6, 1 - 1e-6))


def whitened(seed, batch, latents):
    """Samples with biased batch covariance exactly I (up to float rounding)."""
    x = np.random.default_rng(seed).normal(size=(batch, latents))
    x -= x.mean(axis=0)
    chol = np.linalg.cholesky(x.T @ x / batch)
    return np.linalg.solve(chol, x.T).T


class KLTest(unittest.TestCase):
    def test_matches_numpy(self):
        _, mean, logvar = posterior(0)
        per_latent = np.asarray(obj.gaussian_kl_per_latent(mean, logvar))
        self.assertEqual(per_latent.shape, (5,))
        np.testing.assert_allclose(per_latent, np_kl_per_latent(mean, logvar), rtol=1e-5)
        self.assertAlmostEqual(float(obj.gaussian_kl(mean, logvar)), np_kl_per_latent(mean, logvar).sum(), places=3)

    def test_zero_at_prior_and_sum_of_per_latent(self):
        zeros = np.zeros((8, 4), "float32")
        self.assertEqual(float(obj.gaussian_kl(zeros, zeros)), 0.0)
        _, mean, logvar = posterior(1)
        self.assertGreater(float(obj.gaussian_kl(mean, logvar)), 0.0)
        self.assertAlmostEqual(
            float(obj.gaussian_kl(mean, logvar)), float(np.sum(obj.gaussian_kl_per_latent(mean, logvar))), places=4
        )


class ReconstructionTest(unittest.TestCase):
    def test_matches_numpy_sum_over_pixels(self):
        rng = np.random.default_rng(2)
        images = (rng.uniform(size=(3, 6, 5, 1)) < 0.3).astype("float32")
        logits = rng.normal(0.0, 4.0, images.shape).astype("float32")
        expected = 0.0
        for b in range(3):
            for x, t in zip(np.float64(logits[b]).ravel(), np.float64(images[b]).ravel()):
                p = 1.0 / (1.0 + math.exp(-x))
                expected += -(t * math.log(p) + (1 - t) * math.log(1 - p)) / 3
        self.assertAlmostEqual(float(obj.bernoulli_reconstruction(images, logits)), expected, places=3)


class TotalCorrelationTest(unittest.TestCase):
    def test_matches_numpy(self):
        for seed in (3, 4):
            z, mean, logvar = posterior(seed)
            self.assertAlmostEqual(
                float(obj.total_correlation(z, mean, logvar)), np_total_correlation(z, mean, logvar), places=3
            )

    def test_larger_for_correlated_latents(self):
        batch, latents, sigma = 64, 8, 0.2
        logvar = np.full((batch, latents), 2 * math.log(sigma))
        for seed in (5, 6, 7):
            rng = np.random.default_rng(seed)
            m = rng.normal(size=batch)
            z_col = m + sigma * rng.normal(size=batch)
            # Correlated: every latent is a copy of the same (z, mean) column.
            mean_c = np.tile(m[:, None], (1, latents))
            z_c = np.tile(z_col[:, None], (1, latents))
            # Independent, same marginals: each column's (z, mean) pairs permuted on its own.
            perms = [rng.permutation(batch) for _ in range(latents)]
            mean_i = np.stack([m[p] for p in perms], axis=1)
            z_i = np.stack([z_col[p] for p in perms], axis=1)
            tc_c = float(obj.total_correlation(z_c, mean_c, logvar))
            tc_i = float(obj.total_correlation(z_i, mean_i, logvar))
            with self.subTest(seed=seed):
                self.assertGreater(tc_c, tc_i + 2.0)


class DipTest(unittest.TestCase):
    def test_matches_numpy(self):
        _, mean, logvar = posterior(6, latents=4)
        for dip_type, lambda_od, lambda_d in (("i", 2.0, 20.0), ("ii", 5.0, 5.0)):
            with self.subTest(dip_type=dip_type):
                got = float(obj.dip_regularizer(mean, logvar, lambda_od, lambda_d, dip_type))
                want = np_dip(mean, logvar, lambda_od, lambda_d, dip_type)
                self.assertAlmostEqual(got / want, 1.0, places=5)

    def test_zero_at_identity_covariance(self):
        batch, latents = 200, 5
        mean = (whitened(7, batch, latents) + 0.3).astype("float32")  # a shift does not change Cov
        logvar = np.zeros((batch, latents), "float32")
        self.assertLess(float(obj.dip_regularizer(mean, logvar, 1.0, 10.0, "i")), 1e-8)
        self.assertGreater(float(obj.dip_regularizer(mean, logvar, 1.0, 10.0, "ii")), 1.0)
        # "ii": Cov[μ] = 0.5·I and the batch mean of exp(logvar) = 0.5, with varying logvar.
        w = np.random.default_rng(8).uniform(0.2, 2.0, (batch, latents))
        logvar = np.log(0.5 * w / w.mean(axis=0)).astype("float32")
        mean = (math.sqrt(0.5) * whitened(9, batch, latents)).astype("float32")
        self.assertLess(float(obj.dip_regularizer(mean, logvar, 1.0, 1.0, "ii")), 1e-8)

    def test_grows_with_off_diagonal_correlation(self):
        batch = 200
        base = whitened(10, batch, 3)
        logvar = np.zeros((batch, 3), "float32")
        penalties = []
        for rho in (0.0, 0.2, 0.5, 0.8):
            sigma = np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]])
            mean = (base @ np.linalg.cholesky(sigma).T).astype("float32")
            penalty = float(obj.dip_regularizer(mean, logvar, 1.0, 10.0, "i"))
            self.assertAlmostEqual(penalty, 2 * rho**2, places=5)  # Cov_01 and Cov_10
            penalties.append(penalty)
        self.assertEqual(penalties, sorted(penalties))
        self.assertGreater(penalties[-1], penalties[1])

    def test_bad_type(self):
        with self.assertRaisesRegex(ValueError, "'i'.*'ii'"):
            obj.dip_regularizer(np.zeros((4, 2)), np.zeros((4, 2)), 1.0, 1.0, "iii")


class CapacityTest(unittest.TestCase):
    def test_linear_then_flat(self):
        c_max, threshold = 25.0, 100_000
        for step in (0, 1, 25_000, 50_000, 99_999, 100_000, 100_001, 300_000):
            with self.subTest(step=step):
                want = min(c_max, c_max * step / threshold)
                self.assertAlmostEqual(float(obj.capacity(c_max, step, threshold)), want, places=4)
        self.assertEqual(float(obj.capacity(c_max, 0, threshold)), 0.0)
        self.assertAlmostEqual(float(obj.capacity(c_max, 50_000, threshold)), 12.5, places=5)
        self.assertEqual(float(obj.capacity(c_max, 10**6, threshold)), c_max)
        # optimizer.iterations is an int64 variable
        self.assertAlmostEqual(float(obj.capacity(10.0, tf.constant(30_000, tf.int64), threshold)), 3.0, places=5)

    def test_bad_threshold(self):
        with self.assertRaises(ValueError):
            obj.capacity(5.0, 10, 0)


class PermuteDimsTest(unittest.TestCase):
    z = np.arange(256 * 10, dtype="float32").reshape(256, 10)  # distinct values; row = value // 10

    def test_keeps_columns_breaks_rows(self):
        out = np.asarray(obj.permute_dims(self.z, 0))
        self.assertEqual(out.shape, self.z.shape)
        np.testing.assert_array_equal(np.sort(out, axis=0), self.z)  # each column's values, in its column
        source_rows = out.astype(int) // 10
        intact = np.sum(np.all(source_rows == source_rows[:, :1], axis=1))
        self.assertLessEqual(intact, 2)
        for col in range(10):  # every latent shuffled, none left in place
            self.assertLess(np.mean(out[:, col] == self.z[:, col]), 0.05)

    def test_seeding(self):
        a, b = (np.asarray(obj.permute_dims(self.z, 1)) for _ in range(2))
        np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(a, np.asarray(obj.permute_dims(self.z, 2))))
        gen = keras.random.SeedGenerator(3)
        first, second = np.asarray(obj.permute_dims(self.z, gen)), np.asarray(obj.permute_dims(self.z, gen))
        self.assertFalse(np.array_equal(first, second))  # a generator gives a new shuffle per call
        again = np.asarray(obj.permute_dims(self.z, keras.random.SeedGenerator(3)))
        np.testing.assert_array_equal(first, again)

    def test_factor_vae_training_prints_no_onednn_error(self):
        # An argsort over axis 0 made oneDNN print "supports DT_INT32 only on platforms with
        # AVX-512" once per FactorVAE run; it goes to file descriptor 2, so run a step in a child.
        script = (
            "import keras, numpy as np\n"
            "from bvae_tf.zoo import make_model\n"
            "model = make_model('factor_vae', 4, seed=0)\n"
            "model.build()\n"
            "model.compile(keras.optimizers.Adam(1e-3))\n"
            "model.fit(np.ones((32, 64, 64, 1), 'float32'), epochs=1, batch_size=32, verbose=0)\n"
        )
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "1"},
        )
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertNotIn("DT_INT32", out.stderr)

    def test_in_graph_with_dynamic_batch(self):
        gen = keras.random.SeedGenerator(4)

        @tf.function(input_signature=[tf.TensorSpec([None, 10], tf.float32)])
        def permuted(z):
            return obj.permute_dims(z, gen)

        for batch in (256, 33):
            with self.subTest(batch=batch):
                out = permuted(self.z[:batch]).numpy()
                np.testing.assert_array_equal(np.sort(out, axis=0), self.z[:batch])
                self.assertFalse(np.array_equal(out, self.z[:batch]))
        self.assertFalse(np.array_equal(permuted(self.z).numpy(), permuted(self.z).numpy()))


class DiscriminatorTest(unittest.TestCase):
    def test_tc_matches_numpy(self):
        logits = np.random.default_rng(11).normal(0.0, 3.0, (16, 2)).astype("float32")
        want = sum(float(logits[b, 0]) - float(logits[b, 1]) for b in range(16)) / 16
        self.assertAlmostEqual(float(obj.discriminator_tc(logits)), want, places=5)

    def test_loss_matches_numpy(self):
        rng = np.random.default_rng(12)
        real, permuted = (rng.normal(0.0, 3.0, (16, 2)).astype("float32") for _ in range(2))
        want = -(0.5 * np_log_softmax_clipped(real)[:, 0].mean() + 0.5 * np_log_softmax_clipped(permuted)[:, 1].mean())
        self.assertAlmostEqual(float(obj.discriminator_loss(real, permuted)), want, places=5)

    def test_log2_at_equal_logits(self):
        for value in (0.0, 3.7):
            same = np.full((8, 2), value, "float32")
            self.assertAlmostEqual(float(obj.discriminator_loss(same, same)), math.log(2.0), places=6)

    def test_clipping_for_extreme_logits(self):
        wrong = np.tile(np.array([[1e4, -1e4]], "float32"), (4, 1))  # says "real" for the permuted too
        loss = float(obj.discriminator_loss(wrong, wrong))
        self.assertTrue(math.isfinite(loss))
        self.assertAlmostEqual(loss, -0.5 * (math.log(1 - 1e-6) + math.log(1e-6)), places=3)
        right = np.tile(np.array([[-1e4, 1e4]], "float32"), (4, 1))
        self.assertAlmostEqual(float(obj.discriminator_loss(-right, right)), -math.log(1 - 1e-6), places=5)


class GraphTest(unittest.TestCase):
    def test_objectives_trace_and_differentiate(self):
        z, mean, logvar = posterior(13)

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32)] * 3)
        def losses_and_grads(z, mean, logvar):
            with tf.GradientTape() as tape:
                tape.watch([mean, logvar])
                total = (
                    obj.gaussian_kl(mean, logvar)
                    + obj.total_correlation(z, mean, logvar)
                    + obj.dip_regularizer(mean, logvar, 1.0, 10.0, "ii")
                )
            return total, tape.gradient(total, [mean, logvar])

        total, grads = losses_and_grads(z, mean, logvar)
        want = (
            np_kl_per_latent(mean, logvar).sum()
            + np_total_correlation(z, mean, logvar)
            + np_dip(mean, logvar, 1.0, 10.0, "ii")
        )
        self.assertAlmostEqual(float(total) / want, 1.0, places=5)
        for grad in grads:
            self.assertTrue(np.all(np.isfinite(grad.numpy())))
            self.assertGreater(np.abs(grad.numpy()).sum(), 0.0)


if __name__ == "__main__":
    unittest.main()
