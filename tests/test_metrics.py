"""Known-answer tests for the metric scorers and samplers (docs/metrics.md)."""

import unittest
import warnings

import numpy as np
from sklearn.metrics import mutual_info_score

from bvae_tf import metrics
from bvae_tf.config import EvalSpec
from bvae_tf.data.dsprites import FACTOR_SIZES, NUM_IMAGES, DSprites
from bvae_tf.metrics import utils
from bvae_tf.metrics.dci import disentanglement_completeness
from bvae_tf.metrics.downstream import SHORT, TRAIN_SIZES, DownstreamOptions
from bvae_tf.metrics.fairness import FairnessOptions
from bvae_tf.metrics.modularity import modularity_per_latent

SIZES = np.array(FACTOR_SIZES)
ROTATION = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0]
# Noise fixed per image, as an encoder's output is: the same image always gets the same code.
NOISE = np.random.default_rng(1).normal(size=(NUM_IMAGES, 5))


# Small sizes keep the suite fast; the numbers below hold with margin at these sizes.
def sizes(num_train, num_test, num_points_train, num_points_eval, batch_size, num_variance):
    """{sampler: sizes} with these sizes in every sampler that draws them; the families' samples
    as large as the codes' (downstream: its smallest training size, 10 points, only)."""
    flat = dict(
        num_train=num_train,
        num_test=num_test,
        num_points_train=num_points_train,
        num_points_eval=num_points_eval,
        batch_size=batch_size,
        num_variance=num_variance,
        downstream_max_train=10,
        downstream_num_test=num_test,
        fairness_num_train=num_train,
        fairness_points_per_class=10,
    )
    return EvalSpec.create(sizes=flat).sizes


SMALL = sizes(1000, 500, 300, 150, 64, 1000)
NO_DCI = ("mig", "zdiff", "zmin", "modularity", "sap")


def copy(classes):
    return classes.astype(float)


def noise(classes):
    return NOISE[DSprites.classes_to_indices(classes)]


def copy_and_noise(classes):
    return np.concatenate([classes.astype(float), noise(classes)], axis=1)


def rotation(classes):
    return (classes / (SIZES - 1) - 0.5) @ ROTATION


def chosen(names):
    return [metrics.METRICS[name] for name in names]


def sample(fn, names, sizes, seed):
    return metrics.sample(metrics.from_factors(fn), chosen(names), sizes, seed)


def scores(fn, which=NO_DCI, small=SMALL, seed=0, options=None):
    spec = EvalSpec(metrics=tuple(which), sizes=small, seed=seed, options=options or {})
    results, _ = metrics.score(sample(fn, which, small, seed), chosen(which), spec)
    return results


class KnownAnswers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.results = {fn.__name__: scores(fn) for fn in (copy, copy_and_noise, rotation, noise)}

    def test_copy_of_factors_scores_near_the_top(self):
        r = self.results["copy"]
        self.assertEqual(r["zdiff"].score, 1.0)
        self.assertEqual(r["zmin"].score, 1.0)
        self.assertGreater(r["modularity"].modularity, 0.9)
        self.assertGreater(r["modularity"].explicitness, 0.9)
        self.assertEqual(r["zmin"].active_latents, 5)
        # Holding factor k fixed zeroes |Δz| of exactly latent k: the Z-diff matrix is diagonal.
        diff = r["zdiff"].mean_abs_diff
        self.assertEqual(diff.shape, (5, 5))
        np.testing.assert_array_equal(np.diag(diff), 0.0)
        self.assertTrue((diff[~np.eye(5, dtype=bool)] > 0).all())

    def test_mig_of_copy_on_reference_sample(self):
        # The discretization caps MIG: orientation (40 classes) and positions (32) share 20 bins.
        factors = DSprites.sample_factors(10_000, 0)
        self.assertGreaterEqual(metrics.mig(factors.astype(float), factors).score, 0.85)
        self.assertGreaterEqual(metrics.mig(copy_and_noise(factors), factors).score, 0.85)

    def test_noise_latents_keep_scores_high_but_lower_modularity(self):
        r = self.results["copy_and_noise"]
        self.assertEqual(r["zdiff"].score, 1.0)
        self.assertEqual(r["zmin"].score, 1.0)
        self.assertEqual(r["zmin"].active_latents, 10)
        self.assertGreater(r["mig"].score, 0.8)
        # Noise latents carry ~0 information, so their modularity is near 0 by definition.
        self.assertLess(r["modularity"].modularity, self.results["copy"]["modularity"].modularity - 0.1)

    def test_rotation_scores_low(self):
        r = self.results["rotation"]
        self.assertLess(r["mig"].score, 0.3)
        self.assertLess(r["zmin"].score, 0.85)
        self.assertLess(r["modularity"].modularity, 0.8)
        self.assertLess(r["sap"].score, 0.15)
        # Z-diff's linear classifier on |z1 - z2| can partly undo a rotation; still below the copy.
        self.assertLess(r["zdiff"].score, 0.8)

    def test_noise_scores_near_chance(self):
        r = self.results["noise"]
        self.assertLess(r["mig"].score, 0.05)
        self.assertLess(r["zdiff"].score, 0.3)  # chance 0.2
        self.assertLess(r["zmin"].score, 0.3)
        self.assertAlmostEqual(r["modularity"].explicitness, 0.5, delta=0.05)
        self.assertLess(r["sap"].score, 0.05)


