"""dSprites ground truth and a faithful procedural renderer (specification: docs/dsprites.md).

The official dataset (Matthey et al., 2017) holds one 64x64 binary image per combination of
shape (3) x scale (6) x orientation (40) x posX (32) x posY (32) = 737,280 images, in row-major
order with posY fastest. Our machines cannot download it, so :func:`render_dsprites` draws any
image from its factor classes, and :class:`DSprites` is the ground truth every other part uses
(factor names and sizes, class <-> value <-> image index, seeded sampling, images for factors).

Conventions: posX = 0 is the left edge and posY = 0 the top (row 0), as in the official file.
"""

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bvae_tf.data.ground_truth import GroundTruthData, check_indices

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
IMAGE_SIZE = 64
SHAPE_NAMES = ("square", "ellipse", "heart")

FACTOR_VALUES = (
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)

# Shape geometry at scale 1, in pixels (spec: "Shapes at scale 1").
_SQUARE_HALF_SIDE = 9.6
_ELLIPSE_SEMI_AXES = (12.76, 7.215)
_HEART_HALF_WIDTH = 9.6
_HEART_V_SCALE = 19.15 / 28.92325
_HEART_Y_SHIFT = 2.53837
_HEART_V_OFFSET = 0.245
# Every shape lies within 13.6 px of its centre (the square's half diagonal), so a window of
# 30 x 30 pixels around the centre holds every lit pixel; testing only that window is 4.5x cheaper.
_WINDOW = 30
_WINDOW_BEFORE = 14


@functools.cache
def _heart_profile(samples=1 << 15):
    """Right half of the heart outline as two functions of the height Y, tabulated on a uniform grid.

    Y(t) = 13cos t - 5cos 2t - 2cos 3t - cos 4t rises from 5 (the notch, t = 0) to its maximum
    11.923 (t = 0.908) and then falls to -17 (the tip, t = pi), while u(t) = 9.6 sin^3 t >= 0.
    A point (u, Y) is inside iff |u| lies between the rising branch (the notch side; 0 below the
    notch) and the falling branch (the outer edge) at that height. A uniform grid turns the
    lookup into index arithmetic, ten times faster than np.interp's search on 737,280 images.
    """
    t = np.linspace(0.0, np.pi, 4 * samples)
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    u = _HEART_HALF_WIDTH * np.sin(t) ** 3
    top = int(np.argmax(y))
    grid = np.linspace(-17.0, y[top], samples)
    falling = np.interp(grid, y[top:][::-1], u[top:][::-1])  # np.interp needs increasing x
    rising = np.interp(grid, y[: top + 1], u[: top + 1], left=0.0)
    # One row per grid step: (outer edge, its increment, notch edge, its increment), so that a
    # single gather fetches everything the linear interpolation needs.
    table = np.stack([falling[:-1], np.diff(falling), rising[:-1], np.diff(rising)], axis=1)
    return grid[0], (samples - 1) / (grid[-1] - grid[0]), table.astype(np.float32)


def _inside_heart(u, v):
    """Inside test in local scale-1 coordinates (v down); u, v are float32 arrays of one shape."""
    y_min, per_step, table = _heart_profile()
    # Table position of the height Y = -(v - offset) / v_scale - y_shift, as one multiply-add.
    slope = np.float32(-per_step / _HEART_V_SCALE)
    intercept = np.float32((_HEART_V_OFFSET / _HEART_V_SCALE - _HEART_Y_SHIFT - y_min) * per_step)
    position = v * slope + intercept
    index = np.clip(position, 0, len(table) - 1).astype(np.int32)
    frac = position - index
    rows = table[index]  # [..., 4]
    a = np.abs(u)
    outer = rows[..., 0] + frac * rows[..., 1]
    inner = rows[..., 2] + frac * rows[..., 3]
    return (position >= 0) & (position <= len(table)) & (a <= outer) & (a >= inner)


def _inside(shape, u, v):
    if shape == 0:
        return (np.abs(u) <= _SQUARE_HALF_SIDE) & (np.abs(v) <= _SQUARE_HALF_SIDE)
    if shape == 1:
        a, b = _ELLIPSE_SEMI_AXES
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return _inside_heart(u, v)


def _render_chunk(classes):
    """Render ``classes`` ([n, 5] ints) into a uint8 [n, 64, 64] array (one vectorised pass)."""
    classes = np.asarray(classes, dtype=np.int64)
    n = len(classes)
    shape, scale_c, orient_c, pos_x, pos_y = classes.T
    scale = FACTOR_VALUES[1][scale_c]
    # Orientation 39 is 2*pi; compute it as 0 so that it is bit-identical to orientation 0.
    theta = 2 * np.pi * (orient_c % 39) / 39
    cos, sin = np.cos(theta), np.sin(theta)
    cx = 16.0 + 32.0 * FACTOR_VALUES[3][pos_x]
    cy = 16.0 + 32.0 * FACTOR_VALUES[4][pos_y]
    col0 = np.floor(cx).astype(np.int64) - _WINDOW_BEFORE
    row0 = np.floor(cy).astype(np.int64) - _WINDOW_BEFORE
    offsets = np.arange(_WINDOW)
    # Pixel centres of each window relative to the sprite centre, divided by the scale.
    # float32 halves the memory traffic; its 1e-6 px error flips no pixel of the spec's numbers.
    dx = (((col0[:, None] + offsets + 0.5) - cx[:, None]) / scale[:, None]).astype(np.float32)  # [n, cols]
    dy = (((row0[:, None] + offsets + 0.5) - cy[:, None]) / scale[:, None]).astype(np.float32)  # [n, rows]
    cos, sin = cos.astype(np.float32)[:, None, None], sin.astype(np.float32)[:, None, None]
    # Map pixel centres back into the sprite's frame (inverse of the spec's rotation).
    u = dx[:, None, :] * cos - dy[:, :, None] * sin
    v = dx[:, None, :] * sin + dy[:, :, None] * cos
    window = np.zeros((n, _WINDOW, _WINDOW), dtype=bool)
    for s in range(len(SHAPE_NAMES)):
        rows = np.flatnonzero(shape == s)
        if len(rows) == n:
            window = _inside(s, u, v)
        elif len(rows):
            window[rows] = _inside(s, u[rows], v[rows])
    images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for k in range(n):  # a slice copy per image is faster than one fancy-indexed scatter
        images[k, row0[k] : row0[k] + _WINDOW, col0[k] : col0[k] + _WINDOW] = window[k]
    return images


