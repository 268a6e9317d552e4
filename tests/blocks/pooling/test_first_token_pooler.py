import numpy as np

from dlzoo.blocks import FirstTokenPooler
from dlzoo.testing import TestCase


class FirstTokenPoolerTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            FirstTokenPooler,
            init_kwargs={},
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 8),
            expected_num_trainable_weights=2,
        )
        self.run_block_test(
            FirstTokenPooler,
            init_kwargs={"output_dim": 3, "use_bias": False},
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 3),
            expected_num_trainable_weights=1,
            run_saving_check=False,
        )

    def test_matches_numpy_reference(self):
        layer = FirstTokenPooler(output_dim=3)
        x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype("float32")
        layer.build(x.shape)
        kernel = np.random.default_rng(1).standard_normal((5, 3)).astype("float32")
        bias = np.random.default_rng(2).standard_normal((3,)).astype("float32")
        layer.dense.kernel.assign(kernel)
        layer.dense.bias.assign(bias)
        expected = np.tanh(x[:, 0, :].astype("float64") @ kernel.astype("float64") + bias)
        self.assertAllClose(layer(x), expected, atol=1e-5)
        self.assertEqual(layer.count_params_for(x.shape), 5 * 3 + 3)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "output_dim"):
            FirstTokenPooler(output_dim=0)
        with self.assertRaisesNamed(TypeError, "use_bias"):
            FirstTokenPooler(use_bias="yes")