class DCI(unittest.TestCase):
    """DCI on shape and scale only: the reference trees on all 5 factors take minutes."""

    @staticmethod
    def dci_of(fn, num=600):
        classes = DSprites.sample_factors(2 * num, 1)
        codes, factors = fn(classes), classes[:, :2]
        return metrics.dci(codes[:num], factors[:num], codes[num:], factors[num:])

    def test_copy_is_disentangled_complete_informative(self):
        r = self.dci_of(lambda c: c[:, :2].astype(float))
        self.assertGreater(r.disentanglement, 0.9)
        self.assertGreater(r.completeness, 0.9)
        self.assertGreater(r.informativeness, 0.99)

    def test_noise_latents_keep_disentanglement(self):
        r = self.dci_of(lambda c: copy_and_noise(c)[:, [0, 1, 5, 6, 7]])
        self.assertGreater(r.disentanglement, 0.9)
        self.assertEqual(r.importance.shape, (5, 2))

    def test_rotation_scores_low(self):
        q = np.linalg.qr(np.random.default_rng(2).normal(size=(2, 2)))[0]
        r = self.dci_of(lambda c: (c[:, :2] / [2.0, 5.0] - 0.5) @ q)
        self.assertLess(r.disentanglement, 0.5)

    def test_numbers_do_not_depend_on_the_threads(self):
        classes = DSprites.sample_factors(450, 2)[:, [1, 0, 2]]  # 6, 3 and 40 classes: uneven fits
        codes = copy_and_noise(DSprites.sample_factors(450, 2))
        args = codes[:300], classes[:300], codes[300:], classes[300:]
        results = [metrics.dci(*args, model="fast", n_jobs=jobs) for jobs in (1, None)]
        for r in results[1:]:
            np.testing.assert_array_equal(r.importance, results[0].importance)
            self.assertEqual(
                (r.disentanglement, r.completeness, r.informativeness),
                (results[0].disentanglement, results[0].completeness, results[0].informativeness),
            )

    def test_d_and_c_of_known_importance(self):
        d, c, _, _ = disentanglement_completeness(np.eye(3))
        self.assertAlmostEqual(d, 1.0, places=6)
        self.assertAlmostEqual(c, 1.0, places=6)
        d, c, _, _ = disentanglement_completeness(np.ones((3, 3)))
        self.assertAlmostEqual(d, 0.0, places=6)
        self.assertAlmostEqual(c, 0.0, places=6)
        d, c, _, _ = disentanglement_completeness(np.zeros((10, 5)))  # constant codes: no latent is used
        self.assertEqual(d, 0.0)  # not -2.2e-16
        self.assertTrue(0.0 <= c < 1e-12)


