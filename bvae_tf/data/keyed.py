"""The stochastic dSprites variants' random numbers, keyed per image: numpy (no TensorFlow).

Training (``bvae_tf.data.augment``, the same arithmetic in TensorFlow) and evaluation draw each
image's colour, noise or background as a pure function of an integer key ``(seed, epoch or
stream, image index or draw)``: the same key gives the same observation whatever else is drawn
with it, a resumed run sees the same stream, and another key gives fresh numbers, as the
reference's sampling does. The distributions are the reference's (bvae_tf.data.variants).

The generator is counter-based: per number, murmur3's 32-bit finalizer of (key hash, stream,
element counter), in wrapping uint32 arithmetic, 24 bits kept. Both implementations give
bit-identical numbers (tested).
"""

import numpy as np

PATCH = 64
COLOR, NOISE, CROP_X, CROP_Y, SHIFT = range(5)  # streams: the parts of one image's transformation
GOLDEN, STEP, COUNTER = 0x9E3779B9, 0x7F4A7C15, 0x27D4EB2F
MIX1, MIX2 = 0x85EBCA6B, 0xC2B2AE35


def mix(x):
    """murmur3's finalizer on uint32 arrays (products wrap)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(MIX1)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(MIX2)
    return x ^ (x >> np.uint32(16))


def key_state(keys, stream):
    """uint32 [B]: the hash of each int64 key [B, 3] and ``stream``."""
    keys = np.asarray(keys, np.int64).reshape(-1, 3)
    state = np.full(len(keys), (GOLDEN * (stream + 1)) & 0xFFFFFFFF, np.uint32)
    with np.errstate(over="ignore"):
        for column in range(3):
            for word in ((keys[:, column] & 0xFFFFFFFF).astype(np.uint32), (keys[:, column] >> 32).astype(np.uint32)):
                state = mix((state ^ word) + np.uint32(STEP))
    return state


def keyed_uniform(keys, shape, stream, low=0.0, high=1.0):
    """float32 [B, *shape] uniform in [low, high), image b's numbers from ``keys[b]`` and ``stream`` only."""
    state = key_state(keys, stream)
    count = int(np.prod(shape, dtype=np.int64))
    with np.errstate(over="ignore"):
        counters = np.arange(count, dtype=np.uint32) * np.uint32(COUNTER)
        bits = mix(state[:, None] ^ counters[None, :])
    uniform = (bits >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    return (np.float32(low) + np.float32(high - low) * uniform).reshape(-1, *shape)


def keyed_randint(keys, high, stream):
    """int [B] uniform in [0, high)."""
    uniform = keyed_uniform(keys, [], stream)
    return np.minimum((uniform * np.float32(high)).astype(np.int64), high - 1)


def keyed_observe(variant, sprites, keys, painting=None):
    """Observations float32 [B, 64, 64, 3] of binary sprites [B, 64, 64, 1] under ``variant``
    ("color", "noise" or "scream", with the uint8 thumbnail ``painting``)."""
    sprites = np.repeat(np.asarray(sprites, np.float32), 3, axis=3)
    if variant == "color":
        return sprites * keyed_uniform(keys, [1, 1, 3], COLOR, 0.5, 1.0)
    if variant == "noise":
        return np.minimum(sprites + keyed_uniform(keys, [PATCH, PATCH, 3], NOISE), np.float32(1.0))
    if variant != "scream":
        raise ValueError(f"variant must be color, noise or scream, got {variant!r}")
    scream = painting.astype(np.float32) / np.float32(255.0)
    height, width = scream.shape[:2]
    x = keyed_randint(keys, height - PATCH, CROP_X)
    y = keyed_randint(keys, width - PATCH, CROP_Y)
    crops = np.stack([scream[i : i + PATCH, j : j + PATCH] for i, j in zip(x, y)])
    background = (crops + keyed_uniform(keys, [1, 1, 3], SHIFT)) / np.float32(2.0)
    return np.where(sprites == 1.0, np.float32(1.0) - background, background).astype(np.float32)
