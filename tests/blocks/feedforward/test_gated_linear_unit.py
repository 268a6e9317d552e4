import math

import numpy as np

from dlzoo.blocks import GatedLinearUnit, GeGLU, SwiGLU, glu_inner_dim
from dlzoo.registry import init_arguments
from dlzoo.testing import TestCase

_erf = np.vectorize(math.erf)

ACTIVATIONS = {
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
}


def glu_reference(x, weights, activation):
    """Shazeer (2020) eq. 6: FFN(x) = (act(x W + b) * (x V + c)) W2 + b2, float64."""
    x = x.astype("float64")
    (wg, bg), (wi, bi), (wo, bo) = weights["gate_proj"], weights["inner_proj"], weights["output_proj"]
    return (ACTIVATIONS[activation](x @ wg + bg) * (x @ wi + bi)) @ wo + bo


def set_random_weights(layer, rng):
    """Random kernels (and biases when the layer has them); returns float64 copies."""
    weights = {}
    for name in ("gate_proj", "inner_proj", "output_proj"):
        dense = getattr(layer, name)
        kernel = (rng.standard_normal(dense.kernel.shape) * 0.5).astype("float32")
        dense.kernel.assign(kernel)
        bias = np.zeros(kernel.shape[-1], "float32")
        if dense.use_bias:
            bias = (rng.standard_normal(kernel.shape[-1]) * 0.5).astype("float32")
            dense.bias.assign(bias)
        weights[name] = (kernel.astype("float64"), bias.astype("float64"))
    return weights


class GatedLinearUnitTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            GatedLinearUnit,
            init_kwargs={"intermediate_dim": 24},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=3,
        )

    def test_block_basics_bias_output_dim_width(self):
        self.run_block_test(
            GatedLinearUnit,
            init_kwargs={
                "intermediate_dim": 24,
                "activation": "gelu",
                "use_bias": True,
                "dropout": 0.1,
                "output_dim": 6,
                "width_factor": 2 / 3,
                "multiple_of": 8,
            },
            input_shape=(3, 10),
            expected_output_shape=(3, 6),
            expected_num_trainable_weights=6,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 3, 8)).astype("float32")
        for activation, use_bias in (("silu", False), ("gelu", True), ("sigmoid", True), ("relu", False)):
            with self.subTest(activation=activation, use_bias=use_bias):
                layer = GatedLinearUnit(intermediate_dim=12, activation=activation, use_bias=use_bias, output_dim=5)
                layer.build(x.shape)
                weights = set_random_weights(layer, rng)
                self.assertAllClose(layer(x), glu_reference(x, weights, activation), atol=2e-5, rtol=1e-5)

    def test_inner_dim_rule(self):
        # Llama / Meta LCM: multiple_of * ceil(floor(intermediate_dim * 2/3) / multiple_of).
        self.assertEqual(GatedLinearUnit.inner_dim(8192, width_factor=2 / 3, multiple_of=256), 5632)
        self.assertEqual(GatedLinearUnit.inner_dim(16384, width_factor=2 / 3, multiple_of=256), 11008)
        self.assertEqual(glu_inner_dim(4096, width_factor=2 / 3, multiple_of=256), 2816)
        self.assertEqual(glu_inner_dim(100), 100)
        self.assertEqual(glu_inner_dim(100, width_factor=0.5, multiple_of=16), 64)
        self.assertEqual(GatedLinearUnit(8192, width_factor=2 / 3, multiple_of=256).inner_dim, 5632)
        self.assertEqual(GatedLinearUnit(16384, width_factor=2 / 3, multiple_of=256).inner_dim, 11008)

    def test_built_width_follows_inner_dim(self):
        # floor(64 * 2/3) = 42 -> rounded up to a multiple of 8 = 48.
        layer = GatedLinearUnit(intermediate_dim=64, width_factor=2 / 3, multiple_of=8)
        layer.build((2, 16))
        self.assertEqual(layer.inner_dim, 48)
        self.assertEqual(tuple(layer.gate_proj.kernel.shape), (16, 48))
        self.assertEqual(tuple(layer.inner_proj.kernel.shape), (16, 48))
        self.assertEqual(tuple(layer.output_proj.kernel.shape), (48, 16))

    def test_count_params_for(self):
        for kwargs in ({}, {"use_bias": True}, {"output_dim": 3, "width_factor": 0.5, "multiple_of": 4}):
            layer = GatedLinearUnit(intermediate_dim=10, **kwargs)
            layer.build((2, 7))
            self.assertEqual(layer.count_params_for((2, 7)), layer.count_params())
        # Llama-7B-like FFN: 3 * 4096 * 11008 weights, no bias.
        self.assertEqual(
            GatedLinearUnit(16384, width_factor=2 / 3, multiple_of=256).count_params_for((None, 4096)),
            3 * 4096 * 11008,
        )

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "intermediate_dim"):
            GatedLinearUnit(intermediate_dim=0)
        with self.assertRaisesNamed(ValueError, "width_factor", "0.0"):
            GatedLinearUnit(intermediate_dim=8, width_factor=0.0)
        with self.assertRaisesNamed(ValueError, "multiple_of"):
            GatedLinearUnit(intermediate_dim=8, multiple_of=0)
        with self.assertRaisesNamed(ValueError, "width_factor", "intermediate_dim"):
            GatedLinearUnit(intermediate_dim=2, width_factor=0.4)
        with self.assertRaisesNamed(ValueError, "dropout"):
            GatedLinearUnit(intermediate_dim=8, dropout=-0.5)
        with self.assertRaisesNamed(ValueError, "activation", "Did you mean", "silu"):
            GatedLinearUnit(intermediate_dim=8, activation="sliu")


# --------------------------------------------------------------------------- swiglu
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


# --------------------------------------------------------------------------- geglu


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
