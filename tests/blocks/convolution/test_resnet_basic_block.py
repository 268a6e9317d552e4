import numpy as np

from dlzoo.blocks.convolution import ResNetBasicBlock
from dlzoo.testing import TestCase
from tests.blocks.convolution._reference import conv_bn, randomize_conv_norm, relu


def basic_block_reference(x, conv_1, conv_2, shortcut, strides, epsilon):
    """He et al. (2016), figure 5 left: relu(shortcut(x) + bn(conv3x3(relu(bn(conv3x3(x)))))), PyTorch padding."""
    y = relu(conv_bn(x, conv_1, strides, "symmetric", epsilon))
    y = conv_bn(y, conv_2, 1, "symmetric", epsilon)
    s = x if shortcut is None else conv_bn(x, shortcut, strides, "valid", epsilon)
    return relu(y + s)


class ResNetBasicBlockTest(TestCase):
    def test_block_basics_with_projection(self):
        self.run_block_test(
            ResNetBasicBlock,
            init_kwargs={"filters": 8, "strides": 2},
            input_shape=(2, 6, 6, 4),
            expected_output_shape=(2, 3, 3, 8),
            expected_num_trainable_weights=9,  # 3 kernels, 3 x (gamma, beta)
            expected_num_non_trainable_weights=6,
        )

    def test_block_basics_identity_with_drop_path_and_layer_norm(self):
        self.run_block_test(
            ResNetBasicBlock,
            init_kwargs={"filters": 4, "drop_path_rate": 0.2, "seed": 1, "norm": "layer_norm", "norm_epsilon": 1e-6},
            input_shape=(2, 5, 5, 4),
            expected_output_shape=(2, 5, 5, 4),
            expected_num_trainable_weights=6,
            expected_num_seed_generators=1,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        for size, channels, filters, strides in ((6, 4, 8, 2), (7, 4, 8, 2), (5, 6, 6, 1), (5, 4, 6, 1)):
            x = rng.standard_normal((2, size, size, channels)).astype("float32")
            block = ResNetBasicBlock(filters, strides=strides)
            block.build(x.shape)
            conv_1, conv_2 = (randomize_conv_norm(layer, rng) for layer in block.branch)
            shortcut = None if block.shortcut is None else randomize_conv_norm(block.shortcut, rng)
            self.assertEqual(shortcut is None, strides == 1 and channels == filters)
            expected = basic_block_reference(x.astype("float64"), conv_1, conv_2, shortcut, strides, 1e-5)
            self.assertAllClose(block(x, training=False), expected, atol=1e-4, rtol=1e-4, msg=f"{size}, {strides}")

    def test_zero_init_residual_starts_as_identity(self):
        x = np.random.default_rng(1).standard_normal((2, 4, 4, 6)).astype("float32")
        block = ResNetBasicBlock(6, use_zero_init_residual=True)
        self.assertAllClose(block(x, training=False), np.maximum(x, 0), atol=1e-6)

    def test_count_params_for(self):
        for kwargs in ({"filters": 8}, {"filters": 16, "strides": 2}, {"filters": 8, "norm": "rms_norm"}):
            block = ResNetBasicBlock(**kwargs)
            expected = block.count_params_for((1, 8, 8, 8))
            block.build((1, 8, 8, 8))
            self.assertEqual(block.count_params(), expected, msg=str(kwargs))
            fixed = sum(int(np.prod(w.shape)) for w in block.non_trainable_weights)
            self.assertEqual(block.non_trainable_params_for((1, 8, 8, 8)), fixed, msg=str(kwargs))
        # ResNet-18's first block of stage 2 (64 -> 128, stride 2), BN statistics included:
        # two 3x3 kernels, a 1x1 projection, 3 BNs of 128 channels with 4 values each.
        expected = 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 64 * 128 + 3 * 4 * 128
        self.assertEqual(ResNetBasicBlock(128, strides=2).count_params_for((1, 56, 56, 64)), expected)

    def test_activation_elements_for(self):
        out = 2 * 3 * 3 * 8
        conv_1 = 2 * 8 * 8 * 4 + 3 * out  # padded input, conv, norm, activation
        conv_2 = 2 * 5 * 5 * 8 + 2 * out  # padded input, conv, norm
        shortcut = 2 * out  # conv, norm
        expected = conv_1 + conv_2 + shortcut + 2 * out  # the sum and its activation
        self.assertEqual(ResNetBasicBlock(8, strides=2).activation_elements_for((2, 6, 6, 4)), expected)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "filters"):
            ResNetBasicBlock(0)
        with self.assertRaisesNamed(ValueError, "norm", "batchnorm"):
            ResNetBasicBlock(4, norm="batchnorm")
        with self.assertRaisesNamed(ValueError, "use_zero_init_residual", "layer_norm"):
            ResNetBasicBlock(4, norm="layer_norm", use_zero_init_residual=True)
        with self.assertRaisesNamed(ValueError, "drop_path_rate"):
            ResNetBasicBlock(4, drop_path_rate=1.0)
        with self.assertRaisesNamed(ValueError, "activation"):
            ResNetBasicBlock(4, activation="rellu")
