"""bvae_tf.images: image tiles and latent traversals (pure numpy)."""

import unittest

import numpy as np

from bvae_tf.images import label_rows, tile, traversal_grid

WEIGHTS = np.array([0.3, -0.2, 0.5, 0.1])


def decode(latents):
    """A stand-in decoder: image k is uniformly sigmoid(latents[k] . WEIGHTS), [N, 64, 64, 1]."""
    value = 1 / (1 + np.exp(-(np.asarray(latents) @ WEIGHTS)))
    return np.broadcast_to(value[:, None, None, None], (len(latents), 64, 64, 1))


class ImagesTest(unittest.TestCase):
    def test_tile_places_images_row_major_and_pads_with_zeros(self):
        images = np.arange(1, 6, dtype=np.float32)[:, None, None] * np.ones((5, 2, 3), np.float32)
        grid = tile(images, columns=2)
        self.assertEqual(grid.shape, (3 * 2, 2 * 3))
        np.testing.assert_array_equal(grid[::2, ::3], [[1, 2], [3, 4], [5, 0]])

    def test_traversal_rows_follow_kl_and_vary_one_latent(self):
        code = np.array([0.5, -1.0, 2.0, 0.0])
        kl = [0.1, 3.0, 0.0, 1.0]
        values = np.linspace(-3, 3, 5)
        grid, order = traversal_grid(decode, code, kl, values=values)
        self.assertEqual(grid.shape, (4 * 64, 5 * 64))
        np.testing.assert_array_equal(order, [1, 3, 0, 2])  # largest KL first
        for row, latent in enumerate(order):
            for column, value in enumerate(values):
                changed = code.copy()
                changed[latent] = value
                cell = grid[row * 64 : (row + 1) * 64, column * 64 : (column + 1) * 64]
                np.testing.assert_allclose(cell, decode(changed[None])[0, ..., 0], rtol=1e-6)

    def test_without_kl_rows_keep_latent_order(self):
        _, order = traversal_grid(decode, np.zeros(4))
        np.testing.assert_array_equal(order, [0, 1, 2, 3])

    def test_row_labels_sit_in_a_left_margin_beside_their_row(self):
        grid = np.full((3 * 64, 2 * 64), 0.5, np.float32)
        labelled = label_rows(grid, ["z1 KL=3.00", "z0 KL=0.10", ""], width=96)
        self.assertEqual(labelled.shape, (3 * 64, 96 + 2 * 64))
        np.testing.assert_array_equal(labelled[:, 96:], grid)  # the traversal itself is untouched
        margin = labelled[:, :96]
        inked = [(margin[row * 64 : (row + 1) * 64] > 0.5).sum() for row in range(3)]
        self.assertGreater(inked[0], 20)
        self.assertGreater(inked[1], 20)
        self.assertEqual(inked[2], 0)  # no label, no ink
        rows_with_ink = np.flatnonzero((margin[:64] > 0.5).any(axis=1))
        self.assertTrue(16 <= rows_with_ink.min() and rows_with_ink.max() < 48)  # centred on its row


if __name__ == "__main__":
    unittest.main()