class AgainstSklearn(unittest.TestCase):
    def test_mi_matrix_and_mig_equal_mutual_info_score(self):
        factors = DSprites.sample_factors(3000, 3)
        codes = np.concatenate([rotation(factors), noise(factors)[:, :2]], axis=1)
        discrete = utils.histogram_discretize(codes)
        expected = np.array([[mutual_info_score(z, y) for y in factors.T] for z in discrete.T])
        result = metrics.mig(codes, factors)
        np.testing.assert_allclose(result.mutual_info, expected, atol=1e-12)
        top = np.sort(expected, axis=0)
        entropy = np.array([mutual_info_score(y, y) for y in factors.T])
        self.assertAlmostEqual(result.score, np.mean((top[-1] - top[-2]) / entropy), places=12)

    def test_discretization_uses_20_equal_bins_per_latent(self):
        codes = np.array([[0.0, 5.0], [1.0, 5.0], [0.5, 5.0], [0.96, 5.0]])
        np.testing.assert_array_equal(utils.histogram_discretize(codes)[:, 0], [0, 19, 10, 19])
        self.assertEqual(len(np.unique(utils.histogram_discretize(codes)[:, 1])), 1)

    def test_modularity_formula(self):
        m = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
        np.testing.assert_allclose(modularity_per_latent(m), [1.0, 0.5, 0.0])


class Collapsed(unittest.TestCase):
    """β=50 collapses most latents: every metric stays finite and counts the active ones."""

    def assert_finite(self, results, small, predictors="logistic_regression,gbt"):
        sizes_run = [n for n in TRAIN_SIZES if n <= small["downstream"].downstream_max_train]
        run = [f"{SHORT[p]}_{n}_" for p in predictors.split(",") for n in sizes_run]
        for name, result in results.items():
            for key, value in result.scalars().items():
                if name == "downstream" and not key.startswith(tuple(run)):
                    self.assertTrue(np.isnan(value), key)  # a predictor or size not run
                    continue
                self.assertTrue(np.isfinite(value), f"{name}.{key} = {value}")
            for key, (array, _) in result.matrices().items():
                self.assertTrue(np.isfinite(array).all(), f"{name}.{key}")

    def test_one_constant_latent(self):
        fn = lambda c: np.concatenate([copy(c), np.full((len(c), 1), 0.3)], axis=1)  # noqa: E731
        small = sizes(300, 150, 60, 30, 16, 300)
        # The families with logistic regression here (seconds); test_all_collapsed keeps their gbt.
        linear = {
            "downstream": DownstreamOptions("logistic_regression"),
            "fairness": FairnessOptions("logistic_regression"),
        }
        results = scores(fn, metrics.METRICS, small, options=linear)
        self.assert_finite(results, small, "logistic_regression")
        self.assertEqual(results["mig"].active_latents, 5)
        self.assertEqual(results["zmin"].active_latents, 5)
        self.assertEqual(results["zmin"].score, 1.0)

    def test_all_collapsed(self):
        fn = lambda c: np.full((len(c), 4), 0.01) + 1e-4 * c[:, :4]  # noqa: E731  std < 0.05
        small = sizes(300, 150, 60, 30, 16, 300)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = scores(fn, metrics.METRICS, small)
        self.assert_finite(results, small)
        self.assertEqual(results["zmin"].score, 0.0)
        self.assertEqual(results["zmin"].active_latents, 0)
        self.assertEqual(results["mig"].active_latents, 0)
        self.assertTrue(any("no active latent" in str(w.message) for w in caught))


