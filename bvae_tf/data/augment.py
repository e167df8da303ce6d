"""The dSprites variants' random transformations in TensorFlow, stateless: keyed per image.

Training reads the binary sprites from TFRecords and colours them on the fly. Each image's
random numbers come from ``tf.random.stateless_*`` with a seed derived from its integer key
``(seed, epoch, image index)``, so an image gets the same colour, noise or background whatever
batch it lands in, a resumed run sees the same stream, and each epoch gets new ones. The
distributions are the reference's (bvae_tf.data.variants); the numbers are TensorFlow's.

One image at a time, for a parallel ``tf.data`` map: the stateless ops take one seed per call
and have no vectorised form (``tf.vectorized_map`` falls back to a loop, 7x slower here).
"""

import tensorflow as tf

VARIANTS = ("color", "noise", "scream")
PATCH = 64


def augment(sprite, key, variant, painting=None):
    """Apply ``variant`` to one float32 sprite [64, 64, 1] of 0/1 -> float32 [64, 64, 3].

    ``key``: int64 [3], (seed, epoch, image index). ``painting``: for ``scream``, the uint8
    [H, W, 3] thumbnail of The Scream.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    key = tf.cast(key, tf.int64)
    seed = tf.random.experimental.stateless_fold_in(key[:2], key[2])
    sprite = tf.repeat(tf.cast(sprite, tf.float32), 3, axis=2)
    if variant == "color":
        return sprite * tf.random.stateless_uniform([1, 1, 3], seed, 0.5, 1.0)
    if variant == "noise":
        return tf.minimum(sprite + tf.random.stateless_uniform([PATCH, PATCH, 3], seed), 1.0)
    scream = tf.cast(painting, tf.float32) / 255.0
    x_seed, y_seed, colour_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    height, width = tf.shape(scream)[0], tf.shape(scream)[1]
    x = tf.random.stateless_uniform([], x_seed, 0, height - PATCH, tf.int32)
    y = tf.random.stateless_uniform([], y_seed, 0, width - PATCH, tf.int32)
    crop = tf.slice(scream, tf.stack([x, y, 0]), [PATCH, PATCH, 3])
    background = (crop + tf.random.stateless_uniform([3], colour_seed)) / 2.0
    return tf.where(sprite == 1.0, 1.0 - background, background)
