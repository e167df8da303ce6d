"""The GPU suite (what tools/bench_gpu.sh runs on a CUDA machine); prints JSON.

The GPU's name; images/s for float32 and mixed_float16 at each batch size, for the model alone
(in-memory images) and with the TFRecord pipeline; the pipeline alone, and whether it keeps up;
the mean training loss of steps 201-300 for both precisions from the same seed and data, and
whether they agree within 2 %; at mixed_float16 and the middle batch size, steps_per_execution=16
and jit_compile=False against compile()'s default. Without a GPU TensorFlow can use it prints
{"gpu": null, "note": "no GPU found ..."} and exits 0.

    python -m tools.bench.gpu [--gpu-batch-sizes 64 256 1024] [--budget-s 230] [--allow-cpu]
"""

import argparse
import json
import os
import sys
import tempfile
import time

import keras
import tensorflow as tf

from bvae_tf.data import make_dataset, prepare
from bvae_tf.data.sources import render_source
from bvae_tf.model import IMAGE_SHAPE, BetaVAE
from tools.bench.timing import Arm, compare, interleave, log, memory_data, pipeline_rate, render

LOSS_STEPS = 300  # Adam steps at batch 64, from the same seed and data, for both precisions


LOSS_WINDOW = 100  # compared: the mean training loss of the last LOSS_WINDOW steps


LOSS_TOLERANCE = 0.02  # relative; two float32 seeds differ by ~0.1 % there, float32 vs mixed on CPU by ~0.3 %