class Sampling(unittest.TestCase):
    def test_same_seed_same_numbers_and_each_image_encoded_once(self):
        calls = []

        def fn(classes):
            calls.append(DSprites.classes_to_indices(classes))
            return copy_and_noise(classes)

        small = sizes(200, 100, 50, 25, 16, 200)
        a = sample(fn, metrics.METRICS, small, seed=5)
        b = sample(fn, metrics.METRICS, small, seed=5)
        self.assertEqual(len(calls), 2)  # one encoding pass per evaluation
        self.assertEqual(len(np.unique(calls[0])), len(calls[0]))  # no image twice
        drawn = np.concatenate([DSprites.classes_to_indices(f.reshape(-1, 5)) for f in a.factors.values()])
        self.assertEqual(set(calls[0]), set(drawn))  # every drawn image, and only those
        self.assertEqual((a.num_drawn, a.num_distinct), (len(drawn), len(calls[0])))
        self.assertLess(a.num_distinct, a.num_drawn)  # a few images are drawn twice at these sizes
        for key in a.codes:
            np.testing.assert_array_equal(a.codes[key], b.codes[key])
        c = sample(fn, metrics.METRICS, small, seed=6)
        self.assertFalse(np.array_equal(a.factors["train"], c.factors["train"]))

    def test_a_metric_does_not_depend_on_the_others_requested(self):
        small = sizes(200, 100, 50, 25, 16, 200)
        alone = scores(copy_and_noise, ("mig",), small)["mig"].score
        together = scores(copy_and_noise, ("mig", "zmin"), small)["mig"].score
        self.assertEqual(alone, together)

    def test_batches_share_exactly_the_chosen_factor(self):
        factors, labels = metrics.METRICS["zdiff"].sampler.draw(SMALL["zdiff"], 0, DSprites())
        zmin_factors, zmin_labels = metrics.METRICS["zmin"].sampler.draw(SMALL["zmin"], 0, DSprites())
        first, second, k = factors["zdiff_train_1"], factors["zdiff_train_2"], labels["zdiff_train"]
        for p in range(20):
            np.testing.assert_array_equal(first[p, :, k[p]], second[p, :, k[p]])
            batch = zmin_factors["zmin_train"][p]
            self.assertEqual(len(np.unique(batch[:, zmin_labels["zmin_train"][p]])), 1)

    def test_gathered_codes_match_their_factors(self):
        s = sample(copy, ("zdiff", "mig"), sizes(100, 50, 20, 10, 8, 100), 1)
        for key in s.factors:
            np.testing.assert_array_equal(s.codes[key], s.factors[key])

    def test_from_images_pads_batches_and_renders_ahead_without_changing_codes(self):
        calls = []

        def encode(images):  # a code per image: its lit-pixel count and a checksum of its pixels
            calls.append(len(images))
            flat = images.reshape(len(images), -1)
            return np.stack([flat.sum(1), flat @ np.arange(flat.shape[1], dtype=np.float32) % 997], axis=1)

        indices = np.random.default_rng(0).choice(NUM_IMAGES, 1000, replace=False)
        represent = metrics.from_images(encode, batch_size=64)  # chunks of 8 x 64: two rendered ahead
        codes = represent(indices)
        self.assertEqual(codes.dtype, np.float64)
        self.assertEqual(calls, [64] * 16)  # the last batch (40 images) is padded to 64
        expected = encode(DSprites().images(DSprites.indices_to_classes(indices))[..., None].astype(np.float32))
        np.testing.assert_array_equal(codes, expected)
        serial = metrics.sampling.ImageRepresentation(encode, batch_size=64, render_ahead=False)
        np.testing.assert_array_equal(serial(indices), codes)
        chunks = list(represent.stream(indices))
        self.assertEqual([(a, b) for a, b, _ in chunks], [(0, 512), (512, 1000)])
        self.assertEqual(chunks[0][2].dtype, np.float32)  # the encoder's own output, unconverted

    def test_score_reports_each_metric_on_the_progress(self):
        import io

        from bvae_tf.progress import Progress

        stream = io.StringIO()
        small = sizes(200, 100, 50, 25, 16, 200)
        spec = EvalSpec(metrics=("mig", "sap"), sizes=small)
        samples = sample(copy, ("mig", "sap"), small, 0)
        _, seconds = metrics.score(samples, chosen(("mig", "sap")), spec, Progress(stream=stream, tty=False))
        lines = stream.getvalue().splitlines()
        self.assertEqual(lines[0], "scoring mig (1/2) ...")
        self.assertRegex(lines[1], r"^scoring mig \(1/2\): \d+\.\d s$")
        self.assertEqual(lines[2], "scoring sap (2/2) ...")
        self.assertEqual(set(seconds), {"mig", "sap"})

    def test_scorers_reject_bad_arrays(self):
        codes, factors = np.zeros((10, 3)), np.zeros((10, 5), int)
        with self.assertRaisesRegex(ValueError, "shape"):
            metrics.mig(codes[:, 0], factors)
        with self.assertRaisesRegex(ValueError, "integer"):
            metrics.mig(codes, factors.astype(float))
        with self.assertRaisesRegex(ValueError, "NaN"):
            metrics.mig(np.full((10, 3), np.nan), factors)


