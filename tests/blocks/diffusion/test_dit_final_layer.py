import numpy as np

from dlzoo.blocks import DiTFinalLayer
from dlzoo.testing import TestCase

INPUTS = {"inputs": (2, 5, 16), "condition": (2, 8)}


def silu(x):
    return x / (1.0 + np.exp(-x))


def final_layer_reference(x, c, mod_kernel, mod_bias, kernel, bias, epsilon=1e-6):
    """DiT's FinalLayer (Peebles & Xie 2023) in float64: shift, scale = chunk(Linear(SiLU(c)), 2)."""
    x = x.astype("float64")
    m = silu(c.astype("float64")) @ mod_kernel + mod_bias
    d = x.shape[-1]
    shift, scale = m[:, :d], m[:, d:]
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    normed = (x - mean) / np.sqrt(var + epsilon)
    return (normed * (1 + scale[:, None]) + shift[:, None]) @ kernel + bias


class DiTFinalLayerTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            DiTFinalLayer,
            init_kwargs={"patch_size": 2, "output_channels": 3, "kernel_initializer": "glorot_uniform"},
            input_shape=INPUTS,
            expected_output_shape=(2, 5, 12),
            expected_num_trainable_weights=4,
        )

    def test_block_basics_zero_init(self):
        # DiT's initialization: zero output kernel, so the modulation gets no gradient on step one.
        self.run_block_test(
            DiTFinalLayer,
            init_kwargs={"patch_size": 1, "output_channels": 2},
            input_shape=INPUTS,
            expected_output_shape=(2, 5, 2),
            weights_without_gradient=("modulation",),
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 5, 16)).astype("float32")
        c = rng.standard_normal((2, 8)).astype("float32")
        layer = DiTFinalLayer(patch_size=2, output_channels=3)
        layer.build(x.shape, c.shape)
        weights = {
            "mod_kernel": rng.standard_normal((8, 32)) * 0.3,
            "mod_bias": rng.standard_normal(32) * 0.3,
            "kernel": rng.standard_normal((16, 12)) * 0.3,
            "bias": rng.standard_normal(12) * 0.3,
        }
        layer.modulation.modulation.kernel.assign(weights["mod_kernel"].astype("float32"))
        layer.modulation.modulation.bias.assign(weights["mod_bias"].astype("float32"))
        layer.output_proj.kernel.assign(weights["kernel"].astype("float32"))
        layer.output_proj.bias.assign(weights["bias"].astype("float32"))
        self.assertAllClose(layer(x, condition=c), final_layer_reference(x, c, **weights), atol=1e-4)

    def test_zero_at_init_and_count(self):
        layer = DiTFinalLayer(patch_size=2, output_channels=8)
        out = layer(np.ones((2, 4, 16), "float32"), condition=np.ones((2, 16), "float32"))
        self.assertAllClose(out, np.zeros((2, 4, 32)), atol=0)
        # DiT-XL/2: adaLN Linear(1152 -> 2304) + Linear(1152 -> 2 * 2 * 8).
        self.assertEqual(layer.count_params_for((2, 256, 1152), (2, 1152)), 1152 * 2304 + 2304 + 1153 * 32)
        self.assertEqual(layer.count_params(), layer.count_params_for((2, 4, 16), (2, 16)))

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "patch_size", "0"):
            DiTFinalLayer(patch_size=0, output_channels=4)
        with self.assertRaisesNamed(ValueError, "output_channels", "-2"):
            DiTFinalLayer(patch_size=2, output_channels=-2)
        with self.assertRaisesNamed(ValueError, "kernel_initializer"):
            DiTFinalLayer(patch_size=2, output_channels=4, kernel_initializer="nope")