def precision_model(precision, seed=0, beta=4.0, **compile_kwargs):
    """A compiled BetaVAE under a dtype policy, built as train.py builds it; the policy is restored."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(seed)
        model = BetaVAE(latent_dim=10, beta=beta, seed=seed)
        model.build((None, *IMAGE_SHAPE))
        model.compile(keras.optimizers.Adam(1e-3), **compile_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def gpu_suite(args):
    started = time.perf_counter()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.allow_cpu:
        listed = os.environ.get("BENCH_GPU_NVIDIA_SMI", "").strip()
        note = "no GPU found: TensorFlow lists no GPU device; nothing was measured"
        if listed:
            note += f" (nvidia-smi lists: {listed}; is this TensorFlow built with CUDA?)"
        print(json.dumps({"gpu": None, "note": note}))
        return 0
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: keep TensorFlow's default
            pass
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}

    def over_budget():
        return time.perf_counter() - started > args.budget_s

    result = {
        "gpu": details.get("device_name", "none (--allow-cpu)"),
        "gpu_count": len(gpus),
        "compute_capability": details.get("compute_capability"),
        "cpu_count": os.cpu_count(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "note": "images/s: steady steps of one epoch (median of 2, after a warm-up epoch); model alone = "
        "in-memory images; tfrecord = prepare + make_dataset as train.py; pipeline_only = make_dataset "
        "alone; keeps_up: pipeline_only >= 1.05 x the model alone at mixed_float16",
        "train_images_per_s": {},
        "pipeline_only_images_per_s": {},
        "skipped": [],
    }
    images = render(args.gpu_images)
    with tempfile.TemporaryDirectory() as root:
        data_dir = os.path.join(root, "data")
        prepare(data_dir, render_source(), subset=args.gpu_images, val_size=0, seed=0, progress=False)
        for batch_size in args.gpu_batch_sizes:
            result["pipeline_only_images_per_s"][str(batch_size)] = round(pipeline_rate(data_dir, batch_size)[0], 1)
        for precision in () if "gpu_throughput" in args.skip else ("float32", "mixed_float16"):
            table = result["train_images_per_s"].setdefault(precision, {})
            for batch_size in args.gpu_batch_sizes:
                if over_budget():
                    result["skipped"].append(f"{precision} batch {batch_size}")
                    continue
                log(f"gpu: {precision} batch {batch_size}")
                model = precision_model(precision)
                steps = args.gpu_images // batch_size
                tfrecord = make_dataset(data_dir, "train", batch_size, shuffle=True, seed=0)
                tfrecord = tfrecord.apply(tf.data.experimental.assert_cardinality(steps))
                arms = [
                    Arm("model alone", model, memory_data(images, batch_size), steps, batch_size),
                    Arm("tfrecord", model, tfrecord, None, batch_size),
                ]
                wall = compare(interleave(arms, 2), "model alone")
                table[str(batch_size)] = {
                    "model_alone": wall["model alone"]["images_per_s"],
                    "tfrecord": wall["tfrecord"]["images_per_s"],
                }
        mixed = result["train_images_per_s"].get("mixed_float16", {})
        result["pipeline_keeps_up"] = {
            size: result["pipeline_only_images_per_s"][size] >= 1.05 * rates["model_alone"]
            for size, rates in mixed.items()
        }

        losses = {}
        for precision in () if "gpu_loss_check" in args.skip else ("float32", "mixed_float16"):
            if over_budget():
                result["skipped"].append(f"loss check {precision}")
                continue
            log(f"gpu: loss after {LOSS_STEPS} steps, {precision}")
            model = precision_model(precision)
            history = model.fit(
                memory_data(images, 64),
                epochs=LOSS_STEPS // LOSS_WINDOW,
                steps_per_epoch=LOSS_WINDOW,
                verbose=0,
                shuffle=False,
            ).history
            evaluation = model.evaluate(images[:2048], batch_size=256, verbose=0, return_dict=True)
            losses[precision] = {
                f"train_loss_last_{LOSS_WINDOW}_steps": round(history["loss"][-1], 3),
                "eval_loss_2048_images": round(evaluation["loss"], 3),
                "optimizer_steps_applied": int(model.optimizer.iterations.numpy()),  # mixed: skipped on overflow
            }
        check = {
            "steps": LOSS_STEPS,
            "batch_size": 64,
            "seed": 0,
            "beta": 4.0,
            "relative_tolerance": LOSS_TOLERANCE,
            **losses,
        }
        if len(losses) == 2:
            key = f"train_loss_last_{LOSS_WINDOW}_steps"
            a, b = (losses[p][key] for p in ("float32", "mixed_float16"))
            check["relative_difference"] = round(abs(a - b) / abs(a), 4)
            check["agree"] = check["relative_difference"] <= LOSS_TOLERANCE
        result["loss_check"] = check

        options = {}
        size = args.gpu_batch_sizes[len(args.gpu_batch_sizes) // 2]  # 256 by default
        # compile()'s default jit_compile="auto" is XLA on a GPU (off on CPU and under a strategy):
        # "plain" is what train.py gets; measure turning XLA off, and 16 steps per execution.
        result["jit_compile_auto_resolves_to"] = precision_model("float32").jit_compile
        for name, kwargs in (
            ()
            if "gpu_options" in args.skip
            else (
                ("steps_per_execution=16", {"steps_per_execution": 16}),
                ("jit_compile=False", {"jit_compile": False}),
            )
        ):
            if over_budget():
                result["skipped"].append(f"mixed_float16 batch {size} {name}")
                continue
            log(f"gpu: mixed_float16 batch {size}, {name}")
            try:
                data = memory_data(images, size)
                arms = [
                    Arm("plain", precision_model("mixed_float16"), data, 64, size),
                    Arm(name, precision_model("mixed_float16", **kwargs), data, 64, size),
                ]
                wall = compare(interleave(arms, 2), "plain")
                options[name] = {"images_per_s": wall[name]["images_per_s"], "ratio_to_plain": wall[name]["ratio"]}
            except Exception as error:  # report, do not lose the rest of the suite
                options[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
        result[f"compile_options_mixed_float16_batch_{size}"] = options
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--allow-cpu", action="store_true", help="run it without a GPU (a test)")
    parser.add_argument("--gpu-images", type=int, default=16384, help="images per epoch (default 16384)")
    parser.add_argument("--gpu-batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--budget-s", type=float, default=230, help="stop starting work after (default 230)")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=("gpu_throughput", "gpu_loss_check", "gpu_options"),
        help="parts to leave out",
    )
    return gpu_suite(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
