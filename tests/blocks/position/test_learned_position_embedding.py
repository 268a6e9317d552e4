import numpy as np
from keras import ops

from dlzoo.blocks import LearnedPositionEmbedding
from dlzoo.testing import TestCase


def learned_reference(table, shape, start_index=0):
    """Rows start_index..start_index+seq_len-1 of the table, broadcast to `shape` (float64)."""
    seq_len = shape[-2]
    return np.broadcast_to(table[start_index : start_index + seq_len].astype("float64"), shape)


class LearnedPositionEmbeddingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            LearnedPositionEmbedding,
            init_kwargs={"max_sequence_length": 10},
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 5, 8),
            expected_num_trainable_weights=1,
            call_kwargs={"start_index": 2},
        )

    def test_matches_numpy_reference(self):
        table = np.random.default_rng(0).standard_normal((12, 6)).astype("float32")
        layer = LearnedPositionEmbedding(max_sequence_length=12)
        layer.build((2, 4, 6))
        layer.embeddings.assign(table)
        x = np.zeros((3, 4, 6), "float32")
        self.assertAllClose(layer(x), learned_reference(table, x.shape), atol=0)
        self.assertAllClose(layer(x, start_index=8), learned_reference(table, x.shape, 8), atol=0)
        start = ops.convert_to_tensor(np.array(5, dtype="int32"))
        self.assertAllClose(layer(x, start_index=start), learned_reference(table, x.shape, 5), atol=0)

    def test_position_ids(self):
        self.run_block_test(
            LearnedPositionEmbedding,
            init_kwargs={"max_sequence_length": 10},
            input_data=np.zeros((2, 5, 8), "float32"),
            expected_output_shape=(2, 5, 8),
            call_kwargs={"position_ids": np.array([[0, 1, 2, 3, 4], [1, 1, 0, 1, 2]], "int32")},
            run_training_check=False,
        )
        table = np.random.default_rng(1).standard_normal((12, 6)).astype("float32")
        layer = LearnedPositionEmbedding(max_sequence_length=12)
        layer.build((2, 4, 6))
        layer.embeddings.assign(table)
        # Left padding: each row counts from its first real token (the padded slots read row 1, as GPT-2 does).
        positions = np.array([[0, 1, 2, 3], [1, 1, 0, 1]], "int32")
        self.assertAllClose(layer(np.zeros((2, 4, 6), "float32"), position_ids=positions), table[positions], atol=0)

    def test_initializer_stddev(self):
        layer = LearnedPositionEmbedding(max_sequence_length=400, initializer_stddev=0.006)
        layer.build((1, 2, 64))
        std = float(np.std(ops.convert_to_numpy(layer.embeddings)))
        self.assertAlmostEqual(std, 0.006, delta=0.0005)

    def test_count_params_for(self):
        layer = LearnedPositionEmbedding(max_sequence_length=7)
        layer.build((2, 3, 5))
        self.assertEqual(layer.count_params_for((2, 3, 5)), layer.count_params())
        self.assertEqual(layer.count_params_for((2, 3, 5)), 35)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "max_sequence_length", "0"):
            LearnedPositionEmbedding(max_sequence_length=0)
        with self.assertRaisesNamed(TypeError, "max_sequence_length"):
            LearnedPositionEmbedding(max_sequence_length=4.5)
        with self.assertRaisesNamed(ValueError, "initializer_stddev"):
            LearnedPositionEmbedding(max_sequence_length=4, initializer_stddev=0.0)
        layer = LearnedPositionEmbedding(max_sequence_length=4)
        with self.assertRaisesNamed(ValueError, "max_sequence_length=4", "seq_len=5"):
            layer(np.zeros((1, 5, 2), "float32"))
        with self.assertRaisesNamed(ValueError, "start_index=2"):
            layer(np.zeros((1, 3, 2), "float32"), start_index=2)
