import numpy as np

from dlzoo.blocks.timeseries import SeriesDecomposition
from dlzoo.testing import TestCase


def decomposition_reference(x, kernel_size):
    """DLinear's moving average (Zeng et al. 2023): replicate-pad (k-1)/2 steps at each end, average k steps."""
    half = (kernel_size - 1) // 2
    padded = np.concatenate([np.repeat(x[:, :1], half, 1), x, np.repeat(x[:, -1:], half, 1)], axis=1)
    trend = np.stack([padded[:, t:t + kernel_size].mean(axis=1) for t in range(x.shape[1])], axis=1)
    return x - trend, trend


class SeriesDecompositionTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            SeriesDecomposition,
            init_kwargs={"kernel_size": 5},
            input_shape=(2, 12, 3),
            expected_output_shape=(2, 12, 3),
            expected_num_trainable_weights=0,
        )

    def test_matches_numpy_reference(self):
        x = np.random.default_rng(0).standard_normal((2, 30, 3))
        for kernel_size in (1, 5, 25, 41):
            seasonal, trend = SeriesDecomposition(kernel_size=kernel_size)(x.astype("float32"))
            expected_seasonal, expected_trend = decomposition_reference(x, kernel_size)
            self.assertAllClose(trend, expected_trend, atol=1e-5)
            self.assertAllClose(seasonal, expected_seasonal, atol=1e-5)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "kernel_size", "4"):
            SeriesDecomposition(kernel_size=4)
        with self.assertRaisesNamed(ValueError, "input_shape"):
            SeriesDecomposition().build((2, 12))
