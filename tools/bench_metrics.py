"""Benchmark evaluation on this machine: prints JSON with encode and score time, cold and warm cache.

    python tools/bench_metrics.py [--model saved_models/<run>] [--skip-reference] [--tune]

Without ``--model`` it exports a random-weight `bvae_tf.model.BetaVAE` (the trained models'
architecture: four 4x4 stride-2 convolutions of 32, 32, 64, 64 channels, Dense 256, mean and
log-variance heads of 10) to a temporary folder: encoding cost depends on the architecture, not
the weights. Each preset gets its own fresh copy of the model, evaluated twice with the
encoding cache (`bvae_tf.encodings`): ``cold`` is the first evaluation of a model never encoded
(every image rendered and encoded, the cache written), ``warm`` the second (every code read
from the cache). Per run: total, encode and score seconds, the seconds of each metric and DCI's
share, images encoded and from the cache, and whether both runs gave the same scores (they
must). ``encoder`` puts the cold run's encoding rate against the encoder's forward FLOPs per
image and the float32 matmul peak measured in the same run; ``--tune`` adds the encoder's
images/s alone (pre-rendered images) at several batch sizes, and rendering alone.

All metrics share one encoding pass, so a metric's own encoding cost is estimated from the
distinct images it alone would need times the measured encoding rate.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bvae_tf.data.dsprites import DSprites  # noqa: E402
from bvae_tf.evaluate import evaluate_model  # noqa: E402
from bvae_tf.metrics import METRICS  # noqa: E402
from bvae_tf.progress import Progress  # noqa: E402

TARGETS_S = {"reference_cold": 420, "reference_warm": 300, "fast_cold": 30}  # issue 12, 2 cores, quiet


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def export_random_model(path, latents=10):
    import keras

    from bvae_tf.export import export_model
    from bvae_tf.model import BetaVAE

    keras.utils.set_random_seed(0)
    model = BetaVAE(latent_dim=latents)
    model.build()
    export_model(model, path, {"note": "random weights, for tools/bench_metrics.py"})
    return path


def encoder_flops(latents=10):
    """Forward FLOPs per image of `bvae_tf.model.Encoder` (2 per multiply-add; biases and
    activations not counted): the four convolutions, Dense 256 and both heads."""
    flops, (h, w, c) = 0, (64, 64, 1)
    for filters in (32, 32, 64, 64):  # 4x4 kernels, stride 2, same padding
        h, w = h // 2, w // 2
        flops += 2 * h * w * 16 * c * filters
        c = filters
    flops += 2 * h * w * c * 256
    return flops + 2 * (2 * 256 * latents)


def peak_flops(n=2048, repeats=5):
    """The float32 matmul peak measured now: (best FLOP/s of an n x n matmul by the clock, its
    FLOP per CPU-second). On a shared machine the first is what we got of it; the second times
    the number of cores is what the cores give when they are all ours."""
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return 2 * n**3 / best, 2 * n**3 / best_cpu


def images_alone(metric, preset, seed):
    sampler = METRICS[metric].sampler
    factors, _ = sampler.draw(sampler.preset(preset), seed, DSprites())
    return len(np.unique(np.concatenate([DSprites.classes_to_indices(f.reshape(-1, 5)) for f in factors.values()])))


def run(model, preset, seed, encode_batch, progress):
    log(f"--- {preset} preset, {model}")
    cpu = time.process_time()
    report = evaluate_model(model, preset=preset, seed=seed, encode_batch=encode_batch, progress=progress)
    cpu = time.process_time() - cpu
    t, e = report["time"], report["encodings"]
    per_metric = {m: round(s, 2) for m, s in t["score_per_metric_s"].items()}
    out = {
        "total_s": round(t["total_s"], 1),
        "encode_s": round(t["encode_s"], 1),
        "score_s": round(t["score_s"], 1),
        # CPU seconds of all threads: on a shared machine, cpu / cores bounds the quiet machine's time
        "cpu_s": {"total": round(cpu, 1), "encode": round(e["cpu_s"], 1), "score": round(cpu - e["cpu_s"], 1)},
        "score_per_metric_s": per_metric,
        "dci_share_of_score": round(t["score_per_metric_s"].get("dci", 0) / t["score_s"], 3),
        "dci_share_of_total": round(t["score_per_metric_s"].get("dci", 0) / t["total_s"], 3),
        "images_drawn": report["num_images_drawn"],
        "images_needed": report["num_images_distinct"],
        "images_encoded": e["encoded"],
        "images_from_cache": e["from_cache"],
        "cache_status": e["status"],
        "cache_load_s": round(e["cache_load_s"], 2),
        "cache_save_s": round(e["cache_save_s"], 2),
    }
    if e["encoded"]:
        out["encode_images_per_s"] = round(e["encoded"] / t["encode_s"])
        out["encode_cpu_us_per_image"] = round(e["cpu_s"] / e["encoded"] * 1e6)
    return out, report


def preset_section(source, preset, seed, encode_batch, progress, tmp):
    model = os.path.join(tmp, f"model_{preset}")
    shutil.copytree(source, model)  # a fresh copy: never encoded
    cache = os.path.join(model, "encodings.npz")
    if os.path.exists(cache):
        os.remove(cache)
    cold, cold_report = run(model, preset, seed, encode_batch, progress)
    warm, warm_report = run(model, preset, seed, encode_batch, progress)
    rate = cold.get("encode_images_per_s")
    return {
        "cold": cold,
        "warm": warm,
        "same_scores_cold_and_warm": cold_report["scores"] == warm_report["scores"],
        "target_s": {"cold": TARGETS_S.get(f"{preset}_cold"), "warm": TARGETS_S.get(f"{preset}_warm")},
        "encode_s_alone_est": {m: round(images_alone(m, preset, seed) / rate, 1) for m in METRICS} if rate else None,
        "scores": {k: round(v, 4) for k, v in warm_report["scores"].items()},
    }


def tune(model, batch_sizes, images=8192, rounds=2):
    """The encoder alone on pre-rendered images at each batch size (interleaved rounds, best
    kept), and rendering alone."""
    from bvae_tf.data.dsprites import render_dsprites
    from bvae_tf.saved_model import SavedModel

    encode = SavedModel(model).encoder()
    indices = np.random.default_rng(0).choice(737_280, images, replace=False)
    start = time.perf_counter()
    rendered = render_dsprites(DSprites.indices_to_classes(indices))
    render_rate = images / (time.perf_counter() - start)
    batch = rendered[..., None].astype(np.float32)
    best, cpu = {size: 0.0 for size in batch_sizes}, {size: float("inf") for size in batch_sizes}
    for round_ in range(rounds):
        for size in batch_sizes if round_ % 2 == 0 else batch_sizes[::-1]:  # alternate: drift hits all alike
            encode(batch[:size])
            start, cpu_start = time.perf_counter(), time.process_time()
            for i in range(0, images, size):
                encode(batch[i : i + size])
            best[size] = max(best[size], images / (time.perf_counter() - start))
            cpu[size] = min(cpu[size], (time.process_time() - cpu_start) / images * 1e6)
    return {
        "render_images_per_s": round(render_rate),
        "encode_alone_images_per_s": {str(size): round(rate) for size, rate in best.items()},
        "encode_alone_cpu_us_per_image": {str(size): round(us) for size, us in cpu.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="SavedModel folder (default: a random-weight BetaVAE, exported here)")
    parser.add_argument("--skip-reference", action="store_true", help="only the fast preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encode-batch", type=int, default=1024)
    parser.add_argument("--tune", action="store_true", help="also the encoder alone at batch 256..4096")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args()
    progress = Progress(enabled=not args.quiet)
    with tempfile.TemporaryDirectory() as tmp:
        source = args.model or export_random_model(os.path.join(tmp, "random_model"))
        peak, peak_cpu = peak_flops()
        flops = encoder_flops()
        out = {
            "model": args.model or "random-weight bvae_tf BetaVAE (10 latents)",
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "encode_batch": args.encode_batch,
        }
        if args.tune:
            out["tuning"] = tune(source, [256, 512, 1024, 2048, 4096])
        out["fast"] = preset_section(source, "fast", args.seed, args.encode_batch, progress, tmp)
        if not args.skip_reference:
            out["reference"] = preset_section(source, "reference", args.seed, args.encode_batch, progress, tmp)
        again, again_cpu = peak_flops()  # measured before and after: the best is the machine's
        peak, peak_cpu = max(peak, again), max(peak_cpu, again_cpu)
        cold = {p: out[p]["cold"] for p in ("fast", "reference") if p in out}
        rates = {p: c["encode_images_per_s"] for p, c in cold.items()}
        cpu_rates = {p: 1e6 / c["encode_cpu_us_per_image"] for p, c in cold.items()}
        out["encoder"] = {
            "forward_mflop_per_image": round(flops / 1e6, 2),
            "matmul_peak_gflop_per_s": round(peak / 1e9, 1),
            "matmul_gflop_per_cpu_s": round(peak_cpu / 1e9, 1),
            "cold_encode_images_per_s": rates,
            "cold_encode_gflop_per_s": {p: round(r * flops / 1e9, 1) for p, r in rates.items()},
            "fraction_of_peak": {p: round(r * flops / peak, 3) for p, r in rates.items()},
            # per CPU-second, rendering included: independent of how much of the machine we got
            "encode_gflop_per_cpu_s": {p: round(r * flops / 1e9, 1) for p, r in cpu_rates.items()},
            "fraction_of_peak_per_cpu_s": {p: round(r * flops / peak_cpu, 3) for p, r in cpu_rates.items()},
            "peak_images_per_s": round(peak / flops),
        }
        if "tuning" in out:
            out["tuning"]["fraction_of_peak"] = {
                size: round(rate * flops / peak, 3) for size, rate in out["tuning"]["encode_alone_images_per_s"].items()
            }
        out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
