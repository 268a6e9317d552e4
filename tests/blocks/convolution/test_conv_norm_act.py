import numpy as np
from keras.ops import convert_to_numpy as to_numpy

from dlzoo.blocks.convolution import ConvNormAct
from dlzoo.testing import TestCase
from tests.blocks.convolution._reference import (
    as_float32,
    assign_batch_norm,
    batch_norm,
    conv2d,
    depthwise_as_grouped,
    random_batch_norm,
    relu,
    silu,
)


def numpy_conv_norm_act(x, layer, values, groups, padding, strides, activation):
    """The reference output for a built ConvNormAct, from its (float32-rounded) weights."""
    kernel = values["kernel"]
    if kernel.shape[2] != x.shape[-1] // groups:  # a Keras depthwise kernel (k, k, c, m)
        kernel = depthwise_as_grouped(kernel)
    y = conv2d(x, kernel, strides=strides, padding=padding, groups=groups, bias=values.get("bias"))
    y = batch_norm(y, values["gamma"], values["beta"], values["mean"], values["variance"], layer.norm_epsilon)
    return {"relu": relu, "silu": silu, None: lambda v: v}[activation](y)


class ConvNormActTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            ConvNormAct,
            init_kwargs={"filters": 6, "kernel_size": 3, "strides": 2, "padding": "symmetric"},
            input_shape=(2, 6, 6, 4),
            expected_output_shape=(2, 3, 3, 6),
            expected_num_trainable_weights=3,  # kernel, gamma, beta
            expected_num_non_trainable_weights=2,  # moving mean and variance
        )

    def test_block_basics_depthwise_with_layer_norm(self):
        self.run_block_test(
            ConvNormAct,
            init_kwargs={"filters": 8, "kernel_size": 3, "strides": 2, "groups": 4, "use_bias": True,
                         "norm": "layer_norm", "activation": "silu"},
            input_shape=(2, 5, 5, 4),
            expected_output_shape=(2, 3, 3, 8),
            expected_num_trainable_weights=4,
        )

    def test_block_basics_grouped_without_norm_or_activation(self):
        self.run_block_test(
            ConvNormAct,
            init_kwargs={"filters": 6, "kernel_size": 1, "groups": 2, "padding": "valid", "norm": None,
                         "activation": None, "use_bias": True},
            input_shape=(2, 4, 4, 4),
            expected_output_shape=(2, 4, 4, 6),
            expected_num_trainable_weights=2,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        cases = [
            # (size, channels, filters, kernel, strides, padding, groups, use_bias, activation)
            (6, 3, 5, 7, 2, "symmetric", 1, False, "relu"),  # a ResNet stem on an even image
            (7, 3, 5, 3, 2, "symmetric", 1, False, "relu"),
            (6, 4, 6, 3, 2, "same", 1, True, "silu"),  # TF "same" at stride 2: the extra pixel bottom/right
            (7, 4, 6, 5, 2, "same", 1, False, None),
            (5, 4, 4, 3, 1, "same", 1, False, "relu"),
            (6, 4, 8, 3, 1, "valid", 2, True, "relu"),  # grouped
            (8, 6, 6, 5, 2, "same", 6, False, "silu"),  # depthwise
            (6, 3, 6, 3, 1, "symmetric", 3, False, None),  # depthwise, multiplier 2
        ]
        for size, c, f, k, s, padding, groups, use_bias, activation in cases:
            x = rng.standard_normal((2, size, size, c)).astype("float32")
            layer = ConvNormAct(f, kernel_size=k, strides=s, padding=padding, groups=groups, use_bias=use_bias,
                                activation=activation, norm_epsilon=1e-3)
            layer.build(x.shape)
            values = {"kernel": rng.standard_normal(tuple(layer.conv.kernel.shape)) * 0.3, **random_batch_norm(rng, f)}
            if use_bias:
                values["bias"] = rng.standard_normal(f)
            layer.conv.kernel.assign(values["kernel"].astype("float32"))
            if use_bias:
                layer.conv.bias.assign(values["bias"].astype("float32"))
            assign_batch_norm(layer.norm_layer, values)
            expected = numpy_conv_norm_act(x, layer, as_float32(values), groups, padding, s, activation)
            case = f"size={size}, k={k}, strides={s}, padding={padding}, groups={groups}"
            self.assertAllClose(layer(x, training=False), expected, atol=1e-4, rtol=1e-4, msg=case)

    def test_same_and_symmetric_padding_differ_at_stride_2(self):
        # The reason both exist: on an even image the windows of a stride-2 3x3 conv sit one pixel apart.
        x = np.random.default_rng(1).standard_normal((1, 6, 6, 2)).astype("float32")
        same, symmetric = ConvNormAct(3, strides=2, padding="same"), ConvNormAct(3, strides=2, padding="symmetric")
        same.build(x.shape)
        symmetric.build(x.shape)
        symmetric.set_weights(same.get_weights())
        self.assertEqual(tuple(same(x).shape), tuple(symmetric(x).shape))
        self.assertGreater(np.abs(to_numpy(same(x)) - to_numpy(symmetric(x))).max(), 1e-2)

    def test_training_uses_batch_statistics_and_keras_momentum(self):
        rng = np.random.default_rng(2)
        x = rng.standard_normal((4, 5, 5, 3)).astype("float32")
        layer = ConvNormAct(4, norm_epsilon=1e-5, norm_momentum=0.9, activation=None)
        layer.build(x.shape)
        kernel = to_numpy(layer.conv.kernel).astype("float64")
        y = layer(x, training=True)
        conv = conv2d(x, kernel, padding="same")
        mean, variance = conv.mean(axis=(0, 1, 2)), conv.var(axis=(0, 1, 2))
        self.assertAllClose(y, (conv - mean) / np.sqrt(variance + 1e-5), atol=1e-4, rtol=1e-4)
        # Keras momentum 0.9 == PyTorch momentum 0.1: moving = 0.9 * moving + 0.1 * batch (moving mean starts at 0).
        self.assertAllClose(layer.norm_layer.moving_mean, 0.1 * mean, atol=1e-5, rtol=1e-5)
        self.assertAllClose(layer.norm_layer.moving_variance, 0.9 + 0.1 * variance, atol=1e-5, rtol=1e-5)

    def test_zero_initial_norm_scale(self):
        x = np.random.default_rng(3).standard_normal((1, 4, 4, 2)).astype("float32")
        layer = ConvNormAct(3, norm_scale_init="zeros", activation=None)
        self.assertAllClose(layer(x), np.zeros((1, 4, 4, 3)))

    def test_count_params_for(self):
        for kwargs in ({}, {"use_bias": True, "norm": "layer_norm"}, {"groups": 6}, {"groups": 2, "norm": None},
                       {"strides": 2, "padding": "symmetric", "kernel_size": 7}):
            layer = ConvNormAct(12, **kwargs)
            expected = layer.count_params_for((1, 9, 9, 6))
            layer.build((1, 9, 9, 6))
            self.assertEqual(layer.count_params(), expected, msg=str(kwargs))
            fixed = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
            self.assertEqual(layer.non_trainable_params_for((1, 9, 9, 6)), fixed, msg=str(kwargs))
        # ResNet-50 stem: 7x7x3x64 kernel, BN gamma/beta/mean/variance of 64 channels.
        self.assertEqual(ConvNormAct(64, 7, 2, "symmetric").count_params_for((1, 224, 224, 3)), 7 * 7 * 3 * 64 + 4 * 64)

    def test_activation_elements_for(self):
        # Kept for the backward pass: the padded input (2, 8, 8, 3) and the conv, norm and activation outputs (2, 3, 3, 8).
        layer = ConvNormAct(8, 3, 2, "symmetric")
        self.assertEqual(layer.activation_elements_for((2, 6, 6, 3)), 2 * 8 * 8 * 3 + 3 * (2 * 3 * 3 * 8))
        self.assertEqual(ConvNormAct(8, 1, norm=None, activation=None).activation_elements_for((2, 6, 6, 3)), 2 * 6 * 6 * 8)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "padding", "'SAME'", "'symmetric'"):
            ConvNormAct(4, padding="SAME")
        with self.assertRaisesNamed(ValueError, "groups", "filters"):
            ConvNormAct(4, groups=3)
        with self.assertRaisesNamed(ValueError, "norm", "batchnorm", "batch_norm"):
            ConvNormAct(4, norm="batchnorm")
        with self.assertRaisesNamed(ValueError, "activation", "relux"):
            ConvNormAct(4, activation="relux")
        with self.assertRaisesNamed(ValueError, "norm_scale_init", "layer_norm"):
            ConvNormAct(4, norm="layer_norm", norm_scale_init="zeros")
        with self.assertRaisesNamed(ValueError, "norm_momentum"):
            ConvNormAct(4, norm_momentum=1.5)
        with self.assertRaisesNamed(ValueError, "groups", "input channels"):
            ConvNormAct(4, groups=2).build((1, 4, 4, 3))
        with self.assertRaisesNamed(ValueError, "input_shape"):
            ConvNormAct(4).build((1, 4, 3))