def render_dsprites(classes, chunk_size=4096, workers=None):
    """Render dSprites images for factor classes.

    Args:
      classes: int array [N, 5] of (shape, scale, orientation, posX, posY) classes.
      chunk_size: images rendered per vectorised pass (bounds memory: ~1 MB per 100 images).
      workers: threads (numpy releases the GIL); default: the number of CPUs.
    Returns:
      uint8 array [N, 64, 64] of 0/1, identical to the official images for those factors.
    """
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"classes must have shape [N, 5], got {classes.shape}")
    if not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"classes must be integers, got {classes.dtype}")
    check_classes(classes)
    starts = range(0, len(classes), chunk_size)
    out = np.empty((len(classes), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)

    def fill(start):
        out[start : start + chunk_size] = _render_chunk(classes[start : start + chunk_size])

    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        list(pool.map(fill, starts))
    return out


def check_classes(classes):
    """Raise ValueError naming the factor when a class index is out of range."""
    classes = np.asarray(classes)
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        column = classes[:, k]
        if column.size and (column.min() < 0 or column.max() >= size):
            raise ValueError(
                f"factor {name} (column {k}) must be in [0, {size - 1}], got values in [{column.min()}, {column.max()}]"
            )


class DSprites(GroundTruthData):
    """The dSprites ground truth (``dsprites_full``): factors, official image order, sampling, images.

    ``images`` renders on demand by default, so metrics can draw any factors without holding
    the 3 GB set in memory; pass ``images`` (an array indexed in official order, e.g. from the
    official file) to look images up instead. The official constant factor color (one value,
    which draws no random number) is left out of the factors.
    """

    name = "dsprites_full"
    all_factor_names = FACTOR_NAMES
    all_factor_sizes = FACTOR_SIZES
    latent_factor_indices = (0, 1, 2, 3, 4)
    binary = True
    OPTIONS = ("images",)

    def __init__(self, images=None):
        if images is not None and len(images) != NUM_IMAGES:
            raise ValueError(f"images must hold all {NUM_IMAGES} dSprites images, got {len(images)}")
        self._images = images

    @staticmethod
    def classes_to_values(classes):
        """Factor classes [N, 5] -> factor values [N, 5] (shape 1..3, scale, radians, posX, posY)."""
        classes = np.asarray(classes)
        return np.stack([FACTOR_VALUES[k][classes[:, k]] for k in range(len(FACTOR_SIZES))], axis=1)

    @staticmethod
    def classes_to_indices(classes):
        """Factor classes [N, 5] -> image indices in the official order (posY fastest)."""
        return np.ravel_multi_index(np.asarray(classes).T, FACTOR_SIZES)

    @staticmethod
    def indices_to_classes(indices):
        """Image indices -> factor classes [N, 5]."""
        return np.stack(np.unravel_index(np.asarray(indices), FACTOR_SIZES), axis=1).astype(np.int64)

    @staticmethod
    def latents(classes):
        """The official 6-column ``latents_classes`` and ``latents_values`` (color first)."""
        classes = np.asarray(classes, dtype=np.int64)
        latents_classes = np.concatenate([np.zeros((len(classes), 1), np.int64), classes], axis=1)
        latents_values = np.concatenate([np.ones((len(classes), 1)), DSprites.classes_to_values(classes)], axis=1)
        return latents_classes, latents_values

    @staticmethod
    def sample_factors(num, random_state):
        """Draw ``num`` factor vectors [num, 5], each factor uniform and independent.

        With a ``np.random.RandomState``: the reference library's draws (one ``randint`` per
        factor, in order). With a seed or a ``np.random.Generator``: this project's own draws.
        """
        if isinstance(random_state, np.random.RandomState):
            return np.stack([random_state.randint(size, size=num) for size in FACTOR_SIZES], axis=1).astype(np.int64)
        rng = np.random.default_rng(random_state)
        return np.stack([rng.integers(0, size, num) for size in FACTOR_SIZES], axis=1)

    def images(self, which):
        """Images by index (1-D): uint8 [n, 64, 64, 1] of 0/1, the protocol's form; or by factor
        classes [N, 5]: uint8 [N, 64, 64], the form metrics and reports use."""
        which = np.asarray(which)
        if which.ndim == 1:
            classes = self.indices_to_classes(check_indices(self, which)).reshape(-1, len(FACTOR_SIZES))
            return self.images(classes)[..., None]
        if self._images is None:
            return render_dsprites(classes=which)
        return np.asarray(self._images[self.classes_to_indices(which)])
