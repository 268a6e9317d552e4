"""`sequence_pooling`: the harness, and every pooling against its definition in NumPy."""

import numpy as np

from dlzoo.blocks import SequencePooling
from dlzoo.blocks.pooling.sequence_pooling import POOLINGS
from dlzoo.testing import TestCase


def np_pool(h, mask, pooling):
    """Pooling from its definition, row by row, over the kept positions (float64)."""
    out = np.zeros((h.shape[0], h.shape[2]))
    for i in range(h.shape[0]):
        kept = np.flatnonzero(mask[i])
        if pooling == "cls":
            out[i] = h[i, 0]
        elif len(kept) == 0:
            continue
        elif pooling == "mean":
            out[i] = h[i, kept].mean(axis=0)
        elif pooling == "max":
            out[i] = h[i, kept].max(axis=0)
        elif pooling == "last":
            out[i] = h[i, kept[-1]]
    return out


class SequencePoolingTest(TestCase):
    def test_block_basics(self):
        mask = np.ones((2, 5), bool)
        mask[1, 3:] = False
        for pooling in POOLINGS:
            self.run_block_test(
                SequencePooling,
                init_kwargs={"pooling": pooling},
                input_data={"inputs": np.random.default_rng(0).standard_normal((2, 5, 8)).astype("float32"), "padding_mask": mask},
                expected_output_shape=(2, 8),
                expected_num_trainable_weights=0,
            )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        h = rng.standard_normal((3, 6, 4)).astype("float32")
        mask = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0]], bool)
        for pooling in POOLINGS:
            layer = SequencePooling(pooling)
            self.assertAllClose(layer(h, padding_mask=mask), np_pool(h, mask, pooling), atol=1e-6, msg=pooling)
            self.assertAllClose(layer(h), np_pool(h, np.ones_like(mask), pooling), atol=1e-6, msg=pooling)

    def test_rejects_an_unknown_pooling(self):
        with self.assertRaisesNamed(ValueError, "pooling", "'avg'"):
            SequencePooling("avg")
