"""Benchmarks of bvae_tf training, one job per module; each prints JSON on stdout.

    python -m tools.bench.train [--batch-sizes 32 64] [--skip callbacks real_epoch] [--model all]
    python -m tools.bench.gpu            # what tools/bench_gpu.sh runs on a CUDA machine

``flops``            FLOPs per image (analytic, cross-checked with TF's profiler) and the matmul peak.
``reference_model``  the same net written the way keras.io teaches: the yardstick for our speed.
``timing``           the harness: interleaved epochs, per-hook timing, step races.
``train``            the CPU benchmark's sections and CLI.
``gpu``              the GPU suite: precisions, the input pipeline, a loss check, compile options.

Measured figures and the questions already answered are in docs/performance.md.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
