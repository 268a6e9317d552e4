"""ConceptPreNet: harness, NumPy reference, reference initialization, argument checks."""

import math

import numpy as np

from dlzoo.blocks.lcm import ConceptPreNet
from dlzoo.testing import TestCase


def prenet_reference(x, kernel, bias, table=None, start=0, scale=None):
    """lcm.md 3.1 step 1: (x * scale) @ W + b (+ positions), float64."""
    x = x.astype("float64")
    if scale is not None:
        x = x * scale
    y = x @ kernel + bias
    if table is not None:
        y = y + table[start:start + x.shape[1]]
    return y


class ConceptPreNetTest(TestCase):
    def test_block_basics_learned(self):
        self.run_block_test(
            ConceptPreNet,
            init_kwargs={"hidden_dim": 16, "position": "learned", "max_sequence_length": 8, "dropout": 0.1, "seed": 1},
            input_shape=(2, 5, 12),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=3,
        )

    def test_block_basics_none_and_sine(self):
        for position in ("none", "sine"):
            self.run_block_test(
                ConceptPreNet,
                init_kwargs={"hidden_dim": 8, "position": position},
                input_shape=(2, 3, 6),
                expected_output_shape=(2, 3, 8),
                expected_num_trainable_weights=2,
                run_precision_check=False,
                run_saving_check=False,
            )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 4, 6)).astype("float32")
        layer = ConceptPreNet(hidden_dim=8, position="learned", max_sequence_length=10)
        layer.build(x.shape)
        kernel = rng.standard_normal((6, 8)).astype("float32")
        bias = rng.standard_normal((8,)).astype("float32")
        table = rng.standard_normal((10, 8)).astype("float32")
        layer.projection.kernel.assign(kernel)
        layer.projection.bias.assign(bias)
        layer.position_embedding.embeddings.assign(table)
        self.assertAllClose(layer(x), prenet_reference(x, kernel, bias, table), atol=1e-5)
        self.assertAllClose(layer(x[:, :1], start_index=3), prenet_reference(x[:, :1], kernel, bias, table, 3), atol=1e-5)
        scaled = ConceptPreNet(hidden_dim=8, scale_embeddings=True)
        scaled.build(x.shape)
        scaled.projection.kernel.assign(kernel)
        scaled.projection.bias.assign(bias)
        self.assertAllClose(scaled(x), prenet_reference(x, kernel, bias, scale=math.sqrt(8)), atol=1e-4)

    def test_reference_initialization(self):
        # PyTorch nn.Linear default: U(+-1/sqrt(fan_in)) for kernel and bias; positions N(0, 0.006^2).
        layer = ConceptPreNet(hidden_dim=256, position="learned", max_sequence_length=512)
        layer.build((None, None, 384))
        kernel = np.asarray(layer.projection.kernel)
        bound = 1 / math.sqrt(384)
        self.assertLessEqual(np.abs(kernel).max(), bound + 1e-6)
        self.assertAllClose(kernel.std(), bound / math.sqrt(3), atol=2e-3, rtol=0)
        self.assertLessEqual(np.abs(np.asarray(layer.projection.bias)).max(), bound + 1e-6)
        self.assertGreater(np.abs(np.asarray(layer.projection.bias)).max(), bound / 2)
        self.assertAllClose(np.asarray(layer.position_embedding.embeddings).std(), 0.006, atol=3e-4, rtol=0)

    def test_count_params_for(self):
        layer = ConceptPreNet(hidden_dim=8, position="learned", max_sequence_length=10)
        self.assertEqual(layer.count_params_for((None, None, 6)), 6 * 8 + 8 + 80)
        self.assertEqual(ConceptPreNet(hidden_dim=8, use_bias=False).count_params_for((2, 3, 6)), 48)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "position"):
            ConceptPreNet(hidden_dim=8, position="rope")
        with self.assertRaisesNamed(ValueError, "max_sequence_length"):
            ConceptPreNet(hidden_dim=8, position="learned")
        with self.assertRaisesNamed(ValueError, "hidden_dim"):
            ConceptPreNet(hidden_dim=0)
        with self.assertRaisesNamed(ValueError, "kernel_initializer"):
            ConceptPreNet(hidden_dim=8, kernel_initializer="no_such_init")
