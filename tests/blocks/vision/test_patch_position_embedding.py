import math

import keras
import numpy as np
import pytest

from dlzoo.blocks.vision import PatchPositionEmbedding
from dlzoo.blocks.vision.patch_position_embedding import bicubic_resize_matrix, resize_bicubic
from dlzoo.testing import TestCase


def keys_weight(x, a=-0.75):
    """Keys (1981): the cubic convolution kernel u(x) with parameter a."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def bicubic_reference(grid, out_h, out_w):
    """Bicubic resize of a (h, w, c) array, pixel by pixel in float64: half-pixel centres, edge samples repeated."""
    grid = grid.astype("float64")
    h, w, _ = grid.shape
    out = np.zeros((out_h, out_w, grid.shape[-1]))
    for i in range(out_h):
        y = (i + 0.5) * h / out_h - 0.5
        for j in range(out_w):
            x = (j + 0.5) * w / out_w - 0.5
            for yy in range(math.floor(y) - 1, math.floor(y) + 3):
                for xx in range(math.floor(x) - 1, math.floor(x) + 3):
                    sample = grid[min(max(yy, 0), h - 1), min(max(xx, 0), w - 1)]
                    out[i, j] += keys_weight(y - yy) * keys_weight(x - xx) * sample
    return out


class PatchPositionEmbeddingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            PatchPositionEmbedding,
            init_kwargs={"grid_size": [3, 3]},
            input_shape=(2, 3, 3, 8),
            expected_output_shape=(2, 10, 8),
            expected_num_trainable_weights=1,
        )

    def test_block_basics_resized_without_prefix(self):
        self.run_block_test(
            PatchPositionEmbedding,
            init_kwargs={"grid_size": 2, "num_prefix_tokens": 0},
            input_shape=(2, 3, 5, 4),
            expected_output_shape=(2, 15, 4),
            expected_num_trainable_weights=1,
        )

    def test_same_grid_returns_the_table(self):
        layer = PatchPositionEmbedding(grid_size=[2, 3], num_prefix_tokens=1)
        out = layer(np.zeros((2, 2, 3, 5), "float32"))
        self.assertAllClose(out[0], layer.embeddings, atol=0, rtol=0)
        self.assertAllClose(out[1], layer.embeddings, atol=0, rtol=0)

    def test_resize_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        for (gh, gw), (h, w) in [((3, 3), (5, 4)), ((4, 4), (2, 3)), ((2, 5), (6, 1)), ((1, 1), (2, 2)), ((4, 4), (4, 4))]:
            grid = rng.standard_normal((gh, gw, 3)).astype("float32")
            self.assertAllClose(resize_bicubic(grid, (h, w)), bicubic_reference(grid, h, w), atol=2e-6, rtol=1e-6)

    def test_resize_matches_torch_interpolate(self):
        # Hugging Face ViT resizes with torch.nn.functional.interpolate(mode="bicubic", align_corners=False).
        torch = pytest.importorskip("torch")
        rng = np.random.default_rng(1)
        grid = rng.standard_normal((4, 4, 6)).astype("float32")
        for size in [(7, 5), (2, 3)]:
            expected = torch.nn.functional.interpolate(
                torch.tensor(grid).permute(2, 0, 1)[None], size=size, mode="bicubic", align_corners=False
            )[0].permute(1, 2, 0).numpy()
            self.assertAllClose(resize_bicubic(grid, size), expected, atol=1e-5, rtol=1e-5)

    def test_resize_matrix_rows_sum_to_one(self):
        # Keys' weights sum to 1 for any phase, and clamping keeps that at the edges: constants stay constant.
        for n_in, n_out in [(3, 7), (7, 3), (14, 24), (1, 4)]:
            np.testing.assert_allclose(bicubic_resize_matrix(n_in, n_out).sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(bicubic_resize_matrix(5, 5), np.eye(5), atol=1e-12)

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(2)
        layer = PatchPositionEmbedding(grid_size=[3, 4], num_prefix_tokens=1)
        layer.build((1, 3, 4, 5))
        table = rng.standard_normal((1 + 12, 5)).astype("float32")
        layer.embeddings.assign(table)
        out = keras.ops.convert_to_numpy(layer(np.zeros((2, 5, 2, 5), "float32")))
        expected_patches = bicubic_reference(table[1:].reshape(3, 4, 5), 5, 2).reshape(10, 5)
        self.assertEqual(out.shape, (2, 11, 5))
        self.assertAllClose(out[:, 0], np.broadcast_to(table[0], (2, 5)), atol=0, rtol=0)  # the class row is not resized
        self.assertAllClose(out[1, 1:], expected_patches, atol=2e-6, rtol=1e-6)

    def test_count_params_for(self):
        # ViT-B/16 at 224: (1 + 14 * 14) * 768; the count does not depend on the input grid.
        layer = PatchPositionEmbedding(grid_size=14)
        self.assertEqual(layer.count_params_for((None, 14, 14, 768)), 197 * 768)
        self.assertEqual(layer.count_params_for((None, 24, 24, 768)), 197 * 768)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "grid_size", "0"):
            PatchPositionEmbedding(grid_size=0)
        with self.assertRaisesNamed(ValueError, "grid_size", "[2, 3, 4]"):
            PatchPositionEmbedding(grid_size=[2, 3, 4])
        with self.assertRaisesNamed(ValueError, "num_prefix_tokens", "-1"):
            PatchPositionEmbedding(grid_size=2, num_prefix_tokens=-1)
        with self.assertRaisesNamed(ValueError, "input_shape"):
            PatchPositionEmbedding(grid_size=2).build((1, 4, 8))
