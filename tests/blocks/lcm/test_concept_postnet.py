"""ConceptPostNet: harness, NumPy reference, argument checks."""

import math

import numpy as np

from dlzoo.blocks.lcm import ConceptPostNet
from dlzoo.testing import TestCase


class ConceptPostNetTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            ConceptPostNet,
            init_kwargs={"output_dim": 12},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 12),
            expected_num_trainable_weights=2,
        )

    def test_matches_numpy_reference(self):
        # lcm.md 3.1 step 3: one biased linear d -> s, no activation.
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 3, 8)).astype("float32")
        layer = ConceptPostNet(output_dim=5)
        layer.build(x.shape)
        kernel = rng.standard_normal((8, 5)).astype("float32")
        bias = rng.standard_normal((5,)).astype("float32")
        layer.projection.kernel.assign(kernel)
        layer.projection.bias.assign(bias)
        self.assertAllClose(layer(x), x.astype("float64") @ kernel + bias, atol=1e-5)

    def test_reference_initialization(self):
        layer = ConceptPostNet(output_dim=384)
        layer.build((None, None, 256))
        bound = 1 / math.sqrt(256)
        self.assertLessEqual(np.abs(np.asarray(layer.projection.kernel)).max(), bound + 1e-6)
        self.assertLessEqual(np.abs(np.asarray(layer.projection.bias)).max(), bound + 1e-6)
        zeros = ConceptPostNet(output_dim=4, bias_initializer="zeros")
        zeros.build((None, 8))
        self.assertEqual(float(np.abs(np.asarray(zeros.projection.bias)).max()), 0.0)

    def test_count_params_for(self):
        self.assertEqual(ConceptPostNet(output_dim=1024).count_params_for((None, None, 2048)), 2048 * 1024 + 1024)
        self.assertEqual(ConceptPostNet(output_dim=4, use_bias=False).count_params_for((None, 8)), 32)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "output_dim"):
            ConceptPostNet(output_dim=0)
        with self.assertRaisesNamed(TypeError, "use_bias"):
            ConceptPostNet(output_dim=4, use_bias="yes")
