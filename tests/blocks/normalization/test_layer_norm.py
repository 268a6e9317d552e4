import numpy as np

import keras

from dlzoo.blocks import LayerNorm
from dlzoo.testing import TestCase


def layer_norm_reference(x, scale, bias, epsilon, axis=-1):
    """NumPy formula from Ba et al. (2016), eq. 4 (biased variance), in float64."""
    x = x.astype("float64")
    mean = np.mean(x, axis=axis, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=axis, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * scale + bias


class LayerNormTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            LayerNorm,
            init_kwargs={"epsilon": 1e-5},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=2,
        )

    def test_block_basics_without_bias(self):
        layer = self.run_block_test(
            LayerNorm,
            init_kwargs={"use_bias": False},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=1,
        )
        self.assertIsNone(layer.bias)

    def test_block_basics_no_affine(self):
        self.run_block_test(
            LayerNorm,
            init_kwargs={"use_bias": False, "use_scale": False},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=0,
        )

    def test_block_basics_other_axis(self):
        self.run_block_test(
            LayerNorm,
            init_kwargs={"axis": 1},
            input_shape=(2, 6, 4),
            expected_output_shape=(2, 6, 4),
            expected_num_trainable_weights=2,
        )

    def test_matches_numpy_reference(self):
        x = (np.random.default_rng(0).standard_normal((3, 4, 8)) * 3 + 1).astype("float32")
        scale = np.linspace(0.5, 1.5, 8).astype("float32")
        bias = np.linspace(-1.0, 1.0, 8).astype("float32")
        layer = LayerNorm(epsilon=1e-5)
        layer.build(x.shape)
        layer.scale.assign(scale)
        layer.bias.assign(bias)
        self.assertAllClose(layer(x), layer_norm_reference(x, scale, bias, 1e-5), atol=1e-5)

    def test_matches_numpy_reference_without_bias_and_scale(self):
        x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype("float32")
        scale = np.linspace(0.5, 1.5, 8).astype("float32")
        layer = LayerNorm(epsilon=1e-3, use_bias=False)
        layer.build(x.shape)
        layer.scale.assign(scale)
        self.assertAllClose(layer(x), layer_norm_reference(x, scale, 0.0, 1e-3), atol=1e-5)
        unit = LayerNorm(epsilon=1e-3, use_bias=False, use_scale=False)
        self.assertAllClose(unit(x), layer_norm_reference(x, 1.0, 0.0, 1e-3), atol=1e-5)
        self.assertEqual(len(unit.weights), 0)

    def test_matches_numpy_reference_other_axis(self):
        x = np.random.default_rng(2).standard_normal((2, 6, 4)).astype("float32")
        scale = np.linspace(0.5, 1.5, 6).astype("float32")
        bias = np.linspace(-1.0, 1.0, 6).astype("float32")
        layer = LayerNorm(axis=1)
        layer.build(x.shape)
        layer.scale.assign(scale)
        layer.bias.assign(bias)
        expected = layer_norm_reference(x, scale[:, None], bias[:, None], 1e-5, axis=1)
        self.assertAllClose(layer(x), expected, atol=1e-5)

    def test_bfloat16_statistics_in_float32(self):
        # A large common offset: casting the input (or the mean) to bfloat16
        # would lose the small deviations (bfloat16 spacing at 500 is 2).
        rng = np.random.default_rng(3)
        x = (rng.standard_normal((2, 64)) + 500.0).astype("float32")
        out = LayerNorm(dtype="mixed_bfloat16")(x)
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "bfloat16")
        self.assertAllClose(out, layer_norm_reference(x, 1.0, 0.0, 1e-5), atol=3e-2)

    def test_count_params_for(self):
        for kwargs, expected in [({}, 24), ({"use_bias": False}, 12), ({"use_scale": False, "use_bias": False}, 0)]:
            layer = LayerNorm(**kwargs)
            self.assertEqual(layer.count_params_for((2, 3, 12)), expected)
            layer.build((2, 3, 12))
            self.assertEqual(layer.count_params(), expected)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "epsilon", "-1"):
            LayerNorm(epsilon=-1.0)
        with self.assertRaisesNamed(TypeError, "epsilon"):
            LayerNorm(epsilon="small")
        with self.assertRaisesNamed(TypeError, "use_bias"):
            LayerNorm(use_bias=1)
        with self.assertRaisesNamed(TypeError, "use_scale"):
            LayerNorm(use_scale="yes")
        with self.assertRaisesNamed(TypeError, "axis"):
            LayerNorm(axis=1.5)
        with self.assertRaisesNamed(ValueError, "axis", "3"):
            LayerNorm(axis=3).build((2, 4, 8))
