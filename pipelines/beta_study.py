"""Reproduce the whole β study from nothing: data -> sweep (train + evaluate) -> report.

  python pipelines/beta_study.py --quick            # minutes on 2 CPU cores
  python pipelines/beta_study.py                    # the report's settings (hours on CPU)
  python pipelines/beta_study.py --quick --seeds 0 1 --out sweeps/my_study

Any other flag is passed to ``python -m bvae_tf.sweep`` (e.g. ``--precision``, ``--preset``,
``--strategy``), after the pipeline's own settings, so it wins. Rerunning the same command
resumes: finished trials are skipped, the data is reused.
"""

import argparse
import os
import sys

from bvae_tf import report, sweep
from bvae_tf.errors import run_cli

FULL = {"betas": [0.5, 1, 2.5, 5, 7.5, 10, 50], "seeds": [0, 1, 2], "epochs": 10, "subset": 50_000,
        "val_size": 5_000, "preset": "reference"}
QUICK = {"betas": [1, 5, 50], "seeds": [0], "epochs": 2, "subset": 2_000, "val_size": 500, "preset": "fast"}
# Measured on the 2-core CPU machine (tools/bench_train.py: ~380 images/s; tools/bench_metrics.py:
# fast 49 s, reference ~19 min); only used to print an estimate of the cost before starting.
CPU_TRAIN_IMAGES_PER_S = 380
CPU_EVAL_SECONDS = {"reference": 1_100, "fast": 50}


def estimate_seconds(settings):
    trials = len(settings["betas"]) * len(settings["seeds"])
    images = trials * settings["epochs"] * (settings["subset"] + settings["val_size"])
    return trials, images, images / CPU_TRAIN_IMAGES_PER_S + trials * CPU_EVAL_SECONDS[settings["preset"]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small subset, 2 epochs, fast metrics, 3 β")
    parser.add_argument("--betas", type=float, nargs="+", help="override the β list")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--subset", type=int)
    parser.add_argument("--val-size", type=int)
    parser.add_argument("--preset", choices=sorted(CPU_EVAL_SECONDS))
    parser.add_argument("--out", default=None, help="sweep folder (default sweeps/beta_study[_quick])")
    args, passthrough = parser.parse_known_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    settings.update({key: value for key, value in vars(args).items() if key in settings and value is not None})
    out = args.out or os.path.join("sweeps", "beta_study_quick" if args.quick else "beta_study")
    trials, images, seconds = estimate_seconds(settings)
    print(f"beta study: {trials} trials, {images:,} training images in all; on 2 CPU cores expect about "
          f"{seconds / 60:.0f} min ({seconds / 3600:.1f} h); a GPU is many times faster", flush=True)
    sweep_args = ["--out", out, "--betas", *map(str, settings["betas"]), "--seeds", *map(str, settings["seeds"]),
                  "--epochs", str(settings["epochs"]), "--subset", str(settings["subset"]),
                  "--val-size", str(settings["val_size"]), "--preset", settings["preset"], *passthrough]
    sweep.main(sweep_args)
    report.main([out])
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
