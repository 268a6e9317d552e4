import numpy as np

from dlzoo.blocks.timeseries import ReversibleInstanceNorm
from dlzoo.testing import TestCase


def revin_reference(x, weight, bias, eps):
    """Kim et al. (2022), eq. 1-2 (float64): per instance and channel, statistics over time."""
    x = x.astype("float64")
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=1, keepdims=True) + eps)
    return (x - mean) / std * weight + bias, mean, std


class ReversibleInstanceNormTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            ReversibleInstanceNorm,
            init_kwargs={"use_affine": True},
            input_shape=(2, 6, 3),
            expected_output_shape=(2, 6, 3),
            expected_num_trainable_weights=2,
        )

    def test_reverse_call_basics(self):
        rng = np.random.default_rng(0)
        self.run_block_test(
            ReversibleInstanceNorm,
            init_kwargs={"use_affine": False},
            input_data={
                "inputs": rng.standard_normal((2, 4, 3)).astype("float32"),
                "mean": rng.standard_normal((2, 1, 3)).astype("float32"),
                "std": rng.uniform(0.5, 2, (2, 1, 3)).astype("float32"),
            },
            call_kwargs={"reverse": True},
            expected_output_shape=(2, 4, 3),
        )

    def test_matches_numpy_reference_and_round_trips(self):
        rng = np.random.default_rng(1)
        x = (rng.standard_normal((3, 7, 2)) * 5 + 10).astype("float32")
        weight = rng.uniform(0.5, 2.0, 2)
        bias = rng.standard_normal(2)
        layer = ReversibleInstanceNorm(epsilon=1e-5)
        layer.build(x.shape)
        layer.weight.assign(weight)
        layer.bias.assign(bias)
        normalized, mean, std = layer(x)
        expected, expected_mean, expected_std = revin_reference(x, weight, bias, 1e-5)
        self.assertAllClose(normalized, expected, atol=1e-5)
        self.assertAllClose(mean, expected_mean, atol=1e-5)
        self.assertAllClose(std, expected_std, atol=1e-5)
        # The reverse map undoes the forward one (up to the epsilon**2 the authors add to the weight).
        y = rng.standard_normal((3, 4, 2))
        back = layer(y.astype("float32"), mean=mean, std=std, reverse=True)
        self.assertAllClose(back, (y - bias) / (weight + 1e-10) * expected_std + expected_mean, atol=1e-4)
        self.assertAllClose(layer(normalized, mean=mean, std=std, reverse=True), x, atol=1e-4)

    def test_count_params_for(self):
        self.assertEqual(ReversibleInstanceNorm().count_params_for((None, 336, 7)), 14)
        self.assertEqual(ReversibleInstanceNorm(use_affine=False).count_params_for((None, 336, 7)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "epsilon", "0"):
            ReversibleInstanceNorm(epsilon=0.0)
        with self.assertRaisesNamed(ValueError, "input_shape"):
            ReversibleInstanceNorm().build((2, 6))
        with self.assertRaisesNamed(ValueError, "mean", "std"):
            ReversibleInstanceNorm(use_affine=False)(np.zeros((1, 3, 2)), reverse=True)
