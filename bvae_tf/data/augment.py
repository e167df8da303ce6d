"""The dSprites variants' random transformations in TensorFlow, stateless: keyed per image.

Training reads the binary sprites from TFRecords and colours them on the fly. Each image's
random numbers are a pure function of its integer key ``(seed, epoch, image index)``, so an
image gets the same colour, noise or background whatever batch it lands in, a resumed run sees
the same stream, and each epoch gets new ones. The distributions are the reference's
(bvae_tf.data.variants); the numbers are our generator's.

The generator is `bvae_tf.data.keyed`'s, in TensorFlow ops (bit-identical numbers): a 32-bit
hash per number, computed for a whole batch in a few integer ops. TensorFlow's ``stateless_*``
ops take one seed per call, so a per-image key would mean one op per image (a per-image
``map``: 2-5x slower than plain sprites here, and the data pipeline shares the CPU with training).
"""

import tensorflow as tf

from bvae_tf.data import keyed
from bvae_tf.data.keyed import COLOR, CROP_X, CROP_Y, NOISE, SHIFT

VARIANTS = ("color", "noise", "scream")
PATCH = 64
_xor, _shift = tf.bitwise.bitwise_xor, tf.bitwise.right_shift


def _mix(x):
    """murmur3's finalizer on uint32 tensors (products wrap), as ``keyed.mix``."""
    x = _xor(x, _shift(x, 16)) * keyed.MIX1
    x = _xor(x, _shift(x, 13)) * keyed.MIX2
    return _xor(x, _shift(x, 16))


def _words(values):
    """int64 [B] -> (low, high) uint32 [B] halves."""
    values = tf.cast(values, tf.int64)
    low = tf.cast(tf.bitwise.bitwise_and(values, 0xFFFFFFFF), tf.uint32)
    return low, tf.cast(_shift(values, 32), tf.uint32)


def keyed_uniform(keys, shape, stream, low=0.0, high=1.0):
    """float32 [B, *shape] uniform in [low, high): image b's numbers depend on ``keys[b]`` (int64
    [B, 3]: seed, epoch, index) and ``stream`` only; equal to ``keyed.keyed_uniform``."""
    state = tf.fill(tf.shape(keys)[:1], tf.constant((keyed.GOLDEN * (stream + 1)) & 0xFFFFFFFF, tf.uint32))
    for column in range(3):
        for word in _words(keys[:, column]):
            state = _mix(_xor(state, word) + keyed.STEP)
    count = 1
    for size in shape:
        count *= size
    counters = tf.cast(tf.range(count, dtype=tf.int32), tf.uint32) * keyed.COUNTER
    bits = _mix(_xor(state[:, None], counters[None, :]))
    uniform = tf.cast(_shift(bits, 8), tf.float32) * (1.0 / (1 << 24))
    return tf.reshape(tf.constant(low, tf.float32) + tf.constant(high - low, tf.float32) * uniform, [-1, *shape])


def keyed_randint(keys, high, stream):
    """int32 [B] uniform in [0, high) per image key (``high`` a scalar tensor)."""
    uniform = keyed_uniform(keys, [], stream)
    return tf.minimum(tf.cast(uniform * tf.cast(high, tf.float32), tf.int32), tf.cast(high, tf.int32) - 1)


def augment(sprites, keys, variant, painting=None):
    """Apply ``variant`` to float32 sprites [B, 64, 64, 1] of 0/1 -> float32 [B, 64, 64, 3].

    ``keys``: int64 [B, 3], (seed, epoch, image index) per image. ``painting``: for ``scream``,
    the uint8 [H, W, 3] thumbnail of The Scream.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    sprites = tf.repeat(tf.cast(sprites, tf.float32), 3, axis=3)
    if variant == "color":
        return sprites * keyed_uniform(keys, [1, 1, 3], COLOR, 0.5, 1.0)
    if variant == "noise":
        return tf.minimum(sprites + keyed_uniform(keys, [PATCH, PATCH, 3], NOISE), 1.0)
    scream = tf.cast(painting, tf.float32) / 255.0
    height, width = tf.shape(scream)[0], tf.shape(scream)[1]
    x = keyed_randint(keys, height - PATCH, CROP_X)
    y = keyed_randint(keys, width - PATCH, CROP_Y)
    rows = tf.gather(scream, x[:, None] + tf.range(PATCH)[None, :])  # [B, 64, W, 3]
    crop = tf.gather(rows, y[:, None] + tf.range(PATCH)[None, :], axis=2, batch_dims=1)  # [B, 64, 64, 3]
    background = (crop + keyed_uniform(keys, [1, 1, 3], SHIFT)) / 2.0
    return tf.where(sprites == 1.0, 1.0 - background, background)
