"""IRS, the unsupervised scores, the downstream task, fairness and UDR: known answers, and equality
with disentanglement_lib's definitions (transcribed in tests/reference_families.py) on the same arrays."""

import contextlib
import io
import itertools
import json
import os
import shutil
import tempfile
import unittest
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from bvae_tf import evaluate
from bvae_tf.data.dsprites import DSprites
from bvae_tf.metrics import from_factors
from bvae_tf.metrics.downstream import downstream_task, fit_predictor
from bvae_tf.metrics.fairness import aggregate, fairness, inter_group_fairness
from bvae_tf.metrics.irs import irs
from bvae_tf.metrics.udr import relative_strength, udr
from bvae_tf.metrics.unsupervised import unsupervised
from tests import reference_families as ref

# One BLAS thread for the reference fixtures' fits too (ours limit themselves): see downstream.one_blas_thread.
LIMITS = None


def setUpModule():
    global LIMITS
    LIMITS = threadpool_limits(limits=1, user_api="blas")


def tearDownModule():
    LIMITS.restore_original_limits()


SIZES = np.array([3, 6, 10, 8, 8])  # small factors (<= 20 classes: the discretizer keeps them apart)
ROTATION = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0]


def draw_factors(num, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, num) for s in SIZES], axis=1)


def rotated(factors):
    return (factors / (SIZES - 1) - 0.5) @ ROTATION


class ToyData:
    """A ground-truth dataset with disentanglement_lib's protocol: the observation of a factor
    vector is the vector itself (as the reference's IdentityObservationsData)."""

    factors_num_values = [3, 4, 5]
    num_factors = 3

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factors_num_values], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        return factors.astype(np.float64)

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)


class IRS(unittest.TestCase):
    def setUp(self):
        self.factors = draw_factors(2000, 0)

    def test_copy_scores_one_on_its_diagonal(self):
        r = irs(self.factors.astype(float), self.factors)
        self.assertAlmostEqual(r.irs, 1.0, places=12)
        np.testing.assert_allclose(np.diag(r.irs_matrix), 1.0)
        np.testing.assert_allclose(r.disentanglement_scores, 1.0)
        np.testing.assert_allclose(r.max_deviation, np.abs(self.factors - self.factors.mean(axis=0)).max(axis=0))
        self.assertEqual(r.num_active_dims, 5)
        self.assertEqual(r.irs_matrix.shape, (5, 5))

    def test_noise_and_rotation_score_lower(self):
        noise = np.random.default_rng(1).uniform(size=(2000, 5))  # 99th pct of |u - 1/2| ~ its max
        self.assertLess(irs(noise, self.factors).irs, 0.05)
        rotation = irs(rotated(self.factors), self.factors).irs
        self.assertLess(rotation, 0.6)
        self.assertGreater(rotation, irs(noise, self.factors).irs)

    def test_constant_latent_is_dropped_and_all_constant_scores_zero(self):
        codes = np.concatenate([self.factors[:, :3].astype(float), np.full((2000, 1), 7.0)], axis=1)
        r = irs(codes, self.factors)
        alone = irs(codes[:, :3], self.factors)
        self.assertEqual(r.num_active_dims, 3)
        self.assertAlmostEqual(r.irs, alone.irs, places=12)
        self.assertEqual(r.disentanglement_scores[3], 0.0)
        self.assertEqual(r.max_deviation[3], 0.0)
        np.testing.assert_array_equal(r.irs_matrix[3], 0.0)
        zero = irs(np.zeros((2000, 4)), self.factors)
        self.assertEqual((zero.irs, zero.num_active_dims), (0.0, 0))

    def test_equals_reference_including_merged_bins(self):
        rng = np.random.default_rng(2)
        factors = np.stack([rng.integers(0, s, 600) for s in (3, 6, 40, 32, 32)], axis=1)  # dSprites sizes
        codes = np.concatenate([factors[:, :3] + rng.normal(size=(600, 3)), rng.normal(size=(600, 2))], axis=1)
        codes[:, 1] = 0.5  # dropped
        for q in (0.99, 1.0, 0.5):
            r = irs(codes, factors, diff_quantile=q)
            avg, kept, scores, matrix = ref.irs(codes.T, factors.T, q)
            self.assertAlmostEqual(r.irs, avg, places=12)
            self.assertEqual(r.num_active_dims, kept)
            active = np.arange(5) != 1
            np.testing.assert_allclose(r.disentanglement_scores[active], scores, rtol=1e-12)
            np.testing.assert_allclose(r.irs_matrix[active], matrix, rtol=1e-12)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "diff_quantile"):
            irs(self.factors.astype(float), self.factors, diff_quantile=99)
        with self.assertRaisesRegex(ValueError, "factors must be a 2-D array"):
            irs(np.zeros((10, 2)), self.factors)
        with self.assertRaisesRegex(ValueError, "codes must be a non-empty 2-D"):
            irs(np.zeros(10), self.factors[:10])


