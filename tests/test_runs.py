"""python -m bvae_tf.runs: the table of trained runs and SavedModels, its width, its one-line errors."""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

from bvae_tf.runs import format_table, list_runs, main, natural_order

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f)


def make_run(folder, name, settings, history_rows, saved_model=None):
    """A run folder as bvae_tf.train writes it (config.json, history.csv)."""
    path = os.path.join(folder, name)
    write_json(os.path.join(path, "config.json"), {"name": name, "settings": settings, "saved_model": saved_model})
    with open(os.path.join(path, "history.csv"), "w") as f:
        f.write("epoch,loss,recon,kl,kl_0\n")
        for epoch, (loss, recon, kl) in enumerate(history_rows, 1):
            f.write(f"{epoch},{loss},{recon},{kl},0.5\n")
    return path


def make_model(folder, name, card, evaluated=False):
    """A SavedModel folder: saved_model.pb (its content is never read here) and model_card.json."""
    path = os.path.join(folder, name)
    write_json(os.path.join(path, "model_card.json"), card)
    open(os.path.join(path, "saved_model.pb"), "wb").close()
    if evaluated:
        os.makedirs(os.path.join(path, "evaluations", "fast-seed0"))
        write_json(os.path.join(path, "evaluations", "fast-seed0", "metrics.json"), {"scores": {"mig": 0.1}})
    return path


def run_main(argv, cwd=None):
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    try:
        os.chdir(cwd or previous)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(previous)
    return code, out.getvalue()


class RunsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        models = os.path.join(self.tmp, "saved_models")
        exported = make_model(models, "beta_vae_beta4_seed0", {"model": "beta_vae", "beta": 4.0}, evaluated=True)
        make_run(
            os.path.join(self.tmp, "runs"),
            "beta_vae_beta4_seed0",
            {"model": "beta_vae", "beta": 4.0, "gamma": None, "epochs": 3},
            [(900.0, 880.5, 19.5), (300.25, 290.0, 10.25)],  # stopped after 2 of 3 epochs
            saved_model=exported,
        )
        make_run(
            os.path.join(self.tmp, "runs"),
            "annealed",
            {"model": "annealed_vae", "c_max": 25.0, "gamma": 1000.0, "iteration_threshold": None, "epochs": 1},
            [(120.0, 100.0, 20.0)],
        )
        make_model(  # a SavedModel copied here without its run, from a sweep with another dataset
            models,
            "factor_vae_gamma30_seed1",
            {
                "model": "factor_vae",
                "gamma": 30.0,
                "dataset": "shapes3d",
                "epochs_completed": 10,
                "training": {"epochs": 10},
                "final": {"loss": 1500.0, "recon": 1490.0, "kl": 10.0},
            },
        )

    def test_one_row_per_run_and_per_saved_model_without_its_run(self):
        rows = list_runs([os.path.join(self.tmp, "runs"), os.path.join(self.tmp, "saved_models")])
        table = {row["name"]: {key: value for key, value in row.items() if key != "saved_model"} for row in rows}
        self.assertEqual(
            table,
            {
                "annealed": {
                    "name": "annealed",
                    "model": "annealed_vae",
                    "dataset": "dsprites_full",
                    "hyperparameters": "c_max=25 gamma=1000",
                    "epochs": "1",
                    "loss": 120.0,
                    "recon": 100.0,
                    "kl": 20.0,
                    "evaluated": "-",
                },
                "beta_vae_beta4_seed0": {
                    "name": "beta_vae_beta4_seed0",
                    "model": "beta_vae",
                    "dataset": "dsprites_full",
                    "hyperparameters": "beta=4",
                    "epochs": "2/3",
                    "loss": 300.25,
                    "recon": 290.0,
                    "kl": 10.25,
                    "evaluated": "fast-seed0",
                },
                "factor_vae_gamma30_seed1": {
                    "name": "factor_vae_gamma30_seed1",
                    "model": "factor_vae",
                    "dataset": "shapes3d",
                    "hyperparameters": "gamma=30",
                    "epochs": "10",
                    "loss": 1500.0,
                    "recon": 1490.0,
                    "kl": 10.0,
                    "evaluated": "no",
                },
            },
        )

    def test_default_folders_and_the_printed_table(self):
        code, out = run_main([], cwd=self.tmp)
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertEqual(
            lines[0].split(),
            ["name", "model", "dataset", "hyperparameters", "epochs", "loss", "recon", "kl", "evaluated"],
        )
        self.assertEqual(
            lines[2].split(),
            [
                "beta_vae_beta4_seed0",
                "beta_vae",
                "dsprites_full",
                "beta=4",
                "2/3",
                "300.2",
                "290.0",
                "10.25",
                "fast-seed0",
            ],
        )
        self.assertEqual(lines[-1], "3 found; losses are the last epoch's training values")

    def test_a_sweeps_trials_are_listed_in_the_order_of_their_numbers(self):
        sweep = os.path.join(self.tmp, "sweep")
        for beta in ("10", "1", "0.5", "50", "2.5", "5"):
            make_model(sweep, f"beta_vae_beta{beta}_seed0", {"model": "beta_vae", "beta": float(beta)})
        make_model(sweep, "beta_vae_beta1_seed10", {"model": "beta_vae", "beta": 1.0})
        make_model(sweep, "beta_vae_beta1_seed2", {"model": "beta_vae", "beta": 1.0})
        self.assertEqual(
            [row["hyperparameters"] + " " + row["name"][-6:] for row in list_runs([sweep])],
            [
                "beta=0.5 _seed0",
                "beta=1 _seed0",
                "beta=1 _seed2",
                "beta=1 seed10",
                "beta=2.5 _seed0",
                "beta=5 _seed0",
                "beta=10 _seed0",
                "beta=50 _seed0",
            ],
        )
        self.assertLess(natural_order("annealed"), natural_order("beta_vae_beta1"))  # words: as text

    def test_table_fits_120_columns(self):
        row = {
            "name": "x" * 90,
            "model": "annealed_vae",
            "dataset": "dsprites_full",
            "hyperparameters": "c_max=25 gamma=1000 iteration_threshold=100000",
            "epochs": "10",
            "loss": 1234.5,
            "recon": 1200.0,
            "kl": 34.5,
            "evaluated": "no",
        }
        lines = format_table([row]).splitlines()
        self.assertLessEqual(max(map(len, lines)), 120)
        name, _, rest = lines[1].partition("…")
        self.assertEqual(name, "x" * (len(name)))
        self.assertGreaterEqual(len(name), 20)  # both long columns were cut, neither to nothing
        self.assertIn("c_max=25 gamma=1000 it", rest)
        self.assertTrue(lines[1].rstrip().endswith("1234.5  1200.0  34.50  no"), lines[1])

    def test_an_empty_folder_says_so(self):
        empty = tempfile.mkdtemp()
        self.assertEqual(run_main([empty]), (0, f"no trained runs or SavedModels under {empty}\n"))

    def test_a_missing_folder_is_one_error_line(self):
        missing = os.path.join(self.tmp, "nope")
        out = subprocess.run(
            [sys.executable, "-m", "bvae_tf.runs", missing],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        self.assertEqual(out.returncode, 2)
        self.assertEqual(out.stdout, "")
        self.assertEqual(
            out.stderr.strip().splitlines(),
            [f"error: FOLDER: {missing} is not a folder; give a folder of runs or SavedModels (e.g. runs)"],
        )


if __name__ == "__main__":
    unittest.main()
