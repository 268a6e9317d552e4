import numpy as np

from dlzoo.blocks import LearnedSigmaSplit
from dlzoo.testing import TestCase


class LearnedSigmaSplitTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            LearnedSigmaSplit,
            init_kwargs={},
            input_shape=(2, 4, 4, 6),
            expected_output_shape=(2, 4, 4, 3),
            expected_num_trainable_weights=0,
        )

    def test_matches_dit_split(self):
        # DiT: `model_output, model_var_values = torch.split(model_output, C, dim=1)` (channels first).
        x = np.random.default_rng(0).standard_normal((2, 4, 4, 8)).astype("float32")
        noise, variance = LearnedSigmaSplit()(x)
        self.assertAllClose(noise, x[..., :4], atol=0)
        self.assertAllClose(variance, x[..., 4:], atol=0)

    def test_rejects_odd_channels(self):
        with self.assertRaisesNamed(ValueError, "(2, 4, 4, 5)"):
            LearnedSigmaSplit().build((2, 4, 4, 5))
        self.assertEqual(LearnedSigmaSplit().count_params_for((2, 4, 4, 8)), 0)
