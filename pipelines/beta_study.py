"""Reproduce the whole β study from nothing: data -> sweep (train + evaluate) -> report.

  python pipelines/beta_study.py --quick            # minutes on 2 CPU cores
  python pipelines/beta_study.py                    # the report's settings (hours on CPU)
  python pipelines/beta_study.py --quick --seeds 0 1 --out sweeps/my_study

Every flag of ``python -m bvae_tf.sweep`` applies (e.g. ``--precision``, ``--preset``,
``--strategy``) and wins over the pipeline's settings. Rerunning the same command resumes:
finished trials are skipped, the data is reused.
"""

import argparse
import os
import sys

from bvae_tf import sweep
from bvae_tf.config import REPORT_BETAS
from bvae_tf.errors import run_cli

COMMAND = "python pipelines/beta_study.py"  # its --help and its Ctrl-C hint name it so

FULL = {
    "betas": list(REPORT_BETAS),
    "seeds": [0, 1, 2],
    "epochs": 10,
    "subset": 50_000,
    "val_size": 5_000,
    "preset": "reference",
}
# The cheapest settings found where the study shows something on a 2-core CPU: β=1 keeps all 10
# latents, β=50 keeps 3, and β=1 reconstructs recognisable shapes (docs/results.md, "The quick study").
QUICK = {"betas": [1, 5, 50], "seeds": [0], "epochs": 12, "subset": 10_000, "val_size": 1_000, "preset": "fast"}
# Measured on the 2-core CPU machine, only to print an estimate of the cost before starting. The
# full study's trials, alone on the machine (results.csv, median): 550,000 images (10 epochs of
# 50,000 + 5,000 validation) in 835 s of training, 285 s of scoring at the reference sizes; the
# fast preset: 21 s (tools/bench_metrics.py). The quick study trains faster per image (~1,000/s).
CPU_TRAIN_IMAGES_PER_S = 660
CPU_EVAL_SECONDS = {"reference": 285, "fast": 21}


def estimate_seconds(config):
    trials = len(config.settings) * len(config.seeds)
    images = trials * config.training.epochs * (config.training.data.subset + config.training.data.val_size)
    return trials, images, images / CPU_TRAIN_IMAGES_PER_S + trials * CPU_EVAL_SECONDS[config.evaluation.preset]


def main(argv=None):
    quick = argparse.ArgumentParser(add_help=False)
    quick.add_argument("--quick", action="store_true")
    is_quick = quick.parse_known_args(argv)[0].quick
    # The sweep's own parser, with the study's settings as defaults: one parse, then Python objects.
    parser = sweep.build_parser()
    parser.prog, parser.description = COMMAND, __doc__.splitlines()[0]
    parser.add_argument(
        "--quick",
        action="store_true",
        help="β 1, 5, 50 on 10,000 images, 12 epochs, fast metrics: about 10 minutes on 2 CPU cores",
    )
    parser.set_defaults(
        **(QUICK if is_quick else FULL), out=os.path.join("sweeps", "beta_study_quick" if is_quick else "beta_study")
    )
    config = sweep.config_from_args(parser.parse_args(argv))
    trials, images, seconds = estimate_seconds(config)
    print(
        f"beta study: {trials} trials, {images:,} training images in all; on 2 quiet CPU cores expect about "
        f"{seconds / 60:.0f} min ({seconds / 3600:.1f} h), up to twice that on a busy machine; a GPU is many "
        "times faster",
        flush=True,
    )
    return sweep.run_and_report(config)


if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:], interrupted=lambda: sweep.resume_hint(sys.argv[1:], COMMAND)))
