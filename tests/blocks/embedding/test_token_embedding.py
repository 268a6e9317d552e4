import numpy as np
from keras import ops

from dlzoo.blocks import TokenEmbedding
from dlzoo.testing import TestCase


class TokenEmbeddingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            TokenEmbedding,
            init_kwargs={"vocabulary_size": 11, "hidden_dim": 8},
            input_data=np.array([[1, 2, 3, 10], [0, 0, 5, 7]], "int32"),
            expected_output_shape=(2, 4, 8),
            expected_num_trainable_weights=1,
        )

    def test_reverse_call(self):
        self.run_block_test(
            TokenEmbedding,
            init_kwargs={"vocabulary_size": 11, "hidden_dim": 8},
            input_shape=(2, 4, 8),
            call_kwargs={"reverse": True},
            expected_output_shape=(2, 4, 11),
            expected_num_trainable_weights=1,
        )

    def test_matches_numpy_reference(self):
        table = np.random.default_rng(0).standard_normal((6, 3)).astype("float32")
        layer = TokenEmbedding(vocabulary_size=6, hidden_dim=3)
        layer.build()
        layer.embeddings.assign(table)
        ids = np.array([[5, 0, 2]], "int32")
        self.assertAllClose(layer(ids), table.astype("float64")[ids], atol=0)
        hidden = np.random.default_rng(1).standard_normal((1, 2, 3)).astype("float32")
        logits = hidden.astype("float64") @ table.astype("float64").T  # tied projection: x E^T
        self.assertAllClose(layer(hidden, reverse=True), logits, atol=1e-5)

    def test_initializer_and_count(self):
        layer = TokenEmbedding(vocabulary_size=500, hidden_dim=40, initializer_stddev=0.05)
        self.assertEqual(layer.count_params_for((2, 3)), 500 * 40)
        layer.build()
        self.assertEqual(layer.count_params(), 500 * 40)
        std = float(np.std(ops.convert_to_numpy(layer.embeddings)))
        self.assertAlmostEqual(std, 0.05, delta=0.005)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "vocabulary_size", "0"):
            TokenEmbedding(vocabulary_size=0, hidden_dim=4)
        with self.assertRaisesNamed(TypeError, "hidden_dim"):
            TokenEmbedding(vocabulary_size=4, hidden_dim=2.5)
        with self.assertRaisesNamed(ValueError, "initializer_stddev"):
            TokenEmbedding(vocabulary_size=4, hidden_dim=2, initializer_stddev=-1.0)
