"""A resumed run is the run it would have been: after a kill, and when a finished run is continued
with more --epochs, its numbers equal an uninterrupted run's (same batches, same random draws)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import pandas as pd

from bvae_tf.train import train
from tests.helpers import slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(subset=256, val_size=64, batch_size=32, verbose=0)


def numbers(history):
    """history.csv less the wall times."""
    return history.drop(columns=["epoch_seconds"])


@slow
class ContinueTest(unittest.TestCase):
    def test_more_epochs_continue_as_one_run(self):
        # `train --epochs 1` then `train --epochs 2 --resume` gives `train --epochs 2`'s history.
        with tempfile.TemporaryDirectory() as tmp:
            base = dict(TINY, runs_dir=f"{tmp}/runs", saved_models_dir=f"{tmp}/sm", data_dir=f"{tmp}/data")
            once = train(base, name="once", epochs=2)
            train(base, name="twice", epochs=1)
            twice = train(base, name="twice", epochs=2, resume=True)
            self.assertEqual(list(twice.history["epoch"]), [1, 2])
            pd.testing.assert_frame_equal(numbers(twice.history), numbers(once.history), rtol=1e-5)
            for resumed, whole in zip(twice.model.get_weights(), once.model.get_weights()):
                np.testing.assert_allclose(resumed, whole, rtol=1e-5, atol=1e-6)


@slow
class KillTest(unittest.TestCase):
    def test_killed_after_an_epoch_and_resumed_equals_an_uninterrupted_run(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        args = ["--epochs", "3", "--subset", "256", "--val-size", "64", "--verbose", "0", "--data-dir", f"{tmp}/d"]

        def command(name):
            return [sys.executable, "-m", "bvae_tf.train", *args, "--name", name, "--runs-dir", f"{tmp}/runs"]

        env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        whole = subprocess.run(
            [*command("whole"), "--saved-models-dir", f"{tmp}/sm1"], cwd=tmp, env=env, capture_output=True, text=True
        )
        self.assertEqual(whole.returncode, 0, whole.stderr[-3000:])
        process = subprocess.Popen(
            [*command("killed"), "--saved-models-dir", f"{tmp}/sm2"],
            cwd=tmp,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            for line in process.stdout:  # printed after the epoch's backup
                if line.startswith("epoch 2/3"):
                    break
            process.send_signal(signal.SIGKILL)
            process.wait(60)
        finally:
            process.kill()
            process.stdout.close()
        self.assertEqual(process.returncode, -signal.SIGKILL)
        resumed = subprocess.run(
            [*command("killed"), "--saved-models-dir", f"{tmp}/sm2", "--resume"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
        self.assertTrue(resumed.stdout.startswith("epoch 3/3"), resumed.stdout)  # epochs 1 and 2 kept
        histories = [numbers(pd.read_csv(f"{tmp}/runs/{name}/history.csv")) for name in ("whole", "killed")]
        self.assertEqual(list(histories[1]["epoch"]), [1, 2, 3])
        pd.testing.assert_frame_equal(histories[1], histories[0], rtol=1e-5)


if __name__ == "__main__":
    unittest.main()