class Unsupervised(unittest.TestCase):
    def test_known_correlation(self):
        # Codes with sample covariance exactly [[1, rho], [rho, 1]]: TC = -log(1 - rho^2) / 2 and
        # W = 2 tr - 2 tr(sqrtm(cov)) = 4 - 2 (sqrt(1 + rho) + sqrt(1 - rho)).
        rho = 0.6
        white = np.random.default_rng(3).normal(size=(5000, 2))
        white -= white.mean(axis=0)
        white = white @ np.linalg.inv(np.linalg.cholesky(np.cov(white.T))).T
        codes = white @ np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]])).T
        r = unsupervised(codes)
        self.assertAlmostEqual(r.gaussian_total_correlation, -0.5 * np.log(1 - rho**2), places=10)
        w = 4 - 2 * (np.sqrt(1 + rho) + np.sqrt(1 - rho))
        self.assertAlmostEqual(r.gaussian_wasserstein_correlation, w, places=10)
        self.assertAlmostEqual(r.gaussian_wasserstein_correlation_norm, w / 2, places=10)
        np.testing.assert_allclose(r.covariance, [[1, rho], [rho, 1]], atol=1e-12)
        self.assertGreater(r.mutual_info_score, 0.1)

    def test_independent_codes_score_near_zero_and_a_rotation_higher(self):
        codes = np.random.default_rng(4).normal(size=(10_000, 4)) * [1.0, 2.0, 0.5, 3.0]
        r = unsupervised(codes)
        self.assertLess(abs(r.gaussian_total_correlation), 1e-3)
        self.assertLess(abs(r.gaussian_wasserstein_correlation_norm), 1e-3)
        self.assertLess(r.mutual_info_score, 0.02)
        self.assertEqual(r.mutual_info.shape, (4, 4))
        np.testing.assert_array_equal(np.diag(r.mutual_info), 0.0)
        np.testing.assert_allclose(r.mutual_info, r.mutual_info.T)
        mixed = unsupervised(codes @ ROTATION[:4, :4])
        self.assertGreater(mixed.gaussian_total_correlation, 0.1)
        self.assertGreater(mixed.mutual_info_score, 10 * r.mutual_info_score)

    def test_constant_latent_adds_nothing_to_the_gaussian_scores(self):
        codes = np.random.default_rng(5).normal(size=(1000, 3)) @ ROTATION[:3, :3]
        with_constant = unsupervised(np.concatenate([codes, np.full((1000, 1), 2.0)], axis=1))
        alone = unsupervised(codes)
        for name in ("gaussian_total_correlation", "gaussian_wasserstein_correlation"):
            self.assertAlmostEqual(getattr(with_constant, name), getattr(alone, name), places=10)
        self.assertAlmostEqual(
            with_constant.gaussian_wasserstein_correlation_norm, alone.gaussian_wasserstein_correlation_norm, places=10
        )
        # MI averages over all ordered pairs, the constant latent's (MI 0) included: 6 of 12.
        self.assertAlmostEqual(with_constant.mutual_info_score, alone.mutual_info_score * 6 / 12, places=12)
        one = unsupervised(codes[:, :1])
        self.assertEqual((one.gaussian_total_correlation, one.mutual_info_score), (0.0, 0.0))
        self.assertAlmostEqual(one.gaussian_wasserstein_correlation, 0.0, places=12)

    def test_equals_reference(self):
        rng = np.random.default_rng(6)
        codes = rng.normal(size=(3000, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6)
        r = unsupervised(codes)
        expected = ref.unsupervised(codes.T)
        for name in (
            "gaussian_total_correlation",
            "gaussian_wasserstein_correlation",
            "gaussian_wasserstein_correlation_norm",
            "mutual_info_score",
        ):
            self.assertAlmostEqual(getattr(r, name), expected[name], places=9, msg=name)
        np.testing.assert_allclose(r.mutual_info, expected["mutual_info"], rtol=1e-12, atol=1e-15)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "at least 2 rows"):
            unsupervised(np.zeros((1, 3)))
        with self.assertRaisesRegex(ValueError, "NaN"):
            unsupervised(np.full((4, 2), np.nan))


