"""bvae_tf.model_registry: a model declared once reaches train's flags, the settings, the sweep
grid and the report's labels; every model's Keras config round-trips."""

import unittest

import numpy as np
import tensorflow as tf

from bvae_tf import model_registry, report, sweep, train
from bvae_tf.config import SweepConfig, TrainConfig
from bvae_tf.errors import UserError
from bvae_tf.model_registry import MODELS
from bvae_tf.zoo import make_model
from tests import toy_model


class ToyModelTest(unittest.TestCase):
    def setUp(self):
        model_registry.register(toy_model.SPEC)  # the one place a new model is registered
        self.addCleanup(model_registry.unregister, "sparse_vae")

    def test_flag_default_and_checks_follow(self):
        parser = train.build_parser()
        args = parser.parse_args(["--model", "sparse_vae", "--sparsity", "2"])
        self.assertEqual(TrainConfig.from_args(args).hyperparameters, {"sparsity": 2.0})
        self.assertIn(
            "sparse_vae: weight of the L1 penalty on the means (default 0.5)", " ".join(parser.format_help().split())
        )
        config = TrainConfig.from_dict(model="sparse_vae")
        self.assertEqual(config.hyperparameters, {"sparsity": 0.5})
        self.assertEqual(config.run_name, "sparse_vae_sparsity0.5_seed0")
        with self.assertRaisesRegex(UserError, "--sparsity must be a finite number >= 0"):
            TrainConfig.from_dict(model="sparse_vae", sparsity=-1)
        with self.assertRaisesRegex(UserError, "--sparsity does not apply to --model beta_vae"):
            TrainConfig.from_dict(model="beta_vae", sparsity=1)

    def test_sweep_grid_and_label_follow(self):
        args = sweep.build_parser().parse_args(["--model", "sparse_vae"])
        self.assertEqual(sweep.grid_from_args(args), [("sparse_vae", 0.1), ("sparse_vae", 1.0)])
        trial = SweepConfig(settings=[("sparse_vae", 0.1)]).trial("sparse_vae", 0.1, 3, "runs", "saved")
        self.assertEqual(trial.hyperparameters, {"sparsity": 0.1})
        self.assertEqual(trial.run_name, "sparse_vae_sparsity0.1_seed3")
        self.assertEqual(model_registry.label("sparsity"), "s")
        self.assertEqual(report.setting("sparsity", 0.1), "s=0.1")  # the report's label follows

    def test_builds_and_trains_one_step(self):
        model = make_model("sparse_vae", latent_dim=3, seed=0, sparsity=4.0)
        model.build((None, 64, 64, 1))
        model.compile(optimizer="adam")
        images = np.random.default_rng(0).integers(0, 2, (8, 64, 64, 1)).astype("float32")
        history = model.fit(tf.data.Dataset.from_tensor_slices(images).batch(8), verbose=0, shuffle=False).history
        self.assertTrue(np.isfinite(history["l1"][0]) and history["l1"][0] > 0)
        self.assertEqual(model.hyperparameters(), {"sparsity": 4.0})


class ConfigRoundTripTest(unittest.TestCase):
    def test_every_model_round_trips_through_its_keras_config(self):
        for name, spec in MODELS.items():
            with self.subTest(name):
                values = {h.name: (h.default if h.default is not None else 77) * 2 for h in spec.hyperparameters}
                model = make_model(name, latent_dim=3, seed=5, **values)
                copy = type(model).from_config(model.get_config())
                self.assertIsNot(copy, model)
                self.assertEqual(copy.hyperparameters(), model.hyperparameters())
                self.assertEqual(
                    copy.hyperparameters(),
                    {k: float(v) if k != "iteration_threshold" else v for k, v in values.items()},
                )
                self.assertEqual((copy.latent_dim, copy.seed, copy.model_name), (3, 5, name))

    def test_defaults_come_from_the_declaration(self):
        for name, spec in MODELS.items():
            with self.subTest(name):
                given = {"iteration_threshold": 9} if name == "annealed_vae" else {}
                model = make_model(name, latent_dim=2, **given)
                expected = {**spec.defaults, **given}
                self.assertEqual(model.hyperparameters(), expected)


if __name__ == "__main__":
    unittest.main()
