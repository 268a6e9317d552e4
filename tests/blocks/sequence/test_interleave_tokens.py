"""`interleave_tokens`: the harness, and the layout against its definition in NumPy."""

import numpy as np

from dlzoo.blocks import InterleaveTokens
from dlzoo.testing import TestCase


def np_interleave(streams):
    """Position k*i + j holds token i of stream j (float64, element by element)."""
    k, (b, t) = len(streams), streams[0].shape[:2]
    out = np.zeros((b, k * t) + streams[0].shape[2:], streams[0].dtype)
    for i in range(t):
        for j, stream in enumerate(streams):
            out[:, k * i + j] = stream[:, i]
    return out


class InterleaveTokensTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            InterleaveTokens,
            init_kwargs={},
            input_shape=[(2, 4, 8), (2, 4, 8), (2, 4, 8)],
            expected_output_shape=(2, 12, 8),
            expected_num_trainable_weights=0,
            run_training_check=False,  # no weights to train
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        streams = [rng.standard_normal((2, 5, 3)) for _ in range(3)]
        self.assertAllClose(InterleaveTokens()(streams), np_interleave(streams), atol=0)
        masks = [rng.random((2, 5)) > 0.5 for _ in range(2)]
        self.assertAllClose(InterleaveTokens()(masks), np_interleave(masks), atol=0)

    def test_symbolic_length(self):
        self.assertEqual(InterleaveTokens().compute_output_shape([(None, None, 4)] * 3), (None, None, 4))
