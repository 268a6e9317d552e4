import numpy as np

from dlzoo.blocks.convolution import MBConvBlock
from dlzoo.testing import TestCase
from tests.blocks.convolution._reference import conv_bn, randomize_conv_norm, silu, squeeze_excitation


def mbconv_reference(x, layers, strides, padding, epsilon, residual):
    """Sandler et al. (2018) / Tan and Le (2019): expand 1x1, depthwise kxk, SE, linear 1x1 projection, residual."""
    y = x
    if "expand" in layers:
        y = silu(conv_bn(y, layers["expand"], 1, "valid", epsilon))
    y = silu(conv_bn(y, layers["depthwise"], strides, padding, epsilon, groups=y.shape[-1]))
    if "squeeze_excitation" in layers:
        y = squeeze_excitation(y, *layers["squeeze_excitation"], activation=silu)
    y = conv_bn(y, layers["project"], 1, "valid", epsilon)
    return x + y if residual else y


def randomize(block, rng):
    values = {}
    for layer in block.branch:
        if layer.name == "squeeze_excitation":
            weights = [rng.standard_normal(tuple(w.shape)) * 0.5 for w in layer.weights]
            layer.set_weights([w.astype("float32") for w in weights])
            values[layer.name] = [w.astype("float32").astype("float64") for w in weights]
        else:
            values[layer.name] = randomize_conv_norm(layer, rng)
    return values


class MBConvBlockTest(TestCase):
    def test_block_basics_residual(self):
        self.run_block_test(
            MBConvBlock,
            init_kwargs={"filters": 8, "expand_ratio": 4},
            input_shape=(2, 6, 6, 8),
            expected_output_shape=(2, 6, 6, 8),
            # expand, depthwise, project: kernel + gamma + beta each; SE: two kernels and biases
            expected_num_trainable_weights=13,
            expected_num_non_trainable_weights=6,
            expected_num_seed_generators=1,
        )

    def test_block_basics_strided_without_expansion_or_se(self):
        self.run_block_test(
            MBConvBlock,
            init_kwargs={"filters": 6, "kernel_size": 5, "strides": 2, "expand_ratio": 1, "squeeze_ratio": 0.0,
                         "padding": "symmetric", "norm": "layer_norm", "activation": "relu"},
            input_shape=(2, 7, 7, 4),
            expected_output_shape=(2, 4, 4, 6),
            expected_num_trainable_weights=6,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        cases = [
            # (size, channels, filters, kernel, strides, expand_ratio, squeeze_ratio, padding)
            (6, 8, 8, 3, 1, 4, 0.25, "same"),  # residual
            (8, 4, 8, 5, 2, 6, 0.25, "same"),  # TF "same" at stride 2 on an even map
            (7, 4, 8, 3, 2, 6, 0.25, "same"),
            (6, 8, 8, 3, 1, 1, 0.25, "symmetric"),  # no expansion (EfficientNet's first stage)
            (6, 4, 6, 3, 2, 3, 0.0, "symmetric"),  # no SE
        ]
        for size, c, f, k, s, e, r, padding in cases:
            x = rng.standard_normal((2, size, size, c)).astype("float32")
            block = MBConvBlock(f, kernel_size=k, strides=s, expand_ratio=e, squeeze_ratio=r, padding=padding)
            block.build(x.shape)
            layers = randomize(block, rng)
            self.assertEqual("expand" in layers, e != 1)
            residual = s == 1 and c == f
            expected = mbconv_reference(x.astype("float64"), layers, s, padding, 1e-3, residual)
            case = f"size={size}, k={k}, strides={s}, expand={e}, se={r}, padding={padding}"
            self.assertAllClose(block(x, training=False), expected, atol=1e-4, rtol=1e-4, msg=case)

    def test_squeeze_width_follows_the_block_input(self):
        # EfficientNet sizes SE from the block's input channels (16 * 0.25 = 4), not the expanded 96.
        block = MBConvBlock(24, expand_ratio=6, squeeze_ratio=0.25)
        block.build((1, 8, 8, 16))
        squeeze = [layer for layer in block.branch if layer.name == "squeeze_excitation"][0]
        self.assertEqual(tuple(squeeze.reduce.kernel.shape), (96, 4))

    def test_count_params_for(self):
        for kwargs in ({"filters": 16}, {"filters": 24, "strides": 2, "kernel_size": 5}, {"filters": 16, "expand_ratio": 1},
                       {"filters": 8, "squeeze_ratio": 0.0, "norm": "rms_norm"}):
            block = MBConvBlock(**kwargs)
            expected = block.count_params_for((1, 8, 8, 16))
            block.build((1, 8, 8, 16))
            self.assertEqual(block.count_params(), expected, msg=str(kwargs))
            fixed = sum(int(np.prod(w.shape)) for w in block.non_trainable_weights)
            self.assertEqual(block.non_trainable_params_for((1, 8, 8, 16)), fixed, msg=str(kwargs))
        # EfficientNet-B0's second block (16 -> 24, expand 6, 3x3, SE 4), BN statistics included:
        # expand 16*96 + BN, depthwise 9*96 + BN, SE 96*4+4+4*96+96, project 96*24 + BN.
        expected = 16 * 96 + 4 * 96 + 9 * 96 + 4 * 96 + (96 * 4 + 4 + 4 * 96 + 96) + 96 * 24 + 4 * 24
        self.assertEqual(MBConvBlock(24, strides=2).count_params_for((1, 112, 112, 16)), expected)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "padding", "valid"):
            MBConvBlock(8, padding="valid")
        with self.assertRaisesNamed(ValueError, "expand_ratio"):
            MBConvBlock(8, expand_ratio=0)
        with self.assertRaisesNamed(ValueError, "squeeze_ratio"):
            MBConvBlock(8, squeeze_ratio=-0.25)
        with self.assertRaisesNamed(ValueError, "norm", "group_norm"):
            MBConvBlock(8, norm="group_norm")
        with self.assertRaisesNamed(ValueError, "input_shape"):
            MBConvBlock(8).build((2, 8, 8))
