"""bvae_tf.config: one validated settings object per run, evaluation and sweep, built from flags or Python."""

import argparse
import dataclasses
import json
import subprocess
import sys
import unittest

from bvae_tf.config import MODELS, DataConfig, EvalSpec, SweepConfig, TrainConfig
from bvae_tf.errors import UserError
from bvae_tf.metrics.sampling import CODES


class TrainConfigTest(unittest.TestCase):
    def test_defaults_are_the_reports(self):
        config = TrainConfig()
        self.assertEqual(
            (
                config.hyperparameters["beta"],
                config.latent_dim,
                config.learning_rate,
                config.batch_size,
                config.epochs,
                config.seed,
            ),
            (1.0, 10, 1e-3, 32, 10, 0),
        )
        self.assertEqual((config.data.source, config.data.subset, config.data.val_size), (("render",), 50_000, 5_000))
        self.assertEqual(config.run_name, "beta_vae_beta1_seed0")
        self.assertEqual(config.data.folder, "data/dsprites-render-n50000-v5000-s0")

    def test_dict_round_trip_through_json(self):
        config = TrainConfig.from_dict({"beta": 5, "subset": 100, "data_seed": 3, "source": "npz /x/d.npz"})
        self.assertIsInstance(config.hyperparameters["beta"], float)  # beta=5 from Python writes what --beta 5 writes
        self.assertEqual(config.data, DataConfig(("npz", "/x/d.npz"), subset=100, seed=3))
        settings = json.loads(json.dumps(config.to_dict()))
        self.assertEqual(settings["data_seed"], 3)
        self.assertEqual(settings["source"], ["npz", "/x/d.npz"])
        self.assertEqual(TrainConfig.from_dict(settings), config)

    def test_from_args_takes_only_training_flags(self):
        args = argparse.Namespace(beta=2.0, epochs=3, subset=64, betas=[1.0, 2.0], preset="fast", metric_size=[])
        config = TrainConfig.from_args(args)
        self.assertEqual((config.hyperparameters["beta"], config.epochs, config.data.subset), (2.0, 3, 64))

    def test_bad_values_name_their_flag(self):
        cases = [
            (dict(beta=-1), "--beta must be a finite number >= 0"),
            (dict(beta=float("inf")), "--beta"),
            (dict(beta=float("nan")), "--beta"),
            (dict(learning_rate=float("inf")), "--learning-rate must be a finite number, got inf"),
            (dict(batch_size=0), "--batch-size must be positive"),
            (dict(epochs=2.5), "--epochs must be an integer"),
            (dict(latent_dim="ten"), "--latent-dim must be a number"),
            (dict(precision="float8"), "--precision must be one of"),
            (dict(resume=True, overwrite=True), "exclude each other"),
            (dict(name="a/b"), "--name must be a plain folder name"),
            (dict(shard_size=0), "--shard-size must be positive"),
            (dict(source=["npz", "a", "b"]), "--source takes a name and at most one path"),
            (dict(betas=[1]), "unknown training settings: betas"),
        ]
        for values, message in cases:
            with self.subTest(values=values), self.assertRaisesRegex(UserError, message):
                TrainConfig.from_dict(values)

    def test_frozen(self):
        with self.assertRaises(dataclasses.FrozenInstanceError):
            TrainConfig().seed = 2


