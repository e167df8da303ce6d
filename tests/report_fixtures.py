"""Small sweep folders for the report tests, built without the sweep module.

``build_sweep``: each trial is a tiny run (one epoch on 64 images, z=4) scored on a few hundred
points, then labelled in ``results.csv`` as whatever model the test needs (the report reads files
only, so the objective a run was really trained with does not matter to it). Slow.

``fake_sweep``: no training at all (seconds): known scores in ``results.csv``, a two-epoch
``history.csv`` per trial and, with ``models=True``, one small untrained SavedModel (a fixed
linear encoder and decoder with the signatures the report calls), its model card and matrices,
copied to every trial.
"""

import json
import os
import shutil
import time

import numpy as np
import pandas as pd

from bvae_tf.layout import ModelFolder, RunFolder, SweepFolder, trial_name
from bvae_tf.metrics import registry

LATENTS = 4

# Metric sample sizes of a few seconds per model (as the sweep tests' TINY flags).
TINY_SIZES = {
    "num_train": 300,
    "num_test": 150,
    "num_points_train": 60,
    "num_points_eval": 40,
    "batch_size": 8,
    "num_variance": 300,
}

# (model, hyperparameter, value, seed): two models, one setting with two seeds.
ZOO_TRIALS = [
    ("beta_vae", "beta", 1.0, 0),
    ("beta_vae", "beta", 4.0, 0),
    ("beta_vae", "beta", 4.0, 1),
    ("beta_tcvae", "beta", 2.0, 0),
]


def build_sweep(sweep_dir, trials, data_dir):
    """Train and score each trial into ``sweep_dir`` (new schema); returns the results table."""
    import keras

    from bvae_tf.config import EvalSpec, TrainConfig
    from bvae_tf.evaluate import evaluate_model, write_report
    from bvae_tf.evaluation_folder import default_out
    from bvae_tf.train import train

    folder = SweepFolder(sweep_dir)
    rows = []
    for trial_id, (model, hyperparameter, value, seed) in enumerate(trials):
        name = trial_name(model, hyperparameter, value, seed)
        start = time.perf_counter()
        run = train(
            TrainConfig.from_dict(
                epochs=1,
                subset=64,
                val_size=32,
                latent_dim=4,
                verbose=0,
                seed=seed,
                beta=value,
                runs_dir=folder.runs,
                saved_models_dir=folder.saved_models,
                data_dir=data_dir,
                name=name,
            )
        )
        train_seconds = time.perf_counter() - start
        spec = EvalSpec.create(preset="fast", sizes=TINY_SIZES, dci_model="fast")
        scores = evaluate_model(run.saved_model, spec)
        evaluation = default_out(spec, model=run.saved_model)
        write_report(scores, evaluation, spec, model=run.saved_model)
        final = run.final
        rows.append(
            {
                "trial_id": f"{trial_id:02d}",
                "worker": "chief",
                "model": model,
                "hyperparameter": hyperparameter,
                "value": value,
                "seed": seed,
                "epochs": len(run.history),
                **{
                    f"{split}{term}": final.get(f"{prefix}{term}")
                    for split, prefix in (("train_", ""), ("val_", "val_"))
                    for term in ("loss", "recon", "kl")
                },
                "active_latents_kl": len(run.active_latents),
                "active_latents_std": scores["active_latents"],
                **scores["scores"],
                "train_seconds": train_seconds,
                "eval_seconds": scores["time"]["total_s"],
                "run_dir": os.path.relpath(run.run.path, sweep_dir),
                "saved_model": os.path.relpath(run.saved_model, sweep_dir),
                "evaluation": os.path.relpath(evaluation, sweep_dir),
            }
        )
        keras.backend.clear_session()
    results = pd.DataFrame(rows)
    results.to_csv(folder.results, index=False)
    return results


def one_model(sweep_dir, out_dir, model="beta_vae"):
    """A copy of the trials of one model of ``sweep_dir`` (same schema)."""
    source, target = SweepFolder(sweep_dir), SweepFolder(out_dir)
    results = pd.read_csv(source.results)
    results = results[results["model"] == model]
    for row in results.itertuples():
        name = trial_name(row.model, row.hyperparameter, row.value, row.seed)
        _copy_trial(source, target, name, name)
    results.to_csv(target.results, index=False)


