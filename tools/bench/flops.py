"""Training FLOPs per image of BetaVAE (counted by hand, cross-checked with TF's profiler) and
the machine's float32 matmul peak, for the fraction of peak a training run reaches."""

import time

import keras
import numpy as np
import tensorflow as tf

from bvae_tf.model import IMAGE_SHAPE, BetaVAE


def layer_flops(model):
    """Forward FLOPs per image of every Conv/ConvT/Dense layer of a BetaVAE, in order (2 per
    multiply-add; biases and activations not counted)."""
    flops = []
    shape = IMAGE_SHAPE
    for layer in [
        *model.encoder.body,
        model.encoder.mean_head,
        model.encoder.logvar_head,
        *model.decoder.body,
        model.decoder.logits_head,
    ]:
        if isinstance(layer, keras.layers.Dense):
            if layer is model.encoder.logvar_head:  # a second head on the same 256 features
                flops.append(2 * 256 * model.latent_dim)
                continue
            flops.append(2 * shape[-1] * layer.units)
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


def training_flops(forward):
    """Backward costs two forwards (gradients of inputs and of weights), except that nothing
    needs the gradient of the images, the first layer's input."""
    return 3 * sum(forward) - forward[0]


def profiler_forward_flops(model):
    """TF's own count of the float ops in one image's forward pass (encoder, then decoder of the mean)."""
    fn = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec((1, *IMAGE_SHAPE), tf.float32))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(fn.graph, options=options).total_float_ops


def peak_flops(n=2048, repeats=5, dtype=tf.float32):
    """Best FLOP/s of an n x n matmul (the machine's practical dense peak, measured now)."""
    a = tf.random.normal((n, n), dtype=dtype)
    b = tf.random.normal((n, n), dtype=dtype)
    tf.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def flops_section():
    model = BetaVAE(latent_dim=10)
    model.build((None, *IMAGE_SHAPE))
    forward = layer_flops(model)
    return forward, {
        "forward_mflop_per_image": sum(forward) / 1e6,
        "profiler_forward_mflop_per_image": profiler_forward_flops(model) / 1e6,
        "train_mflop_per_image": training_flops(forward) / 1e6,
    }
