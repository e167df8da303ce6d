"""What a perfect and a random code score on every metric: the reference points `evaluate`'s table
shows beside a model's scores. Prints JSON; `--write` also stores it as the package's
`bvae_tf/metrics/reference_points.json` (what the table reads).

    python tools/reference_points.py [--preset reference] [--write]

Perfect: the factor classes themselves (one latent per factor, in order). Random: Gaussian noise
fixed per image (5 latents), so the same image always gets the same code, as from an encoder.
Both are scored on the dSprites grid (`from_factors`), so every metric applies, with seed 0.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bvae_tf.data.dsprites import NUM_IMAGES, DSprites  # noqa: E402
from bvae_tf.evaluate import evaluate_representation  # noqa: E402
from bvae_tf.metrics import from_factors, registry  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bvae_tf", "metrics", "reference_points.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="reference", choices=registry.PRESETS)
    parser.add_argument("--write", action="store_true", help=f"also write {os.path.relpath(OUT)}")
    args = parser.parse_args()
    noise = np.random.default_rng(0).normal(size=(NUM_IMAGES, 5))
    codes = {
        "perfect": lambda classes: classes.astype(float),
        "random": lambda classes: noise[DSprites.classes_to_indices(classes)],
    }
    points, seconds = {}, {}
    for name, fn in codes.items():
        start = time.perf_counter()
        report = evaluate_representation(from_factors(fn), preset=args.preset, metrics=registry.default_metrics())
        points[name] = {column: round(float(value), 4) for column, value in report["scores"].items()}
        seconds[name] = round(time.perf_counter() - start, 1)
    result = {"preset": args.preset, "seed": 0, "points": points, "seconds": seconds}
    print(json.dumps(result, indent=2))
    if args.write:
        with open(OUT, "w") as f:
            json.dump({"preset": args.preset, "seed": 0, "points": points}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
