"""Benchmark the metrics on this machine: prints JSON with encoding and scoring time per metric.

    python tools/bench_metrics.py [--model saved_models/<run>] [--skip-reference]

Without ``--model`` it exports a random-weight encoder of the usual dSprites architecture
(Burgess et al., 2018: four 4x4 stride-2 convolutions of 32 channels, two dense layers of 256,
10 latents) to a temporary folder: encoding cost depends on the architecture, not the weights.
All metrics share one encoding pass, so a metric's own encoding cost is estimated from the
distinct images it alone would need times the measured encoding rate.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bvae_tf.data.dsprites import DSprites  # noqa: E402
from bvae_tf.evaluate import evaluate_model  # noqa: E402
from bvae_tf.metrics import METRICS, PRESETS  # noqa: E402


def export_random_encoder(path, latents=10):
    layers = [keras.Input((64, 64, 1))]
    layers += [keras.layers.Conv2D(32, 4, 2, padding="same", activation="relu") for _ in range(4)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
               keras.layers.Dense(256, activation="relu"), keras.layers.Dense(2 * latents)]
    model = keras.Sequential(layers)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def encode(images):
        mean, logvar = tf.split(model(images), 2, axis=-1)
        return {"mean": mean, "logvar": logvar}

    archive.add_endpoint("encode", encode, input_signature=[tf.TensorSpec((None, 64, 64, 1), tf.float32)])
    archive.write_out(path, verbose=False)
    return path


def images_alone(metric, sizes, seed):
    factors, _ = METRICS[metric].sampler.draw(sizes, seed)
    return len(np.unique(np.concatenate([DSprites.classes_to_indices(f.reshape(-1, 5)) for f in factors.values()])))


def run(model, preset, seed, encode_batch):
    report = evaluate_model(model, preset=preset, seed=seed, encode_batch=encode_batch)
    t, sizes = report["time"], PRESETS[preset]
    rate = report["num_images_encoded"] / t["encode_s"]
    per_metric = {}
    for m in METRICS:
        alone = images_alone(m, sizes, seed)
        per_metric[m] = {"score_s": round(t["score_per_metric_s"][m], 2), "images_alone": alone,
                         "encode_s_alone_est": round(alone / rate, 1)}
    return {
        "total_s": round(t["total_s"], 1), "encode_s": round(t["encode_s"], 1),
        "score_s": round(t["score_s"], 1), "images_drawn": report["num_images_drawn"],
        "images_encoded": report["num_images_encoded"], "encode_images_per_s": round(rate),
        "per_metric": per_metric, "scores": {k: round(v, 4) for k, v in report["scores"].items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="SavedModel folder (default: a random encoder, exported here)")
    parser.add_argument("--skip-reference", action="store_true", help="only the fast preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encode-batch", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or export_random_encoder(os.path.join(tmp, "random_encoder"))
        out = {"model": args.model or "random-weight Burgess encoder (10 latents)", "cpus": os.cpu_count(),
               "encode_batch": args.encode_batch, "targets_s": {"reference": 300, "fast": 30}}
        out["fast"] = run(model, "fast", args.seed, args.encode_batch)
        if not args.skip_reference:
            out["reference"] = run(model, "reference", args.seed, args.encode_batch)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
