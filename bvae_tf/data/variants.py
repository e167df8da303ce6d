"""The dSprites variants of the benchmark: no shape, colour, noise, The Scream (numpy, reference draws).

Each looks the binary sprites up like ``dsprites_full`` and then draws from the same
``RandomState``, in the same order, exactly what the reference library's classes draw, so the
factors and observations are the same numbers. The formulas (and why scream's thumbnail takes
a 2-tuple) are in docs/datasets.md. The stateless TensorFlow form used in training is
``bvae_tf.data.augment``.
"""

import os

import numpy as np

from bvae_tf.data.dsprites import DSprites
from bvae_tf.data.ground_truth import GroundTruthData, data_root
from bvae_tf.errors import UserError

SCREAM_FILE = "scream.jpg"
SCREAM_BOUND = (350, 274)  # (width, height) that the thumbnail fits within
PATCH = 64


class DSpritesNoShape(DSprites):
    """dSprites with shape a nuisance: latent scale, orientation, posX, posY."""

    name = "dsprites_noshape"
    latent_factor_indices = (1, 2, 3, 4)

    def sample_factors(self, num, random_state):
        return GroundTruthData.sample_factors(self, num, random_state)


class _ColoredSprites(DSprites):
    """Base of the three-channel variants: ``images`` are the binary sprites (one channel)."""

    channels = 3
    stored_channels = 1
    stochastic = True
    variant = None  # the name bvae_tf.data.augment knows the transformation by

    def observe(self, images, random_state):
        sprites = np.repeat(images.astype(np.float32), 3, axis=3)
        return self.transform(sprites, random_state).astype(np.float32)


class ColorDSprites(_ColoredSprites):
    """The sprite in a random colour (each channel uniform in [0.5, 1]) on black."""

    name = "color_dsprites"
    variant = "color"

    @staticmethod
    def transform(sprites, random_state):
        return sprites * random_state.uniform(0.5, 1, [len(sprites), 1, 1, 3])


class NoisyDSprites(_ColoredSprites):
    """Uniform noise added to every pixel, clipped at 1 (the sprite stays white)."""

    name = "noisy_dsprites"
    variant = "noise"

    @staticmethod
    def transform(sprites, random_state):
        return np.minimum(sprites + random_state.uniform(0, 1, [len(sprites), PATCH, PATCH, 3]), 1.0)


class ScreamDSprites(_ColoredSprites):
    """A random patch of The Scream, tinted, as background; the sprite inverts it."""

    name = "scream_dsprites"
    variant = "scream"
    OPTIONS = ("images", "scream_path", "data_root")

    def __init__(self, images=None, scream_path=None, data_root=None):
        super().__init__(images)
        self.scream_path = scream_path or default_scream_path(data_root)
        self.painting = load_scream(self.scream_path)  # uint8 [H, W, 3], the thumbnail

    def source_files(self):
        return [self.scream_path]

    def transform(self, sprites, random_state):
        scream = self.painting / 255.0
        height, width = scream.shape[:2]
        out = np.empty(sprites.shape, dtype=np.float64)
        for i in range(len(sprites)):  # the reference's per-image order of draws: x, y, colour
            x = random_state.randint(0, height - PATCH)
            y = random_state.randint(0, width - PATCH)
            background = (scream[x : x + PATCH, y : y + PATCH] + random_state.uniform(0, 1, size=3)) / 2.0
            out[i] = np.where(sprites[i] == 1, 1 - background, background)
        return out


def default_scream_path(root=None):
    return os.path.join(data_root(root), "scream", SCREAM_FILE)


def load_scream(path):
    """The painting as the reference uses it: RGB, Pillow's thumbnail within 350 x 274, uint8."""
    from PIL import Image, UnidentifiedImageError

    where = (
        f"put the painting (e.g. the Wikimedia Commons file of Munch's The Scream) at {path}, "
        "or pass --data-root (it looks in <root>/scream/) or scream_path"
    )
    if not os.path.isfile(path):
        raise UserError(f"scream_dsprites: {SCREAM_FILE} not found at {path}; {where}")
    try:
        with Image.open(path) as image:
            image = image.convert("RGB") if image.mode != "RGB" else image.copy()
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"scream_dsprites: {path} is not a readable image ({error}); {where}") from None
    image.thumbnail(SCREAM_BOUND)
    painting = np.asarray(image, dtype=np.uint8)
    if painting.shape[0] <= PATCH or painting.shape[1] <= PATCH:
        raise UserError(
            f"scream_dsprites: {path} is {image.width} x {image.height} pixels after fitting it within "
            f"350 x 274; it must be larger than {PATCH} x {PATCH}"
        )
    return painting