class EvalSpecTest(unittest.TestCase):
    def test_create_applies_size_overrides_to_the_preset(self):
        spec = EvalSpec.create(["mig", "sap"], "fast", 3, {"num_train": 400, "num_test": None})
        self.assertEqual(spec.sizes_of("codes").num_train, 400)
        self.assertEqual(spec.sizes_of("codes").num_test, CODES.fast.num_test)
        self.assertEqual(spec.size_overrides, {"num_train": 400})
        self.assertEqual((spec.metrics, spec.seed), (("mig", "sap"), 3))
        self.assertEqual(spec.option_values, {"mig": {"num_bins": 20}})  # sap has no options

    def test_each_metric_takes_its_own_options(self):
        spec = EvalSpec.create(["mig", "dci"], options={"dci.model": "fast", "mig": {"num_bins": "30"}})
        self.assertEqual(spec.option_values, {"mig": {"num_bins": 30}, "dci": {"model": "fast"}})
        self.assertEqual(EvalSpec.create(["dci"], dci_model="fast").option_values, {"dci": {"model": "fast"}})
        shared = EvalSpec.create(sizes={"batch_size": 16})  # Z-diff and Z-min both draw batches
        self.assertEqual((shared.sizes_of("zdiff").batch_size, shared.sizes_of("zmin").batch_size), (16, 16))
        self.assertEqual(shared.sizes_of("codes"), CODES.sizes)

    def test_metric_aliases(self):
        spec = EvalSpec.create(["beta_vae_score", "factor_vae", "zdiff"])
        self.assertEqual(spec.metrics, ("zdiff", "zmin"))

    def test_default_is_every_metric_at_reference_sizes(self):
        spec = EvalSpec()
        self.assertEqual(spec.metrics, ("mig", "zdiff", "zmin", "modularity", "dci", "sap"))
        self.assertEqual(spec.sizes_of("codes"), CODES.sizes)
        self.assertEqual(
            spec.flat_sizes,
            dict(
                num_train=10_000,
                num_test=5_000,
                num_points_train=10_000,
                num_points_eval=5_000,
                batch_size=64,
                num_variance=10_000,
                downstream_max_train=10_000,
                downstream_num_test=5_000,
                fairness_num_train=10_000,
                fairness_points_per_class=100,
            ),
        )

    def test_bad_values(self):
        for kwargs, message in [
            (dict(metrics=["mig", "bogus"]), "unknown metric"),
            (dict(metrics=[]), "none given"),
            (dict(preset="huge"), "unknown preset"),
            (dict(dci_model="xgb"), "dci: model must be one of reference, fast"),
            (dict(options={"sap.x": 1}), "sap has no option x"),
            (dict(options={"mig.num_bins": "many"}), "mig.num_bins must be a number"),
            (dict(sizes={"num_train": 1}), "num_train must be an integer >= 2"),
            (dict(sizes={"num_trian": 5}), "unknown size num_trian"),
        ]:
            with self.subTest(kwargs=kwargs), self.assertRaisesRegex(UserError, message):
                EvalSpec.create(**kwargs)


def beta_grid(*betas):
    return [("beta_vae", beta) for beta in betas]


class SweepConfigTest(unittest.TestCase):
    def test_identity_leaves_out_per_trial_and_presentation_settings(self):
        sweep = SweepConfig(
            beta_grid(1, 5) + [("factor_vae", 30)], seeds=[0, 1], training=TrainConfig(epochs=2, verbose=2)
        )
        identity = sweep.to_dict()
        self.assertEqual(identity["settings"], [["beta_vae", 1.0], ["beta_vae", 5.0], ["factor_vae", 30.0]])
        self.assertEqual((identity["seeds"], identity["version"]), ([0, 1], 1))
        self.assertEqual(identity["training"]["epochs"], 2)
        for key in ("model", "beta", "gamma", "seed", "name", "runs_dir", "resume", "verbose"):
            self.assertNotIn(key, identity["training"])
        quiet = SweepConfig(sweep.settings, seeds=[0, 1], training=TrainConfig(epochs=2, verbose=0))
        self.assertEqual(quiet.to_dict(), identity)
        trial = sweep.trial("factor_vae", 30.0, 1, "r", "s")
        self.assertEqual(
            (trial.model, trial.hyperparameters, trial.seed, trial.resume, trial.runs_dir, trial.epochs),
            ("factor_vae", {"gamma": 30.0}, 1, True, "r", 2),
        )
        self.assertEqual(trial.run_name, "factor_vae_gamma30_seed1")
        self.assertEqual(sweep.trial("beta_vae", 5.0, 0, "r", "s").run_name, "beta_vae_beta5_seed0")

    def test_sweep_json_of_an_older_version_still_matches(self):
        sweep = SweepConfig(beta_grid(1, 5), seeds=[0], training=TrainConfig(epochs=2))
        identity = json.loads(json.dumps(sweep.to_dict()))
        older = json.loads(json.dumps(identity))
        for added_since in ("steps_per_execution", "jit_compile"):  # not in a sweep.json of before they existed
            del older["training"][added_since]
        self.assertNotEqual(older, identity)
        self.assertEqual(SweepConfig.upgrade(older), identity)
        older["training"]["epochs"] = 3  # a setting it had keeps its value, so the difference shows
        self.assertEqual(SweepConfig.upgrade(older)["training"]["epochs"], 3)

    def test_a_learning_rate_per_model(self):
        settings = [("beta_vae", 4.0), ("annealed_vae", 25.0)]
        plain = SweepConfig(settings, training=TrainConfig(epochs=2))
        rated = SweepConfig(settings, training=TrainConfig(epochs=2), learning_rates={"annealed_vae": 1e-4})
        self.assertEqual(rated.trial("annealed_vae", 25.0, 0, "r", "s").learning_rate, 1e-4)
        self.assertEqual(rated.trial("beta_vae", 4.0, 0, "r", "s").learning_rate, 1e-3)
        self.assertNotIn("learning_rates", plain.to_dict())  # a sweep.json of before still matches
        self.assertEqual(rated.to_dict()["learning_rates"], {"annealed_vae": 1e-4})
        with self.assertRaisesRegex(UserError, "learning rate of annealed_vae must be a positive number"):
            SweepConfig(settings, learning_rates={"annealed_vae": 0})

    def test_sweep_json_with_the_older_dci_model_key_still_matches(self):
        sweep = SweepConfig(beta_grid(1), evaluation=EvalSpec.create(["mig", "dci"], "fast", dci_model="fast"))
        identity = json.loads(json.dumps(sweep.to_dict()))
        older = {k: v for k, v in identity.items() if k != "metric_options"}
        older["dci_model"] = "fast"  # how sweep.json named DCI's one option before metrics held their own
        self.assertEqual(SweepConfig.upgrade(older), identity)
        older["dci_model"] = "reference"
        self.assertNotEqual(SweepConfig.upgrade(older), identity)

    def test_bad_grids(self):
        for kwargs, message in [
            (dict(settings=beta_grid(1, float("nan"))), "--betas must be finite"),
            (dict(settings=beta_grid(1, float("inf"))), "finite"),
            (dict(settings=[("factor_vae", -1)]), "--values must be finite numbers >= 0"),
            (dict(settings=beta_grid(1, 1)), "give the same trial"),
            (dict(settings=beta_grid(1, 1.0000001)), "give the same trial"),
            (dict(settings=[("gan", 1)]), "--model must be one of"),
            (dict(seeds=[]), "at least one"),
            (dict(seeds=[1, 1]), "must not repeat"),
            (dict(evaluation=EvalSpec.create(["zdiff"])), "must include mig"),
        ]:
            with self.subTest(kwargs=kwargs), self.assertRaisesRegex(UserError, message):
                SweepConfig(**kwargs)


