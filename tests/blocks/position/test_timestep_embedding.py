import numpy as np
from keras import ops

from dlzoo.blocks import TimestepEmbedding
from dlzoo.testing import TestCase

INT_STEPS = {"shape": (2, 5), "dtype": "int32", "max": 100}


def sinusoid_reference(t, dim, max_period=10000.0, order="cos_sin", shift=0.0):
    """DiT eq. (DDPM / Transformer sinusoid), float64: (..., dim); `shift` is diffusers' downscale_freq_shift."""
    half = dim // 2
    freqs = np.exp(-np.log(max_period) * np.arange(half) / (half - shift))
    angles = np.asarray(t, "float64")[..., None] * freqs
    parts = [np.cos(angles), np.sin(angles)]
    return np.concatenate(parts if order == "cos_sin" else parts[::-1], axis=-1)


def mlp_reference(x, w1, b1, w2, b2):
    h = x @ w1 + b1
    h = h / (1.0 + np.exp(-h))  # SiLU
    return h @ w2 + b2


class TimestepEmbeddingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            TimestepEmbedding,
            init_kwargs={"frequency_dim": 16, "hidden_dim": 8},
            input_shape=INT_STEPS,
            expected_output_shape=(2, 5, 8),
            expected_num_trainable_weights=4,
        )
        self.run_block_test(
            TimestepEmbedding,
            init_kwargs={"frequency_dim": 12, "order": "sin_cos"},
            input_shape=INT_STEPS,
            expected_output_shape=(2, 5, 12),
            expected_num_trainable_weights=0,
        )

    def test_sinusoid_matches_numpy_reference(self):
        t = np.array([[0, 1, 7, 99], [500, 999, 3, 42]], dtype="int32")
        for order in ("cos_sin", "sin_cos"):
            layer = TimestepEmbedding(frequency_dim=10, max_period=1000.0, order=order)
            self.assertAllClose(layer(t), sinusoid_reference(t, 10, 1000.0, order), atol=1e-4)
        t = np.array([0.5, 2.25, 30.0], dtype="float32")
        self.assertAllClose(TimestepEmbedding(frequency_dim=8)(t), sinusoid_reference(t, 8), atol=1e-5)
        # Golden: t=1, dim=4: frequencies (1, 1e-2); cos first.
        out = TimestepEmbedding(frequency_dim=4)(np.array([1], "int32"))[0]
        self.assertAllClose(out, [np.cos(1.0), np.cos(0.01), np.sin(1.0), np.sin(0.01)], atol=1e-6)

    def test_frequency_shift_matches_numpy_reference(self):
        # diffusers' CombinedTimestepLabelEmbeddings (its DiT): exponent / (half - 1).
        t = np.array([0, 1, 250, 999], dtype="int32")
        layer = TimestepEmbedding(frequency_dim=16, frequency_shift=1.0)
        self.assertAllClose(layer(t), sinusoid_reference(t, 16, shift=1.0), atol=1e-4)
        # The slowest frequency is then exactly 1 / max_period.
        out = TimestepEmbedding(frequency_dim=4, frequency_shift=1)(np.array([1], "int32"))[0]
        self.assertAllClose(out, [np.cos(1.0), np.cos(1e-4), np.sin(1.0), np.sin(1e-4)], atol=1e-6)

    def test_mlp_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        t = np.array([3, 17, 250], dtype="int32")
        w1, b1 = rng.standard_normal((8, 6)) * 0.3, rng.standard_normal(6) * 0.1
        w2, b2 = rng.standard_normal((6, 6)) * 0.3, rng.standard_normal(6) * 0.1
        for order in ("cos_sin", "sin_cos"):
            layer = TimestepEmbedding(frequency_dim=8, hidden_dim=6, order=order)
            layer.build(t.shape)
            layer.dense_1.kernel.assign(w1.astype("float32"))
            layer.dense_1.bias.assign(b1.astype("float32"))
            layer.dense_2.kernel.assign(w2.astype("float32"))
            layer.dense_2.bias.assign(b2.astype("float32"))
            expected = mlp_reference(sinusoid_reference(t, 8, order=order), w1, b1, w2, b2)
            self.assertAllClose(layer(t), expected, atol=1e-5)

    def test_mlp_initialization(self):
        layer = TimestepEmbedding(frequency_dim=256, hidden_dim=64)
        layer.build((4,))
        self.assertAlmostEqual(float(np.std(ops.convert_to_numpy(layer.dense_1.kernel))), 0.02, delta=0.002)
        self.assertTrue(np.all(ops.convert_to_numpy(layer.dense_2.bias) == 0))

    def test_count_params_for(self):
        layer = TimestepEmbedding(frequency_dim=16, hidden_dim=8)
        layer.build((2, 5))
        self.assertEqual(layer.count_params_for((2, 5)), layer.count_params())
        self.assertEqual(TimestepEmbedding(frequency_dim=16).count_params_for((2, 5)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "frequency_dim", "7"):
            TimestepEmbedding(frequency_dim=7)
        with self.assertRaisesNamed(ValueError, "hidden_dim"):
            TimestepEmbedding(hidden_dim=0)
        with self.assertRaisesNamed(ValueError, "order", "Did you mean 'sin_cos'"):
            TimestepEmbedding(order="sincos")
        with self.assertRaisesNamed(ValueError, "max_period"):
            TimestepEmbedding(max_period=0.0)
        with self.assertRaisesNamed(ValueError, "frequency_shift", "8.0"):
            TimestepEmbedding(frequency_dim=16, frequency_shift=8)