def _copy_trial(source, target, old, new):
    shutil.copytree(source.run(old).path, target.run(new).path)
    shutil.copytree(source.model(old).path, target.model(new).path)


EVALUATION = "fast-seed0"  # the fake trials' evaluation folder


def fake_sweep(sweep_dir, trials, seed=0, models=True):
    """A sweep folder of ``trials`` [(model, hyperparameter, value, seed)]: every metric column of
    trial k is a seeded draw around ``0.1 + 0.05 * log2(1 + value)`` (so settings differ and seeds
    spread), the losses ``71 + k``; returns the results table."""
    rng = np.random.default_rng(seed)
    folder = SweepFolder(sweep_dir)
    template = _fake_saved_model(os.path.join(sweep_dir, "_template")) if models else None
    rows = []
    for k, (model, hyperparameter, value, trial_seed) in enumerate(trials):
        name = trial_name(model, hyperparameter, value, trial_seed)
        run = RunFolder(folder.run(name).path)
        os.makedirs(run.path)
        pd.DataFrame(
            {
                "epoch": [1, 2],
                "loss": [90.0, 80.0],
                "recon": [80.0, 70.0],
                "kl": [10.0, 10.0],
                "val_loss": [91.0, 81.0],
                "val_recon": [81.0, 71.0],
                "val_kl": [10.0, 10.0],
            }
        ).to_csv(run.history, index=False)
        if template:
            shutil.copytree(template, folder.model(name).path)
        center = 0.1 + 0.05 * np.log2(1 + value)
        rows.append(
            {
                "model": model,
                "hyperparameter": hyperparameter,
                "value": value,
                "seed": trial_seed,
                "val_recon": 71.0 + k,
                "val_kl": 10.0,
                "val_loss": 81.0 + k,
                "active_latents_kl": 3,
                **{column: float(center + rng.normal(0, 0.01)) for column in registry.score_labels()},
                "evaluation": os.path.join("saved_models", name, "evaluations", EVALUATION) if template else None,
            }
        )
    if template:
        shutil.rmtree(template)
    results = pd.DataFrame(rows)
    results.to_csv(folder.results, index=False)
    return results


def _fake_saved_model(path):
    """An untrained linear VAE-shaped SavedModel (``encode``, ``decode``, ``reconstruct``), a model
    card with its KL per latent, and factor x latent matrices: what the report reads of a model."""
    import tensorflow as tf

    class Linear(tf.Module):
        def __init__(self):
            super().__init__()
            weights = np.random.default_rng(0).normal(0, 0.02, (64 * 64, LATENTS)).astype(np.float32)
            self.weights = tf.Variable(weights)

        @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 1], tf.float32)])
        def encode(self, images):
            mean = tf.reshape(images, [-1, 64 * 64]) @ self.weights
            return {"mean": mean, "logvar": tf.zeros_like(mean)}

        @tf.function(input_signature=[tf.TensorSpec([None, LATENTS], tf.float32)])
        def decode(self, z):
            logits = z @ tf.transpose(self.weights) * 50.0
            return {"probs": tf.reshape(tf.sigmoid(logits), [-1, 64, 64, 1])}

        @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 1], tf.float32)])
        def reconstruct(self, images):
            return self.decode(self.encode(images)["mean"])

    module = Linear()
    signatures = {"encode": module.encode, "decode": module.decode, "reconstruct": module.reconstruct}
    tf.saved_model.save(module, path, signatures=signatures)
    target = ModelFolder(path)
    with open(target.card, "w") as f:
        json.dump({"kl_per_latent": [2.0, 1.0, 0.5, 0.01][:LATENTS]}, f)
    rng = np.random.default_rng(1)
    os.makedirs(target.evaluation(EVALUATION).path)
    np.savez(
        target.evaluation(EVALUATION).matrices,
        mig_normalized_mutual_info=rng.uniform(0, 1, (LATENTS, 5)),
        zdiff_mean_abs_diff=rng.uniform(0, 1, (5, LATENTS)),
        modularity_mutual_info=rng.uniform(0, 1, (LATENTS, 5)),
    )
    return path
