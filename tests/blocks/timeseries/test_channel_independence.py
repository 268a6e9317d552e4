import numpy as np

from dlzoo.blocks.timeseries import ChannelIndependence
from dlzoo.testing import TestCase


class ChannelIndependenceTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            ChannelIndependence,
            init_kwargs={"num_channels": 3},
            input_shape=(2, 5, 3),
            expected_output_shape=(6, 5),
            expected_num_trainable_weights=0,
        )

    def test_reverse_call_basics(self):
        self.run_block_test(
            ChannelIndependence,
            init_kwargs={"num_channels": 3},
            input_shape=(6, 4),
            call_kwargs={"reverse": True},
            expected_output_shape=(2, 4, 3),
        )

    def test_matches_numpy_reference(self):
        # Row i * c + j of the folded batch is channel j of example i; the reverse call puts it back.
        x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
        layer = ChannelIndependence(num_channels=3)
        folded = layer(x.astype("float32"))
        expected = np.stack([x[i, :, j] for i in range(2) for j in range(3)])
        self.assertAllClose(folded, expected, atol=0, rtol=0)
        self.assertAllClose(layer(folded, reverse=True), x, atol=0, rtol=0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "num_channels", "0"):
            ChannelIndependence(num_channels=0)
        with self.assertRaisesNamed(ValueError, "num_channels=3", "input_shape"):
            ChannelIndependence(num_channels=3).compute_output_shape((2, 5, 4))
        with self.assertRaisesNamed(ValueError, "multiple of num_channels=3"):
            ChannelIndependence(num_channels=3).compute_output_shape((4, 5), reverse=True)