class ModelSettingsTest(unittest.TestCase):
    def test_each_model_takes_its_own_hyperparameters_with_defaults(self):
        self.assertEqual(TrainConfig().hyperparameters, {"beta": 1.0})
        self.assertEqual(TrainConfig.from_dict(model="beta_tcvae").hyperparameters, {"beta": 6.0})
        self.assertEqual(
            TrainConfig.from_dict(model="annealed_vae", c_max=10).hyperparameters,
            {"c_max": 10.0, "gamma": 1000.0, "iteration_threshold": None},
        )
        self.assertEqual(
            TrainConfig.from_dict(model="dip_vae_i").hyperparameters, {"lambda_od": 5.0, "lambda_d_factor": 10.0}
        )
        self.assertEqual(
            TrainConfig.from_dict(model="dip_vae_ii").hyperparameters, {"lambda_od": 5.0, "lambda_d_factor": 1.0}
        )
        self.assertEqual(TrainConfig.from_dict(model="factor_vae").run_name, "factor_vae_gamma30_seed0")
        self.assertEqual(
            set(MODELS), {"beta_vae", "annealed_vae", "factor_vae", "dip_vae_i", "dip_vae_ii", "beta_tcvae"}
        )

    def test_foreign_or_bad_hyperparameters(self):
        for values, message in [
            (dict(model="factor_vae", beta=4), "--beta does not apply to --model factor_vae"),
            (dict(model="beta_vae", lambda_od=1), "--lambda-od does not apply"),
            (dict(model="annealed_vae", iteration_threshold=0), "--iteration-threshold must be"),
            (dict(model="dip_vae_i", lambda_od=-1), "--lambda-od must be a finite number"),
            (dict(model="factor_vae", gamma=float("inf")), "--gamma must be a finite"),
            (dict(model="vae"), "--model must be one of"),
        ]:
            with self.subTest(values=values), self.assertRaisesRegex(UserError, message):
                TrainConfig.from_dict(values)


class ImportTest(unittest.TestCase):
    def test_scorers_and_settings_import_without_tensorflow(self):
        code = (
            "import sys, bvae_tf.metrics, bvae_tf.config, bvae_tf.layout, bvae_tf.images; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])


if __name__ == "__main__":
    unittest.main()
