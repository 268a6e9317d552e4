import math

import numpy as np

from dlzoo.blocks import GeGLU
from dlzoo.registry import init_arguments
from dlzoo.testing import TestCase

_erf = np.vectorize(math.erf)


def geglu_reference(x, wg, bg, wi, bi, wo, bo):
    """Shazeer (2020) eq. 6, FFN_GEGLU(x) = (GELU(x W) * x V) W2 (+ biases), exact GELU, float64."""
    x = x.astype("float64")
    gate = x @ wg + bg
    return (0.5 * gate * (1.0 + _erf(gate / math.sqrt(2.0))) * (x @ wi + bi)) @ wo + bo


class GeGLUTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            GeGLU,
            init_kwargs={"intermediate_dim": 24, "use_bias": True, "output_dim": 8},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 8),
            expected_num_trainable_weights=6,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((2, 3, 8)) * 2).astype("float32")
        layer = GeGLU(intermediate_dim=12, use_bias=True)
        layer.build(x.shape)
        params = []
        for dense in (layer.gate_proj, layer.inner_proj, layer.output_proj):
            kernel = (rng.standard_normal(dense.kernel.shape) * 0.5).astype("float32")
            bias = (rng.standard_normal(dense.bias.shape) * 0.5).astype("float32")
            dense.kernel.assign(kernel)
            dense.bias.assign(bias)
            params += [kernel, bias]
        self.assertAllClose(layer(x), geglu_reference(x, *params), atol=2e-5, rtol=1e-5)

    def test_activation_is_fixed(self):
        layer = GeGLU(intermediate_dim=8)
        self.assertEqual(layer.activation, "gelu")
        self.assertNotIn("activation", layer.get_config())
        self.assertNotIn("activation", init_arguments(GeGLU))
        with self.assertRaisesNamed(TypeError, "activation"):
            GeGLU(intermediate_dim=8, activation="gelu")

    def test_inner_dim(self):
        self.assertEqual(GeGLU.inner_dim(3072, width_factor=2 / 3), 2048)
        layer = GeGLU(intermediate_dim=30, width_factor=2 / 3, multiple_of=8)
        layer.build((2, 4))
        self.assertEqual(layer.inner_dim, 24)
        self.assertEqual(layer.count_params_for((2, 4)), layer.count_params())

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "intermediate_dim"):
            GeGLU(intermediate_dim=0)
        with self.assertRaisesNamed(ValueError, "width_factor"):
            GeGLU(intermediate_dim=8, width_factor=-1.0)
        with self.assertRaisesNamed(TypeError, "use_bias"):
            GeGLU(intermediate_dim=8, use_bias=1)
