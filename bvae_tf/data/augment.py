"""The dSprites variants' random transformations in TensorFlow, stateless: keyed per image.

Training reads the binary sprites from TFRecords and colours them on the fly. Each image's
random numbers come from ``tf.random.stateless_*`` with a seed derived from its integer key
``(seed, epoch, image index)``, so an image gets the same colour, noise or background whatever
batch it lands in, a resumed run sees the same stream, and each epoch gets new ones. The
distributions are the reference's (bvae_tf.data.variants); the numbers are TensorFlow's.
"""

import tensorflow as tf

VARIANTS = ("color", "noise", "scream")
PATCH = 64


def image_seeds(keys):
    """int64 keys [B, 3] of (seed, epoch, index) -> one stateless seed [B, 2] per image."""
    return tf.vectorized_map(
        lambda key: tf.random.experimental.stateless_fold_in(key[:2], key[2]), tf.cast(keys, tf.int64)
    )


def augment(sprites, keys, variant, painting=None):
    """Apply ``variant`` to float32 sprites [B, 64, 64, 1] of 0/1 -> float32 [B, 64, 64, 3].

    ``keys``: int64 [B, 3] of (seed, epoch, index).
    ``painting``: for ``scream``, the uint8 [H, W, 3] thumbnail of The Scream.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    sprites = tf.repeat(tf.cast(sprites, tf.float32), 3, axis=3)
    seeds = image_seeds(keys)
    if variant == "color":
        color = tf.vectorized_map(lambda s: tf.random.stateless_uniform([1, 1, 3], s, 0.5, 1.0), seeds)
        return sprites * color
    if variant == "noise":
        noise = tf.vectorized_map(lambda s: tf.random.stateless_uniform([PATCH, PATCH, 3], s), seeds)
        return tf.minimum(sprites + noise, 1.0)
    scream = tf.cast(painting, tf.float32) / 255.0
    height, width = tf.shape(scream)[0], tf.shape(scream)[1]

    def background(seed):
        corner_seed, colour_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        corner = tf.random.stateless_uniform(
            [2], corner_seed, tf.zeros([2], tf.int32), tf.stack([height - PATCH, width - PATCH]), tf.int32
        )
        crop = tf.slice(scream, tf.concat([corner, [0]], 0), [PATCH, PATCH, 3])
        return (crop + tf.random.stateless_uniform([3], colour_seed)) / 2.0

    backgrounds = tf.map_fn(background, seeds, fn_output_signature=tf.float32)
    return tf.where(sprites == 1.0, 1.0 - backgrounds, backgrounds)
