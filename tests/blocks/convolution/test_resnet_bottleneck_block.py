import numpy as np
from keras.ops import convert_to_numpy as to_numpy

from dlzoo.blocks.convolution import ResNetBottleneckBlock
from dlzoo.testing import TestCase
from tests.blocks.convolution._reference import conv_bn, randomize_conv_norm, relu


def bottleneck_reference(x, convs, shortcut, strides, epsilon, stride_on_3x3=True):
    """He et al. (2016), figure 5 right; v1.5 puts the stride on the 3x3 conv (v1: on the first 1x1)."""
    conv_1, conv_2, conv_3 = convs
    y = relu(conv_bn(x, conv_1, 1 if stride_on_3x3 else strides, "symmetric", epsilon))
    y = relu(conv_bn(y, conv_2, strides if stride_on_3x3 else 1, "symmetric", epsilon))
    y = conv_bn(y, conv_3, 1, "symmetric", epsilon)
    s = x if shortcut is None else conv_bn(x, shortcut, strides, "valid", epsilon)
    return relu(y + s)


class ResNetBottleneckBlockTest(TestCase):
    def test_block_basics_with_projection(self):
        self.run_block_test(
            ResNetBottleneckBlock,
            init_kwargs={"filters": 16, "strides": 2},
            input_shape=(2, 6, 6, 8),
            expected_output_shape=(2, 3, 3, 16),
            expected_num_trainable_weights=12,  # 4 kernels, 4 x (gamma, beta)
            expected_num_non_trainable_weights=8,
        )

    def test_block_basics_identity_with_intermediate_dim_and_zero_init(self):
        self.run_block_test(
            ResNetBottleneckBlock,
            init_kwargs={"filters": 8, "intermediate_dim": 3, "use_zero_init_residual": True, "drop_path_rate": 0.1},
            input_shape=(2, 5, 5, 8),
            expected_output_shape=(2, 5, 5, 8),
            expected_num_trainable_weights=9,
            # The last norm's scale starts at zero, so nothing reaches the branch's first two layers on step one.
            weights_without_gradient=("conv_1", "conv_2", "conv_3/conv"),
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        for size, channels, filters, strides in ((6, 8, 16, 2), (7, 8, 16, 2), (5, 12, 12, 1), (5, 4, 8, 1)):
            x = rng.standard_normal((2, size, size, channels)).astype("float32")
            block = ResNetBottleneckBlock(filters, strides=strides, norm_epsilon=1e-3)
            block.build(x.shape)
            convs = [randomize_conv_norm(layer, rng) for layer in block.branch]
            shortcut = None if block.shortcut is None else randomize_conv_norm(block.shortcut, rng)
            expected = bottleneck_reference(x.astype("float64"), convs, shortcut, strides, 1e-3)
            got = block(x, training=False)
            self.assertAllClose(got, expected, atol=1e-4, rtol=1e-4, msg=f"{size}, {strides}")
            if strides == 2:  # v1 (stride on the first 1x1) is a different function: the test can tell.
                v1 = bottleneck_reference(x.astype("float64"), convs, shortcut, strides, 1e-3, stride_on_3x3=False)
                self.assertGreater(np.abs(to_numpy(got) - v1).max(), 1e-2)

    def test_zero_init_residual_starts_as_identity(self):
        x = np.random.default_rng(1).standard_normal((2, 4, 4, 8)).astype("float32")
        block = ResNetBottleneckBlock(8, use_zero_init_residual=True)
        self.assertAllClose(block(x, training=False), np.maximum(x, 0), atol=1e-6)

    def test_count_params_for(self):
        for kwargs in ({"filters": 16}, {"filters": 32, "strides": 2}, {"filters": 16, "intermediate_dim": 6}):
            block = ResNetBottleneckBlock(**kwargs)
            expected = block.count_params_for((1, 8, 8, 16))
            block.build((1, 8, 8, 16))
            self.assertEqual(block.count_params(), expected, msg=str(kwargs))
            fixed = sum(int(np.prod(w.shape)) for w in block.non_trainable_weights)
            self.assertEqual(block.non_trainable_params_for((1, 8, 8, 16)), fixed, msg=str(kwargs))
        # ResNet-50's first block (64 -> 256, bottleneck 64), BN statistics included.
        expected = 64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256 + 4 * (64 + 64 + 256 + 256)
        self.assertEqual(ResNetBottleneckBlock(256).count_params_for((1, 56, 56, 64)), expected)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "filters", "intermediate_dim"):
            ResNetBottleneckBlock(3)
        with self.assertRaisesNamed(ValueError, "intermediate_dim"):
            ResNetBottleneckBlock(8, intermediate_dim=0)
        with self.assertRaisesNamed(ValueError, "strides"):
            ResNetBottleneckBlock(8, strides=0)
        with self.assertRaisesNamed(ValueError, "norm_epsilon"):
            ResNetBottleneckBlock(8, norm_epsilon=-1.0)
