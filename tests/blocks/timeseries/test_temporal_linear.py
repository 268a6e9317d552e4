import numpy as np

from dlzoo.blocks.timeseries import TemporalLinear
from dlzoo.testing import TestCase


class TemporalLinearTest(TestCase):
    def test_block_basics(self):
        for per_channel in (False, True):
            self.run_block_test(
                TemporalLinear,
                init_kwargs={"units": 4, "use_per_channel_weights": per_channel},
                input_shape=(2, 6, 3),
                expected_output_shape=(2, 4, 3),
                expected_num_trainable_weights=2,
            )

    def test_matches_numpy_reference(self):
        # y[:, h, c] = sum_t x[:, t, c] W[t, h] + b[h] (shared), or W_c, b_c per channel (DLinear "individual").
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 6, 3))
        shared = TemporalLinear(units=4)
        shared.build(x.shape)
        w, b = rng.standard_normal((6, 4)), rng.standard_normal(4)
        shared.kernel.assign(w)
        shared.bias.assign(b)
        expected = np.stack([x[:, :, c] @ w + b for c in range(3)], axis=-1)
        self.assertAllClose(shared(x.astype("float32")), expected, atol=1e-5)
        individual = TemporalLinear(units=4, use_per_channel_weights=True)
        individual.build(x.shape)
        w, b = rng.standard_normal((3, 6, 4)), rng.standard_normal((3, 4))
        individual.kernel.assign(w)
        individual.bias.assign(b)
        expected = np.stack([x[:, :, c] @ w[c] + b[c] for c in range(3)], axis=-1)
        self.assertAllClose(individual(x.astype("float32")), expected, atol=1e-5)

    def test_count_params_for(self):
        # DLinear at look-back 336, horizon 96: 336 * 96 + 96 per map.
        self.assertEqual(TemporalLinear(96).count_params_for((None, 336, 7)), 32352)
        self.assertEqual(TemporalLinear(96, use_per_channel_weights=True).count_params_for((None, 336, 7)), 7 * 32352)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "units", "0"):
            TemporalLinear(units=0)
        with self.assertRaisesNamed(ValueError, "input_shape"):
            TemporalLinear(units=2).build((2, 6))
