"""bvae_tf.callbacks: the NaN stop, the epoch summary, rank-1 logs and the cheaper TensorBoard."""

import contextlib
import io
import unittest
from unittest import mock

import numpy as np

from bvae_tf.callbacks import EpochSummary, NaNGuard, SqueezeLogs, TensorBoard
from bvae_tf.model import BetaVAE


def small_model():
    model = BetaVAE(latent_dim=2, seed=0)
    model.build()
    return model


class NaNGuardTest(unittest.TestCase):
    def test_keeps_last_good_weights_and_says_what_to_try(self):
        model = small_model()
        guard = NaNGuard()
        guard.set_model(model)
        good = model.get_weights()
        guard.on_train_begin()
        guard.on_epoch_begin(0)
        guard.on_train_batch_end(0, {"loss": 100.0})
        guard.on_epoch_end(0, {"loss": 100.0})
        guard.on_epoch_begin(1)
        model.set_weights([w + 1.0 for w in good])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            guard.on_train_batch_end(4, {"loss": float("nan")})
        self.assertEqual(guard.nan_epoch, 2)
        self.assertTrue(model.stop_training)
        for restored, original in zip(model.get_weights(), good):
            np.testing.assert_array_equal(restored, original)
        self.assertIn("epoch 2 (batch 5)", out.getvalue())
        self.assertIn("--learning-rate", out.getvalue())


class EpochSummaryTest(unittest.TestCase):
    def test_one_line_with_losses_active_latents_and_validation(self):
        lines = []
        summary = EpochSummary(3, print_fn=lines.append)
        summary.set_model(small_model())
        summary.on_epoch_begin(1)
        logs = {"loss": 10.0, "recon": 8.0, "kl": 2.0, "active_latents": 1.0,
                "val_loss": 11.0, "val_recon": 9.0, "val_kl": 2.0, "val_active_latents": 2.0}
        summary.on_epoch_end(1, logs)
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], r"^epoch 2/3 \| loss 10\.00 recon 8\.00 kl 2\.00 active 1/2 \| "
                                   r"val_loss 11\.00 val_recon 9\.00 val_kl 2\.00 val_active 2/2 \| \d+\.\ds$")


class SqueezeLogsTest(unittest.TestCase):
    def test_rank_1_logs_become_floats(self):
        logs = {"loss": np.array([3.5]), "kl": 1.0}
        SqueezeLogs().on_epoch_end(0, logs)
        self.assertEqual(logs, {"loss": 3.5, "kl": 1.0})
        self.assertIsInstance(logs["loss"], float)


class TensorBoardTest(unittest.TestCase):
    def test_per_epoch_logging_skips_the_per_step_scalars(self):
        seen = []
        with mock.patch("keras.callbacks.TensorBoard.on_train_batch_end",
                        lambda self, batch, logs=None: seen.append(logs)):
            TensorBoard("/tmp/unused").on_train_batch_end(0, {"loss": 1.0})
            TensorBoard("/tmp/unused", update_freq=10).on_train_batch_end(0, {"loss": 1.0})
        self.assertEqual(seen, [None, {"loss": 1.0}])


if __name__ == "__main__":
    unittest.main()
