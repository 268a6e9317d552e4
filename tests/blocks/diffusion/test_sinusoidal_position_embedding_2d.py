import keras
import numpy as np

from dlzoo.blocks import SinusoidalPositionEmbedding2D
from dlzoo.testing import TestCase


def sincos_1d(dim, positions):
    """The 1-D table of MAE/DiT, float64: [sin(pos * omega) | cos(pos * omega)], omega = 1e4 ** (-k / (dim / 2))."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype="float64") / (dim / 2.0))
    angles = np.outer(positions.reshape(-1), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def dit_table(dim, grid_size):
    """DiT's `get_2d_sincos_pos_embed(dim, grid_size)` (MAE), float64: (grid_size**2, dim).

    The meshgrid puts the width coordinate first, so the first half encodes the column.
    """
    coords = np.arange(grid_size, dtype="float64")
    grid = np.stack(np.meshgrid(coords, coords), axis=0).reshape(2, 1, grid_size, grid_size)
    return np.concatenate([sincos_1d(dim // 2, grid[0]), sincos_1d(dim // 2, grid[1])], axis=1)


class SinusoidalPositionEmbedding2DTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            SinusoidalPositionEmbedding2D,
            init_kwargs={},
            input_shape=(2, 3, 4, 16),
            expected_output_shape=(2, 3, 4, 16),
            expected_num_trainable_weights=0,
        )

    def test_matches_dit_table(self):
        layer = SinusoidalPositionEmbedding2D()
        out = keras.ops.convert_to_numpy(layer(np.zeros((2, 16, 16, 32), "float32")))
        self.assertAllClose(out[0].reshape(256, 32), dit_table(32, 16), atol=1e-5)
        self.assertAllClose(out[1], out[0], atol=0)  # the same table for every example

    def test_rectangular_grid_rows_and_columns(self):
        d = 8
        out = keras.ops.convert_to_numpy(SinusoidalPositionEmbedding2D(max_wavelength=100.0)(np.zeros((1, 2, 3, d))))[0]
        q = d // 4
        w = 100.0 ** (-np.arange(q) / q)
        for r in range(2):
            for c in range(3):
                expected = np.concatenate([np.sin(c * w), np.cos(c * w), np.sin(r * w), np.cos(r * w)])
                self.assertAllClose(out[r, c], expected, atol=1e-6)

    def test_count_and_bad_shapes(self):
        layer = SinusoidalPositionEmbedding2D()
        self.assertEqual(layer.count_params_for((1, 16, 16, 1152)), 0)
        with self.assertRaisesNamed(ValueError, "hidden_dim", "(2, 4, 4, 6)"):
            layer.build((2, 4, 4, 6))
        with self.assertRaisesNamed(ValueError, "max_wavelength"):
            SinusoidalPositionEmbedding2D(max_wavelength=0)
