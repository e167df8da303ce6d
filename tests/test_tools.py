"""tools/: the GPU benchmark script on a machine without a GPU, the FLOP count of tools.bench, its model benchmark."""

import json
import os
import shutil
import subprocess
import sys
import unittest

from tests.helpers import slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchGpuTest(unittest.TestCase):
    def check_note(self, out):
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        result = json.loads(out.stdout)  # stdout holds the JSON and nothing else
        self.assertIsNone(result["gpu"])
        self.assertIn("no GPU found", result["note"])

    def test_script_without_gpu_exits_0_with_a_note(self):
        if shutil.which("nvidia-smi"):
            self.skipTest("nvidia-smi is here: the script would run the whole GPU suite")
        out = subprocess.run(
            ["bash", os.path.join(ROOT, "tools", "bench_gpu.sh")], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        self.check_note(out)

    def test_suite_without_a_tensorflow_gpu_exits_0_with_a_note(self):
        # What the script runs when nvidia-smi sees a GPU but TensorFlow does not.
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "BENCH_GPU_NVIDIA_SMI": "Some GPU"}
        out = subprocess.run(
            [sys.executable, "-m", "tools.bench.gpu"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        self.check_note(out)
        self.assertIn("Some GPU", json.loads(out.stdout)["note"])


class FlopCountTest(unittest.TestCase):
    def test_forward_and_training_flops_match_a_hand_count(self):
        from bvae_tf.model import BetaVAE
        from tools.bench import flops

        model = BetaVAE(latent_dim=10)
        model.build((None, 64, 64, 1))
        mac = 2  # FLOPs per multiply-add
        # Conv 4x4 stride 2: a MAC per output pixel, per tap, per input and output channel;
        # ConvTranspose: per input pixel instead. Dense: in x out.
        encoder = [
            32 * 32 * 16 * 1 * 32,
            16 * 16 * 16 * 32 * 32,
            8 * 8 * 16 * 32 * 64,
            4 * 4 * 16 * 64 * 64,
            1024 * 256,
            256 * 10,
            256 * 10,
        ]
        decoder = [
            10 * 256,
            256 * 1024,
            4 * 4 * 16 * 64 * 64,
            8 * 8 * 16 * 64 * 32,
            16 * 16 * 16 * 32 * 32,
            32 * 32 * 16 * 32 * 1,
        ]
        expected = [mac * n for n in encoder + decoder]
        forward = flops.layer_flops(model)
        self.assertEqual(forward, expected)
        self.assertEqual(sum(forward), 32_521_216)
        # Training: forward + gradients of inputs and weights, less the images' gradient.
        self.assertEqual(flops.training_flops(forward), 3 * 32_521_216 - 2 * 32 * 32 * 16 * 32)


@slow
class BenchModelsTest(unittest.TestCase):
    def test_images_per_second_of_each_model_and_the_shares(self):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.bench.train",
                "--model",
                "beta_vae",
                "factor_vae",
                "beta_tcvae",
                "--batch-sizes",
                "16",
                "--images",
                "64",
                "--race-steps",
                "8",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        row = json.loads(out.stdout)["models"]["16"]
        self.assertEqual(set(row), {"beta_vae", "factor_vae", "beta_tcvae"})
        for name in row:
            self.assertGreater(row[name]["images_per_s"], 0)
        self.assertTrue(0 < row["factor_vae"]["discriminator_share"] < 1)  # 6 x 1000 units: a real cost
        self.assertLess(row["beta_tcvae"]["tc_share"], 0.5)


if __name__ == "__main__":
    unittest.main()
