import math

import numpy as np

from dlzoo.blocks.vision import ConvNeXtBlock
from dlzoo.testing import TestCase


def _gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def convnext_block_reference(x, dw_kernel, dw_bias, scale, shift, w1, b1, w2, b2, gamma, epsilon):
    """Liu et al. (2022), figure 4, in float64: dwconv -> LN -> W1 -> GELU -> W2 -> gamma -> + x."""
    x = x.astype("float64")
    b, h, w, c = x.shape
    k = dw_kernel.shape[0]
    pad = k // 2
    padded = np.zeros((b, h + 2 * pad, w + 2 * pad, c))
    padded[:, pad:pad + h, pad:pad + w] = x
    conv = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            window = padded[:, i:i + k, j:j + k, :]  # (b, k, k, c)
            conv[:, i, j, :] = np.einsum("bxyc,xyc->bc", window, dw_kernel[..., 0])
    conv = conv + dw_bias
    mean = conv.mean(-1, keepdims=True)
    var = ((conv - mean) ** 2).mean(-1, keepdims=True)
    normed = (conv - mean) / np.sqrt(var + epsilon) * scale + shift
    branch = _gelu(normed @ w1 + b1) @ w2 + b2
    return x + branch * gamma


class ConvNeXtBlockTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            ConvNeXtBlock,
            init_kwargs={"kernel_size": 3, "intermediate_dim": 16, "layer_scale_init_value": 0.1},
            input_shape=(2, 4, 4, 8),
            expected_output_shape=(2, 4, 4, 8),
            # depthwise kernel+bias, norm scale+bias, 2 dense kernels+biases, gamma
            expected_num_trainable_weights=9,
            expected_num_seed_generators=1,
        )

    def test_block_basics_without_layer_scale_with_drop_path(self):
        self.run_block_test(
            ConvNeXtBlock,
            init_kwargs={"kernel_size": 3, "use_layer_scale": False, "drop_path_rate": 0.2, "seed": 1, "use_bias": False},
            input_shape=(2, 4, 4, 4),
            expected_output_shape=(2, 4, 4, 4),
            expected_num_trainable_weights=5,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 5, 5, 4)).astype("float32")
        block = ConvNeXtBlock(kernel_size=3, intermediate_dim=6, layer_scale_init_value=0.5)
        block.build(x.shape)
        values = {
            "dw_kernel": rng.standard_normal((3, 3, 4, 1)),
            "dw_bias": rng.standard_normal((4,)),
            "scale": rng.standard_normal((4,)),
            "shift": rng.standard_normal((4,)),
            "w1": rng.standard_normal((4, 6)) * 0.5,
            "b1": rng.standard_normal((6,)),
            "w2": rng.standard_normal((6, 4)) * 0.5,
            "b2": rng.standard_normal((4,)),
            "gamma": rng.standard_normal((4,)),
        }
        block.depthwise_conv.kernel.assign(values["dw_kernel"].astype("float32"))
        block.depthwise_conv.bias.assign(values["dw_bias"].astype("float32"))
        block.norm_layer.scale.assign(values["scale"].astype("float32"))
        block.norm_layer.bias.assign(values["shift"].astype("float32"))
        block.pointwise.inner_proj.kernel.assign(values["w1"].astype("float32"))
        block.pointwise.inner_proj.bias.assign(values["b1"].astype("float32"))
        block.pointwise.output_proj.kernel.assign(values["w2"].astype("float32"))
        block.pointwise.output_proj.bias.assign(values["b2"].astype("float32"))
        block.layer_scale.gamma.assign(values["gamma"].astype("float32"))
        values = {k: v.astype("float32").astype("float64") for k, v in values.items()}
        expected = convnext_block_reference(x, epsilon=1e-6, **values)
        self.assertAllClose(block(x), expected, atol=2e-5, rtol=1e-4)

    def test_starts_near_identity(self):
        # LayerScale at 1e-6: the block is (almost) the identity at initialization.
        x = np.random.default_rng(1).standard_normal((1, 4, 4, 8)).astype("float32")
        block = ConvNeXtBlock(kernel_size=3)
        self.assertAllClose(block(x), x, atol=1e-4, rtol=0)

    def test_count_params_for(self):
        for kwargs in ({}, {"intermediate_dim": 10, "use_bias": False}, {"use_layer_scale": False, "norm": "rms_norm"}):
            block = ConvNeXtBlock(kernel_size=5, **kwargs)
            expected = block.count_params_for((1, 6, 6, 12))
            block.build((1, 6, 6, 12))
            self.assertEqual(block.count_params(), expected, msg=str(kwargs))
        # 7x7 depthwise + bias, LN, 4x MLP, gamma at 96 channels (ConvNeXt-T stage 1): 79,296.
        self.assertEqual(ConvNeXtBlock().count_params_for((1, 56, 56, 96)), 49 * 96 + 96 + 192 + 2 * 96 * 384 + 384 + 96 + 96)

    def test_activation_elements_for(self):
        # Per pixel: dwconv and LN outputs (2c), the bottleneck before and after GELU (2f), W2 and block outputs (2c).
        block = ConvNeXtBlock(intermediate_dim=10)
        self.assertEqual(block.activation_elements_for((2, 3, 5, 4)), 2 * 3 * 5 * (4 * 4 + 2 * 10))
        self.assertEqual(ConvNeXtBlock().activation_elements_for((1, 56, 56, 96)), 56 * 56 * 12 * 96)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "kernel_size"):
            ConvNeXtBlock(kernel_size=4)
        with self.assertRaisesNamed(ValueError, "intermediate_dim"):
            ConvNeXtBlock(intermediate_dim=0)
        with self.assertRaisesNamed(ValueError, "drop_path_rate"):
            ConvNeXtBlock(drop_path_rate=1.0)
        with self.assertRaisesNamed(ValueError, "norm"):
            ConvNeXtBlock(norm="batch_norm_typo")
        with self.assertRaisesNamed(ValueError, "activation"):
            ConvNeXtBlock(activation="not_an_activation")
        with self.assertRaisesNamed(ValueError, "input_shape"):
            ConvNeXtBlock().build((2, 5, 16))
