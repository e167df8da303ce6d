"""Image grids for figures: tiles of images, latent traversals and their row labels (numpy, Pillow).

Shared by the TensorBoard callback and the report, so the report needs no Keras.
"""

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TRAVERSAL_VALUES = np.linspace(-3.0, 3.0, 7)


def gray_or_rgb(images):
    """Images [..., H, W, 1] as [..., H, W]; colour images [..., H, W, 3] as they are."""
    images = np.asarray(images)
    return images[..., 0] if images.ndim >= 3 and images.shape[-1] == 1 else images


def with_channels(grid):
    """A grid [H, W] or [H, W, 3] as [H, W, C] (what image summaries take)."""
    grid = np.asarray(grid)
    return grid[..., None] if grid.ndim == 2 else grid


def tile(images, columns):
    """Images [N, H, W] (or [N, H, W, 1]) or colour [N, H, W, 3] -> one grid image [rows*H,
    columns*W(, 3)] (missing cells stay 0)."""
    images = gray_or_rgb(images)
    rows = math.ceil(len(images) / columns)
    h, w = images.shape[1:3]
    grid = np.zeros((rows * h, columns * w, *images.shape[3:]), images.dtype)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = image
    return grid


def traversal_grid(decode, code, kl_per_latent=None, values=TRAVERSAL_VALUES):
    """A latent traversal: one row per latent, one column per value.

    Row i decodes ``code`` with latent i set to each of ``values`` (−3…+3 by default), the
    other latents kept at ``code``. ``decode``: latents [N, z] float32 -> probabilities
    [N, 64, 64], [N, 64, 64, 1] or colour [N, 64, 64, 3]. Rows are sorted by ``kl_per_latent``,
    largest first, so informative latents come on top. Returns (grid [z*64, len(values)*64(, 3)]
    float32, row order).
    """
    code = np.asarray(code, np.float32).reshape(-1)
    order = np.argsort(-np.asarray(kl_per_latent)) if kl_per_latent is not None else np.arange(code.size)
    latents = np.repeat(code[None], len(order) * len(values), axis=0)
    for row, latent in enumerate(order):
        latents[row * len(values) : (row + 1) * len(values), latent] = values
    images = np.asarray(decode(latents), np.float32).reshape(len(latents), 64, 64, -1)
    return tile(images, len(values)), order


def label_rows(grid, labels, width=96):
    """``grid`` [rows*H, W] (values 0…1) with a ``width``-pixel margin on the left holding one label
    per row, e.g. ``z3 KL=2.41``, white on black, vertically centred on its row. Text is drawn with
    Pillow's built-in font, so a TensorBoard image says which latent each traversal row is."""
    grid = np.asarray(grid, np.float32)
    row_height = grid.shape[0] // len(labels)
    margin = Image.new("L", (width, grid.shape[0]), 0)
    draw = ImageDraw.Draw(margin)
    font = ImageFont.load_default(size=min(12, row_height // 3))
    for row, label in enumerate(labels):
        draw.text((3, (row + 0.5) * row_height), label, fill=255, font=font, anchor="lm")
    margin = np.asarray(margin, np.float32) / 255.0
    if grid.ndim == 3:
        margin = np.repeat(margin[..., None], grid.shape[2], axis=2)
    return np.concatenate([margin, grid], axis=1)
