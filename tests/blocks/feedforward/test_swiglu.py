import numpy as np

from dlzoo.blocks import GatedLinearUnit, SwiGLU
from dlzoo.registry import init_arguments
from dlzoo.testing import TestCase


def swiglu_reference(x, wg, wi, wo):
    """Shazeer (2020) eq. 6, FFN_SwiGLU(x) = (Swish_1(x W) * x V) W2, float64."""
    x = x.astype("float64")
    gate = x @ wg
    return (gate / (1.0 + np.exp(-gate)) * (x @ wi)) @ wo


class SwiGLUTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            SwiGLU,
            init_kwargs={"intermediate_dim": 24, "width_factor": 2 / 3, "multiple_of": 8},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=3,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 3, 8)).astype("float32")
        layer = SwiGLU(intermediate_dim=12)
        layer.build(x.shape)
        kernels = []
        for dense in (layer.gate_proj, layer.inner_proj, layer.output_proj):
            kernel = (rng.standard_normal(dense.kernel.shape) * 0.5).astype("float32")
            dense.kernel.assign(kernel)
            kernels.append(kernel)
        self.assertAllClose(layer(x), swiglu_reference(x, *kernels), atol=2e-5, rtol=1e-5)

    def test_activation_is_fixed(self):
        layer = SwiGLU(intermediate_dim=8)
        self.assertEqual(layer.activation, "silu")
        self.assertNotIn("activation", layer.get_config())
        self.assertNotIn("activation", init_arguments(SwiGLU))
        self.assertIsInstance(layer, GatedLinearUnit)
        with self.assertRaisesNamed(TypeError, "activation"):
            SwiGLU(intermediate_dim=8, activation="relu")

    def test_llama_widths(self):
        self.assertEqual(SwiGLU.inner_dim(8192, width_factor=2 / 3, multiple_of=256), 5632)
        self.assertEqual(SwiGLU(16384, width_factor=2 / 3, multiple_of=256).inner_dim, 11008)
        self.assertEqual(SwiGLU(8192, width_factor=2 / 3, multiple_of=256).count_params_for((None, 2048)), 3 * 2048 * 5632)
        self.assertEqual(
            SwiGLU(8192, use_bias=True, width_factor=2 / 3, multiple_of=256).count_params_for((None, 2048)),
            3 * 2048 * 5632 + 2 * 5632 + 2048,
        )

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "intermediate_dim"):
            SwiGLU(intermediate_dim=-1)
        with self.assertRaisesNamed(ValueError, "dropout"):
            SwiGLU(intermediate_dim=8, dropout=-0.1)
        with self.assertRaisesNamed(ValueError, "multiple_of"):
            SwiGLU(intermediate_dim=8, multiple_of=-256)
