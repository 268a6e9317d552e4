import keras
import numpy as np

from dlzoo.blocks import ClassEmbedding
from dlzoo.testing import TestCase

LABELS = {"shape": (4,), "dtype": "int32", "max": 11}


class ClassEmbeddingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            ClassEmbedding,
            init_kwargs={"num_classes": 10, "hidden_dim": 8, "label_dropout": 0.1, "seed": 3},
            input_shape=LABELS,
            expected_output_shape=(4, 8),
            expected_num_trainable_weights=1,
            expected_num_seed_generators=1,
        )

    def test_block_basics_without_null_class(self):
        self.run_block_test(
            ClassEmbedding,
            init_kwargs={"num_classes": 5, "hidden_dim": 4, "label_dropout": 0.0},
            input_data=np.array([[0, 4], [2, 3]], "int32"),
            expected_output_shape=(2, 2, 4),
            expected_num_trainable_weights=1,
            expected_num_seed_generators=0,
        )

    def test_lookup_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        table = rng.standard_normal((11, 6)).astype("float32")
        layer = ClassEmbedding(num_classes=10, hidden_dim=6)
        layer.build((5,))
        layer.embeddings.assign(table)
        labels = np.array([0, 9, 10, 3, 3], "int32")  # 10 = the null class
        self.assertEqual(layer.null_class, 10)
        self.assertAllClose(layer(labels), table[labels], atol=0)
        self.assertAllClose(layer(labels, training=False), table[labels], atol=0)

    def test_label_dropout_replaces_labels_by_the_null_class(self):
        layer = ClassEmbedding(num_classes=3, hidden_dim=4, label_dropout=0.3, seed=0)
        layer.build((4000,))
        table = np.arange(16, dtype="float32").reshape(4, 4)
        layer.embeddings.assign(table)
        labels = np.full((4000,), 1, "int32")
        out = keras.ops.convert_to_numpy(layer(labels, training=True))
        dropped = np.all(out == table[3], axis=-1)
        kept = np.all(out == table[1], axis=-1)
        self.assertTrue(np.all(dropped | kept))
        self.assertAllClose(dropped.mean(), 0.3, atol=0.03)  # one Bernoulli(0.3) per label
        self.assertFalse(np.any(np.all(keras.ops.convert_to_numpy(layer(labels)) == table[3], axis=-1)))  # not in inference

    def test_initialization_and_count(self):
        layer = ClassEmbedding(num_classes=1000, hidden_dim=64)
        self.assertEqual(layer.count_params_for((2,)), 1001 * 64)  # DiT: num_classes + 1 rows
        layer.build((2,))
        self.assertEqual(layer.count_params(), 1001 * 64)
        self.assertAllClose(np.std(keras.ops.convert_to_numpy(layer.embeddings)), 0.02, atol=0.002)
        no_null = ClassEmbedding(num_classes=10, hidden_dim=4, label_dropout=0.0)
        self.assertEqual(no_null.count_params_for((2,)), 40)
        self.assertIsNone(no_null.null_class)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "num_classes", "0"):
            ClassEmbedding(num_classes=0, hidden_dim=4)
        with self.assertRaisesNamed(ValueError, "hidden_dim", "-1"):
            ClassEmbedding(num_classes=3, hidden_dim=-1)
        with self.assertRaisesNamed(ValueError, "label_dropout", "1.0"):
            ClassEmbedding(num_classes=3, hidden_dim=4, label_dropout=1.0)
        with self.assertRaisesNamed(TypeError, "seed"):
            ClassEmbedding(num_classes=3, hidden_dim=4, seed="x")