class Downstream(unittest.TestCase):
    def setUp(self):
        self.train, self.test = draw_factors(200, 7)[:, :3], draw_factors(200, 8)[:, :3]

    def test_copy_is_predicted_and_noise_is_not(self):
        for predictor in ("logistic_regression", "gbt"):
            r = downstream_task(self.train.astype(float), self.train, self.test.astype(float), self.test, predictor)
            self.assertGreater(r.min_test_accuracy, 0.95, predictor)
            self.assertEqual(r.test_accuracy.shape, (3,))
            self.assertAlmostEqual(r.mean_test_accuracy, r.test_accuracy.mean())
            self.assertEqual(r.min_train_accuracy, r.train_accuracy.min())
        rng = np.random.default_rng(9)
        r = downstream_task(rng.normal(size=(200, 3)), self.train, rng.normal(size=(200, 3)), self.test)
        chance = 1 / SIZES[:3]
        self.assertTrue((r.test_accuracy < chance + 0.2).all(), r.test_accuracy)

    def test_equals_reference(self):
        rng = np.random.default_rng(10)
        x_train = rotated(draw_factors(120, 11))[:, :4] + 0.1 * rng.normal(size=(120, 4))
        y_train = draw_factors(120, 11)[:, :2]
        x_test, y_test = rotated(draw_factors(100, 12))[:, :4], draw_factors(100, 12)[:, :2]
        for predictor in ("logistic_regression", "gbt"):
            r = downstream_task(x_train, y_train, x_test, y_test, predictor, seed=3)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                train, test = ref.downstream(x_train.T, y_train.T, x_test.T, y_test.T, predictor, 3)
            np.testing.assert_array_equal(r.train_accuracy, train)
            np.testing.assert_array_equal(r.test_accuracy, test)

    def test_ten_points_rare_classes_equal_reference(self):
        # Classes with one member, and training folds (KFold, unshuffled) that miss classes: as the reference.
        x, y = (
            np.random.default_rng(13).normal(size=(10, 3)),
            np.array([[0], [1], [2], [3], [4], [0], [0], [0], [1], [1]]),
        )
        r = downstream_task(x, y, x, y, "logistic_regression")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train, _ = ref.downstream(x.T, y.T, x.T, y.T, "logistic_regression", 0)
        np.testing.assert_array_equal(r.train_accuracy, train)

    def test_one_class_predicts_it_and_fewer_points_than_folds_use_one_fold_each(self):
        x = np.random.default_rng(14).normal(size=(10, 2))
        y_train = np.stack([np.full(10, 2), np.arange(10) % 2], axis=1)  # factor 0 constant
        y_test = np.array([[2, 0], [2, 1], [1, 0], [0, 1]])
        for predictor in ("logistic_regression", "gbt"):
            r = downstream_task(x, y_train, x[:4], y_test, predictor)
            self.assertEqual(r.train_accuracy[0], 1.0)
            self.assertEqual(r.test_accuracy[0], 0.5)  # two of the four test points are class 2
        three = fit_predictor("logistic_regression", x[:3], np.array([0, 1, 0]), 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = LogisticRegressionCV(Cs=10, cv=KFold(3)).fit(x[:3], [0, 1, 0])  # leave-one-out
        np.testing.assert_allclose(three.coef_, expected.coef_)
        single = downstream_task(x[:1], [[1]], x[:2], [[1], [0]], "gbt")
        self.assertEqual((single.mean_train_accuracy, single.mean_test_accuracy), (1.0, 0.5))

    def test_errors(self):
        x = np.zeros((5, 2))
        with self.assertRaisesRegex(ValueError, "unknown predictor 'svm'; choose from logistic_regression, gbt"):
            downstream_task(x, np.zeros((5, 1), int), x, np.zeros((5, 1), int), predictor="svm")
        with self.assertRaisesRegex(ValueError, "same number of latents"):
            downstream_task(x, np.zeros((5, 1), int), np.zeros((5, 3)), np.zeros((5, 1), int))
        with self.assertRaisesRegex(ValueError, "train_factors must be a 2-D array"):
            downstream_task(x, np.zeros((4, 1), int), x, np.zeros((5, 1), int))


class Fairness(unittest.TestCase):
    def test_inter_group_fairness_known_answer(self):
        mean, worst = inter_group_fairness(np.array([[0, 100], [100, 100]]))
        # Overall 1/3, 2/3; group 0: 0, 1 (TV 1/3); group 1: 1/2, 1/2 (TV 1/6); weights 1/3, 2/3.
        self.assertAlmostEqual(mean, 2 / 9, places=15)
        self.assertAlmostEqual(worst, 1 / 3, places=15)
        self.assertEqual(inter_group_fairness(np.array([[5, 5], [3, 3]])), (0.0, 0.0))
        counts = np.random.default_rng(15).integers(0, 50, size=(4, 6))
        np.testing.assert_allclose(inter_group_fairness(counts), ref.inter_group_fairness(counts), atol=1e-6)

    def test_aggregate_known_answer(self):
        scores = aggregate(np.array([[0.0, 2.0, 4.0], [4.0, 0.0, 8.0], [2.0, 10.0, 0.0]]), "t")
        expected = {
            "mean_pred_mean_sens": 5.0,
            "mean_pred_max_sens": 22 / 3,
            "max_pred_mean_sens": 6.0,
            "max_pred_max_sens": 10.0,
            "mean_sens_mean_pred": 5.0,
            "mean_sens_max_pred": 22 / 3,
            "max_sens_mean_pred": 6.0,
            "max_sens_max_pred": 10.0,
        }
        self.assertEqual(scores.keys(), {f"t_{k}" for k in expected})
        for name, value in expected.items():
            self.assertAlmostEqual(scores[f"t_{name}"], value, places=12, msg=name)
        rows_differ = aggregate(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "t")
        self.assertAlmostEqual(rows_differ["t_max_pred_mean_sens"], 0.5)  # row 0: mean of 1, 0
        self.assertAlmostEqual(rows_differ["t_max_sens_mean_pred"], 0.5)  # column 1: mean of 1, 0

    def test_a_factor_the_codes_ignore_is_exactly_fair_as_sensitive(self):
        # The codes hold factors 0 and 1 only: intervening on factor 2 changes no code, hence no prediction.
        r = fairness(ToyData(), lambda obs: obs[:, :2], 0, num_train=200, num_test_points_per_class=20, batch_size=64)
        np.testing.assert_array_equal(r.mean_fairness[:, 2], 0.0)
        np.testing.assert_array_equal(r.max_fairness[:, 2], 0.0)
        self.assertEqual(r.mean_fairness.shape, (3, 3))
        np.testing.assert_array_equal(np.diag(r.mean_fairness), 0.0)
        self.assertTrue((r.max_fairness >= r.mean_fairness).all())
        self.assertTrue(0 <= r.mean_fairness_mean_pred_mean_sens <= r.max_fairness_max_pred_max_sens <= 1)

    def test_entangled_codes_are_unfair_and_a_copy_fair(self):
        def entangled(obs):  # factor 0 only through its sum with factor 1
            return np.stack([obs[:, 0] + obs[:, 1], obs[:, 2]], axis=1)

        kwargs = dict(num_train=300, num_test_points_per_class=30, batch_size=100, predictor="gbt")
        unfair = fairness(ToyData(), entangled, 1, **kwargs)
        fair = fairness(ToyData(), lambda obs: obs, 1, **kwargs)
        self.assertGreater(unfair.mean_fairness[0, 1], 0.15)
        self.assertLess(fair.mean_fairness_mean_pred_mean_sens, 0.02)
        self.assertGreater(unfair.mean_fairness_mean_pred_mean_sens, 5 * fair.mean_fairness_mean_pred_mean_sens)

    def test_equals_reference(self):
        def representation(obs):
            return obs @ ROTATION[:3, :3] + 0.3 * np.sin(7 * obs)

        # One predictor: both come from the same `fit_predictor`, equal to the reference's in
        # Downstream.test_equals_reference; this checks the draws, interventions and counting.
        for predictor in ("logistic_regression",):
            r = fairness(ToyData(), representation, np.random.RandomState(4), 100, 15, 16, predictor, seed=2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mean_tv, max_tv = ref.fairness(
                    ToyData(), representation, np.random.RandomState(4), 100, 15, 16, predictor, 2
                )
            np.testing.assert_allclose(r.mean_fairness, mean_tv, atol=1e-6)
            np.testing.assert_allclose(r.max_fairness, max_tv, atol=1e-6)
            self.assertGreater(mean_tv.max(), 0.05)  # not a trivially fair case

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown predictor"):
            fairness(ToyData(), lambda obs: obs, 0, predictor="forest")
        with self.assertRaisesRegex(ValueError, "num_test_points_per_class must be a positive integer"):
            fairness(ToyData(), lambda obs: obs, 0, num_test_points_per_class=0)


class UDR(unittest.TestCase):
    def setUp(self):
        self.codes = np.random.default_rng(16).normal(size=(1000, 5))
        self.kl = np.ones(5)

    def test_identical_and_permuted_models(self):
        # A full factorial design: distinct latents have exactly zero (rank) correlation, so the
        # strength matrix of a model against a permuted, sign-flipped copy is a permutation matrix:
        # ones for Spearman; 1 - alpha = 0.9 for Lasso on standardized codes (soft-thresholded OLS).
        grid = np.array(list(itertools.product(range(5), repeat=4)), dtype=float)
        flipped = -grid[:, [3, 0, 1, 2]]
        spearman = udr([grid, grid, flipped], [np.ones(4)] * 3, "spearman")
        np.testing.assert_allclose(spearman.model_scores, 1.0, rtol=1e-12)
        lasso = udr([grid, grid, flipped], [np.ones(4)] * 3, "lasso")
        np.testing.assert_allclose(lasso.model_scores, 0.9, rtol=1e-6)
        # Random codes: chance correlations add to the sums (the reference's test asks 0.8 to 1).
        for correlation in ("lasso", "spearman"):
            scores = udr([self.codes, -self.codes[:, [3, 0, 4, 1, 2]]], [self.kl] * 2, correlation).model_scores
            self.assertTrue(((scores > 0.85) & (scores < 0.95)).all(), scores)
        lasso = udr([self.codes, self.codes, self.codes], [self.kl] * 3, "lasso")
        self.assertEqual(lasso.pairwise_scores.shape, (3, 3))
        self.assertTrue(np.isnan(np.diag(lasso.pairwise_scores)).all())
        np.testing.assert_array_equal(lasso.active_latents, [5, 5, 5])
        self.assertEqual(lasso.num_models, 3)

    def test_independent_and_mixed_models_score_low(self):
        other = np.random.default_rng(17).normal(size=(1000, 5))
        for correlation in ("lasso", "spearman"):
            self.assertLess(udr([self.codes, other], [self.kl] * 2, correlation).model_scores.max(), 0.1)
            mixed = udr([self.codes, self.codes @ ROTATION], [self.kl] * 2, correlation).model_scores
            self.assertLess(mixed.max(), 0.7, correlation)
            self.assertGreater(mixed.min(), 0.2, correlation)

    def test_low_kl_latents_are_left_out(self):
        noisy = np.concatenate([self.codes, np.random.default_rng(18).normal(size=(1000, 2))], axis=1)
        kl = np.concatenate([self.kl, [0.01, 0.0]])
        for correlation in ("lasso", "spearman"):
            with_noise = udr([noisy, noisy], [kl, kl], correlation)
            alone = udr([self.codes, self.codes], [self.kl, self.kl], correlation)
            np.testing.assert_allclose(with_noise.model_scores, alone.model_scores, rtol=1e-9)
            np.testing.assert_array_equal(with_noise.active_latents, [5, 5])
        dead = udr([self.codes, self.codes, self.codes], [self.kl, np.zeros(5), self.kl], "lasso")
        self.assertEqual(dead.model_scores[1], 0.0)  # no informative latent
        self.assertEqual(dead.pairwise_scores[0, 1], 0.0)
        self.assertAlmostEqual(dead.model_scores[0], (0.0 + 0.9) / 2, delta=0.01)  # median of 0 and ~0.9

    def test_relative_strength(self):
        self.assertEqual(relative_strength(np.eye(3) * 0.5), 0.5)
        # Columns: 1/2 and 0 (no strength); rows: 1 and 1.
        self.assertAlmostEqual(relative_strength(np.array([[1.0, 0.0], [1.0, 0.0]])), (0.25 + 1.0) / 2)
        # A NaN zeroes its row and column: columns 0 and 1/2, rows 0 and 1.
        self.assertEqual(relative_strength(np.array([[np.nan, 1.0], [0.0, 1.0]])), (0.25 + 0.5) / 2)
        self.assertEqual(relative_strength(np.zeros((2, 0))), 0.0)

    def test_equals_reference(self):
        rng = np.random.default_rng(19)
        base = rng.normal(size=(400, 4))
        models = [base, base @ ROTATION[:4, :4] + 0.3 * rng.normal(size=(400, 4)), rng.normal(size=(400, 4)) + base]
        models[2][:, 3] = 1.0  # constant, yet informative by its KL: NaN in Spearman
        kls = [np.array([1.0, 0.5, 0.005, 2.0]), np.array([0.02, 1.0, 1.0, 1.0]), np.ones(4)]
        for correlation in ("lasso", "spearman"):
            r = udr(models, kls, correlation, seed=5)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores, pairwise = ref.udr(models, kls, correlation, 5)
            np.testing.assert_allclose(r.model_scores, scores, rtol=1e-9, atol=1e-12)
            off = ~np.eye(3, dtype=bool)
            np.testing.assert_allclose(r.pairwise_scores[off], pairwise[off], rtol=1e-9, atol=1e-12)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown UDR correlation 'pearson'; choose from lasso, spearman"):
            udr([self.codes, self.codes], [self.kl] * 2, "pearson")
        with self.assertRaisesRegex(ValueError, "at least 2 arrays"):
            udr([self.codes], [self.kl])
        with self.assertRaisesRegex(ValueError, "same shape"):
            udr([self.codes, self.codes[:, :4]], [self.kl] * 2)
        with self.assertRaisesRegex(ValueError, r"kl\[1\] must be 5 finite"):
            udr([self.codes, self.codes], [self.kl, np.ones(4)])
        with self.assertRaisesRegex(ValueError, "kl must be a list of 2"):
            udr([self.codes, self.codes], [self.kl])
        stacked = udr(np.stack([self.codes, -self.codes]), np.ones((2, 5)))
        np.testing.assert_array_equal(stacked.model_scores, udr([self.codes, -self.codes], [self.kl] * 2).model_scores)


if __name__ == "__main__":
    unittest.main()


class RegisteredFamilies(unittest.TestCase):
    """The families as registered metrics: scored by `evaluate` from codes or a representation."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_evaluate_codes_with_irs_and_unsupervised(self):
        factors = DSprites.sample_factors(900, 0)
        codes = factors / (np.array(DSprites().factors_num_values) - 1) + np.random.default_rng(0).normal(
            0, 0.01, factors.shape
        )
        path, out = os.path.join(self.tmp, "codes.npz"), os.path.join(self.tmp, "scores")
        np.savez(path, codes=codes, factors=factors)
        argv = ["--codes", path, "--out", out, "--preset", "fast", "--metrics", "irs,unsupervised"]
        with contextlib.redirect_stdout(io.StringIO()) as printed, contextlib.redirect_stderr(io.StringIO()):
            evaluate.main(argv)
        self.assertRegex(printed.getvalue(), r"gaussian_total_correlation\s+0\.0\d{3}\s+↓\[0, ∞\]")
        with open(os.path.join(out, "metrics.json")) as f:
            report = json.load(f)
        scores = report["scores"]
        self.assertGreater(scores["irs"], 0.9)  # each latent copies one factor
        self.assertEqual(scores["irs_active_dims"], 5)
        self.assertLess(scores["gaussian_total_correlation"], 0.05)  # independent factors
        self.assertLess(scores["unsupervised_mi"], 0.3)  # 20 x 20 bins on 600 points: a bias of about 0.2
        self.assertEqual(set(report["sizes"]), {"num_train", "num_test"})  # only the samplers it scored
        matrix = pd.read_csv(os.path.join(out, "irs_irs_matrix.csv"), index_col=0)
        self.assertEqual(matrix.shape, (5, 5))
        self.assertGreater(matrix.loc["z2", "orientation"], 0.9)
        self.assertEqual(pd.read_csv(os.path.join(out, "unsupervised_mutual_info.csv"), index_col=0).shape, (5, 5))
        self.assertIn("matrices.png", report["files"])  # the IRS matrix view

    def test_downstream_and_fairness_of_the_factors(self):
        sizes = dict(
            downstream_max_train=100, downstream_num_test=300, fairness_num_train=300, fairness_points_per_class=3
        )
        options = {"downstream": {"predictors": "logistic_regression"}, "fairness": {"predictor": "gbt"}}
        copy = from_factors(lambda f: f.astype(np.float64))
        report = evaluate.evaluate_representation(
            copy, metrics=["downstream", "fairness"], preset="fast", sizes=sizes, options=options, seed=1
        )
        scores = report["scores"]
        # A predictor that reads factor i from its own latent ignores the others: the copy is fair.
        self.assertLess(scores["fairness_mean"], 0.02)
        self.assertLessEqual(scores["fairness_mean"], scores["fairness_max"])
        self.assertGreater(
            scores["downstream_lr_100_mean_train_accuracy"], scores["downstream_lr_10_mean_test_accuracy"]
        )
        self.assertTrue(
            0 < scores["downstream_lr_100_min_test_accuracy"] <= scores["downstream_lr_100_mean_test_accuracy"]
        )
        for column in ("downstream_lr_1000_mean_test_accuracy", "downstream_gbt_10_mean_test_accuracy"):
            self.assertTrue(np.isnan(scores[column]), column)  # not run: above the size, or not asked for
        self.assertEqual(report["metric_options"]["fairness"], {"predictor": "gbt"})
        # Its own sample: 10 + 100 training points, 300 test points per size; the interventions.
        values = DSprites().factors_num_values
        intervened = 3 * (len(values) - 1) * sum(values)  # each sensitive factor j: 4 targets, one group per value
        self.assertEqual(report["num_images_drawn"], 110 + 600 + 300 + intervened)
        # An entangled code (every latent mixes the factors) is less fair.
        mixed = evaluate.evaluate_representation(
            from_factors(lambda f: f @ np.random.default_rng(2).normal(size=(5, 5))),
            metrics=["fairness"],
            preset="fast",
            sizes=sizes,
            options=options,
            seed=1,
        )
        self.assertGreater(mixed["scores"]["fairness_mean"], 5 * max(scores["fairness_mean"], 0.01))
