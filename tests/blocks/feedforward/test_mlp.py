import math

import numpy as np

import keras

from dlzoo.blocks import MLP
from dlzoo.testing import TestCase

_erf = np.vectorize(math.erf)


def gelu_exact(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


ACTIVATIONS = {"gelu": gelu_exact, "gelu_approximate": gelu_tanh, "relu": lambda x: np.maximum(x, 0.0)}


def mlp_reference(x, w1, b1, w2, b2, activation):
    """Vaswani et al. (2017) eq. 2 with a chosen activation, float64."""
    x = x.astype("float64")
    return ACTIVATIONS[activation](x @ w1 + b1) @ w2 + b2


def set_random_weights(layer, rng):
    weights = {}
    for name in ("inner_proj", "output_proj"):
        dense = getattr(layer, name)
        kernel = rng.standard_normal(dense.kernel.shape).astype("float32") * 0.5
        bias = rng.standard_normal(dense.bias.shape).astype("float32") * 0.5
        dense.kernel.assign(kernel)
        dense.bias.assign(bias)
        weights[name] = (kernel, bias)
    return weights


class MLPTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            MLP,
            init_kwargs={"intermediate_dim": 32},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=4,
        )

    def test_block_basics_output_dim_no_bias_dropout(self):
        self.run_block_test(
            MLP,
            init_kwargs={"intermediate_dim": 12, "activation": "relu", "use_bias": False, "dropout": 0.1, "output_dim": 6},
            input_shape=(3, 8),
            expected_output_shape=(3, 6),
            expected_num_trainable_weights=2,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 3, 8)).astype("float32")
        for activation in ACTIVATIONS:
            with self.subTest(activation=activation):
                layer = MLP(intermediate_dim=16, activation=activation, output_dim=5)
                layer.build(x.shape)
                w = set_random_weights(layer, rng)
                expected = mlp_reference(x, *w["inner_proj"], *w["output_proj"], activation)
                self.assertAllClose(layer(x), expected, atol=2e-5, rtol=1e-5)

    def test_gelu_is_exact_not_tanh(self):
        # The two GELU forms differ by up to ~5e-4; "gelu" must be the erf one.
        rng = np.random.default_rng(1)
        x = (rng.standard_normal((4, 8)) * 2).astype("float32")
        layer = MLP(intermediate_dim=16, activation="gelu")
        layer.build(x.shape)
        w = set_random_weights(layer, rng)
        exact = mlp_reference(x, *w["inner_proj"], *w["output_proj"], "gelu")
        approx = mlp_reference(x, *w["inner_proj"], *w["output_proj"], "gelu_approximate")
        self.assertGreater(np.max(np.abs(exact - approx)), 1e-4)
        self.assertAllClose(layer(x), exact, atol=2e-5, rtol=1e-5)

    def test_dropout_on_output(self):
        x = np.random.default_rng(2).standard_normal((4, 6, 8)).astype("float32")
        layer = MLP(intermediate_dim=16, dropout=0.5)
        inference = keras.ops.convert_to_numpy(layer(x, training=False))
        self.assertAllClose(layer(x), inference)  # training=None: no dropout
        trained = keras.ops.convert_to_numpy(layer(x, training=True))
        dropped = trained == 0.0
        # Dropout after the output projection zeroes output units exactly and
        # scales the survivors by 1 / (1 - rate).
        self.assertGreater(dropped.mean(), 0.2)
        self.assertLess(dropped.mean(), 0.8)
        self.assertAllClose(trained[~dropped], 2.0 * inference[~dropped], atol=1e-5, rtol=1e-5)

    def test_count_params_for(self):
        for kwargs in ({}, {"use_bias": False}, {"output_dim": 3}):
            layer = MLP(intermediate_dim=10, **kwargs)
            layer.build((2, 7))
            self.assertEqual(layer.count_params_for((2, 7)), layer.count_params())
        self.assertEqual(MLP(intermediate_dim=10, output_dim=3).count_params_for((None, 7)), 7 * 10 + 10 * 3 + 13)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "intermediate_dim", "0"):
            MLP(intermediate_dim=0)
        with self.assertRaisesNamed(ValueError, "dropout", "-0.1"):
            MLP(intermediate_dim=8, dropout=-0.1)
        with self.assertRaisesNamed(ValueError, "activation", "gelu_aproximate", "Did you mean", "gelu_approximate"):
            MLP(intermediate_dim=8, activation="gelu_aproximate")
        with self.assertRaisesNamed(TypeError, "activation"):
            MLP(intermediate_dim=8, activation=None)
        with self.assertRaisesNamed(TypeError, "use_bias"):
            MLP(intermediate_dim=8, use_bias="yes")
        with self.assertRaisesNamed(ValueError, "output_dim"):
            MLP(intermediate_dim=8, output_dim=0)
        with self.assertRaisesNamed(ValueError, "kernel_initializer"):
            MLP(intermediate_dim=8, kernel_initializer="glorot_uniformm")
