"""Small sweep folders for the report tests, built without the sweep module.

Each trial is a tiny run (one epoch on 64 images, z=4) scored on a few hundred points, then
labelled in ``results.csv`` as whatever model the test needs (the report reads files only, so
the objective a run was really trained with does not matter to it).
"""

import os
import shutil
import time

import pandas as pd

from bvae_tf.layout import SweepFolder

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

    from bvae_tf import report
    from bvae_tf.config import TrainConfig
    from bvae_tf.evaluate import evaluate_model, write_report
    from bvae_tf.train import train

    folder = SweepFolder(sweep_dir)
    rows = []
    for trial_id, (model, hyperparameter, value, seed) in enumerate(trials):
        name = report.trial_name(model, hyperparameter, value, seed)
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
        scores = evaluate_model(run.saved_model, preset="fast", sizes=TINY_SIZES, dci_model="fast")
        write_report(scores, run.saved_model)
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
            }
        )
        keras.backend.clear_session()
    results = pd.DataFrame(rows)
    results.to_csv(folder.results, index=False)
    return results


def one_model(sweep_dir, out_dir, model="beta_vae"):
    """A copy of the trials of one model of ``sweep_dir`` (same schema)."""
    from bvae_tf import report

    source, target = SweepFolder(sweep_dir), SweepFolder(out_dir)
    results = pd.read_csv(source.results)
    results = results[results["model"] == model]
    for row in results.itertuples():
        name = report.trial_name(row.model, row.hyperparameter, row.value, row.seed)
        _copy_trial(source, target, name, name)
    results.to_csv(target.results, index=False)


def _copy_trial(source, target, old, new):
    shutil.copytree(source.run(old).path, target.run(new).path)
    shutil.copytree(source.model(old).path, target.model(new).path)