class ConstantFactor(unittest.TestCase):
    """A factor constant in the sample (e.g. `evaluate --codes` with a fixed shape) has nothing to
    predict: DCI gives it an importance column of zeros and completeness 0, SAP a gap of 0 (as MIG
    does), both count it in their mean over factors, and its accuracy is that of predicting its one
    value. disentanglement_lib cannot score it (its classifiers raise "1 class")."""

    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(0)
        varying = rng.integers(0, 3, 900)
        cls.factors = np.stack([varying, np.full(900, 2)], axis=1)
        cls.codes = np.stack([varying + 0.1 * rng.normal(size=900), rng.normal(size=900)], axis=1)

    def split(self, factors):
        return self.codes[:600], factors[:600], self.codes[600:], factors[600:]

    def test_dci_known_answer(self):
        both = metrics.dci(*self.split(self.factors), model="fast", n_jobs=1)
        alone = metrics.dci(*self.split(self.factors[:, :1]), model="fast", n_jobs=1)
        np.testing.assert_array_equal(both.importance[:, 1], 0.0)
        np.testing.assert_array_equal(both.importance[:, 0], alone.importance[:, 0])
        self.assertAlmostEqual(both.completeness_per_factor[1], 0.0, places=9)
        self.assertAlmostEqual(both.completeness_per_factor[0], alone.completeness_per_factor[0], places=12)
        self.assertAlmostEqual(both.completeness, alone.completeness / 2, places=12)
        self.assertAlmostEqual(both.informativeness_train, (alone.informativeness_train + 1) / 2, places=12)
        self.assertAlmostEqual(both.informativeness, (alone.informativeness + 1) / 2, places=12)
        self.assertGreater(both.disentanglement, 0.99)  # latent 0 informs the one varying factor only

    def test_dci_constant_in_training_only_and_all_constant(self):
        factors = self.factors.copy()
        factors[600:700, 1] = 0  # varies in the test split only: accuracy of predicting the training value
        result = metrics.dci(*self.split(factors), model="fast", n_jobs=1)
        alone = metrics.dci(*self.split(factors[:, :1]), model="fast", n_jobs=1)
        self.assertAlmostEqual(result.informativeness, (alone.informativeness + 200 / 300) / 2, places=12)
        constant = metrics.dci(*self.split(np.zeros((900, 2), int)), model="fast", n_jobs=1)
        np.testing.assert_array_equal(constant.importance, 0.0)
        self.assertEqual((constant.informativeness, constant.informativeness_train), (1.0, 1.0))
        self.assertAlmostEqual(constant.disentanglement, 0.0, places=9)
        self.assertAlmostEqual(constant.completeness, 0.0, places=9)

    def test_sap_known_answer(self):
        both = metrics.sap(*self.split(self.factors), n_jobs=1)
        alone = metrics.sap(*self.split(self.factors[:, :1]), n_jobs=1)
        np.testing.assert_array_equal(both.score_matrix[:, 1], 1.0)  # predicting its one value is always right
        np.testing.assert_array_equal(both.score_matrix[:, 0], alone.score_matrix[:, 0])
        self.assertAlmostEqual(both.score, alone.score / 2, places=12)  # a gap of 0 for the constant factor

    def test_evaluate_scores_a_constant_factor_without_crashing(self):
        which = ("dci", "sap", "mig")
        spec = EvalSpec.create(metrics=which, sizes=dict(num_train=300, num_test=150), dci_model="fast")
        samples = sample(copy, which, spec.sizes, 0)
        for factors in samples.factors.values():
            factors[..., 0] = 0  # shape held fixed in every sample
        results, _ = metrics.score(samples, chosen(which), spec)
        for name, result in results.items():
            for key, value in result.scalars().items():
                self.assertTrue(np.isfinite(value), f"{name}.{key} = {value}")
        self.assertEqual(results["dci"].importance[:, 0].tolist(), [0.0] * 5)


if __name__ == "__main__":
    unittest.main()
