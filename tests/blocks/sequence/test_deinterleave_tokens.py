"""`deinterleave_tokens`: the harness, the layout against NumPy, and the inverse of `interleave_tokens`."""

import numpy as np

from dlzoo.blocks import DeinterleaveTokens, InterleaveTokens
from dlzoo.testing import TestCase


class DeinterleaveTokensTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            DeinterleaveTokens,
            init_kwargs={"num_streams": 3},
            input_shape=(2, 12, 8),
            expected_output_shape=(2, 4, 8),  # the first stream
            expected_num_trainable_weights=0,
            run_training_check=False,  # no weights to train
        )

    def test_matches_numpy_reference(self):
        x = np.random.default_rng(0).standard_normal((2, 15, 4))
        streams = DeinterleaveTokens(num_streams=3)(x)
        for j in range(3):
            self.assertAllClose(streams[j], x[:, j::3], atol=0)  # stream j = positions j, j + k, j + 2k, ...

    def test_inverts_interleave(self):
        streams = [np.random.default_rng(j).standard_normal((2, 4, 5)) for j in range(2)]
        back = DeinterleaveTokens(num_streams=2)(InterleaveTokens()(streams))
        for a, b in zip(back, streams):
            self.assertAllClose(a, b, atol=0)

    def test_rejects_a_length_that_is_not_a_multiple(self):
        with self.assertRaisesNamed(ValueError, "num_streams", "10"):
            DeinterleaveTokens(num_streams=3)(np.zeros((2, 10, 4)))
        with self.assertRaisesNamed(ValueError, "num_streams", "0"):
            DeinterleaveTokens(num_streams=0)
