"""Benchmark β-VAE training on this machine; prints JSON.

Steady-state training images/s at several batch sizes (in-memory rendered data, so the input
is not what is measured; the first epoch, with tracing, is excluded; median of the rest), the
throughput of the real TFRecord pipeline (``make_dataset``), training FLOPs per image
(analytic, checked against TF's profiler on the forward graph), and the fraction of the peak
float32 rate that a large matmul reaches in the same run.

    python tools/bench_train.py [--images 2048] [--epochs 4] [--batch-sizes 32 64 256]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bvae_tf.data import make_dataset, prepare, render_dsprites  # noqa: E402
from bvae_tf.data.dsprites import DSprites  # noqa: E402
from bvae_tf.data.sources import render_source  # noqa: E402
from bvae_tf.model import IMAGE_SHAPE, BetaVAE  # noqa: E402


def layer_flops(model):
    """Forward FLOPs per image of every Conv/ConvT/Dense layer, in order (2 per multiply-add)."""
    flops = []
    shape = IMAGE_SHAPE
    for layer in [*model.encoder.body, model.encoder.mean_head, model.encoder.logvar_head,
                  *model.decoder.body, model.decoder.logits_head]:
        if isinstance(layer, keras.layers.Dense):
            if layer is model.encoder.logvar_head:
                flops.append(2 * 256 * model.latent_dim)
                continue
            units_in = shape[-1] if layer is not model.decoder.body[0] else model.latent_dim
            flops.append(2 * units_in * layer.units)
            shape = (layer.units,)
        elif isinstance(layer, keras.layers.Conv2DTranspose):  # a MAC per input pixel per kernel tap
            h, w, c = shape
            flops.append(2 * h * w * 16 * c * layer.filters)
            shape = (2 * h, 2 * w, layer.filters)
        elif isinstance(layer, keras.layers.Conv2D):  # a MAC per output pixel per kernel tap
            h, w, c = shape
            shape = (h // 2, w // 2, layer.filters)
            flops.append(2 * shape[0] * shape[1] * 16 * c * layer.filters)
        elif isinstance(layer, keras.layers.Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, keras.layers.Reshape):
            shape = layer.target_shape
    return flops


def profiler_forward_flops(model):
    """TF's own count of the float ops in one image's forward pass (encoder, then decoder of the mean)."""
    fn = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec((1, *IMAGE_SHAPE), tf.float32))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(fn.graph, options=options).total_float_ops


def peak_flops(n=2048, repeats=5):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def training_rate(images, batch_size, epochs):
    """Median images/s over epochs 2..N of ``fit`` on in-memory data."""
    keras.utils.set_random_seed(0)
    model = BetaVAE(latent_dim=10, beta=4.0, seed=0)
    model.build((None, *IMAGE_SHAPE))
    model.compile(keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True).cache()
    steps = len(images) // batch_size
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(data.prefetch(tf.data.AUTOTUNE), epochs=epochs, shuffle=False, verbose=0, callbacks=[Timer()])
    rates = [steps * batch_size / t for t in times[1:]]
    return statistics.median(rates), rates


def pipeline_rate(num_images, batch_size=64):
    """images/s of make_dataset over freshly prepared TFRecords (second pass, parsing included)."""
    with tempfile.TemporaryDirectory() as tmp:
        prepare(tmp + "/data", render_source(), subset=num_images, val_size=0, seed=0, progress=False)
        dataset = make_dataset(tmp + "/data", "train", batch_size=batch_size, seed=0)
        for _ in dataset:
            pass
        start = time.perf_counter()
        count = sum(int(batch.shape[0]) for batch in dataset)
        return count / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048, help="in-memory training images per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per batch size; the first is excluded")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 256])
    args = parser.parse_args(argv)

    images = render_dsprites(DSprites.sample_factors(args.images, 0)).astype("float32")[..., None]
    model = BetaVAE(latent_dim=10)
    model.build((None, *IMAGE_SHAPE))
    forward = layer_flops(model)
    # Backward costs two forwards (gradients of inputs and of weights), except that nothing needs
    # the gradient of the images, the first layer's input.
    train_flops = 3 * sum(forward) - forward[0]
    peak = peak_flops()
    result = {
        "device": "cpu" if not tf.config.list_physical_devices("GPU") else "gpu",
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "forward_mflop_per_image": sum(forward) / 1e6,
        "profiler_forward_mflop_per_image": profiler_forward_flops(model) / 1e6,
        "train_mflop_per_image": train_flops / 1e6,
        "peak_gflops_matmul_f32": peak / 1e9,
        "train_images_per_s": {},
        "fraction_of_peak": {},
        "epoch_rates": {},
    }
    for batch_size in args.batch_sizes:
        rate, rates = training_rate(images, batch_size, args.epochs)
        result["train_images_per_s"][str(batch_size)] = round(rate, 1)
        result["fraction_of_peak"][str(batch_size)] = round(rate * train_flops / peak, 3)
        result["epoch_rates"][str(batch_size)] = [round(r, 1) for r in rates]
    result["pipeline_images_per_s"] = round(pipeline_rate(args.images * 2), 1)
    result["meets_target_900_at_64"] = result["train_images_per_s"].get("64", 0) >= 900
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
