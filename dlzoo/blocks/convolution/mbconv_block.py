"""MBConv: the inverted residual block of MobileNetV2 and EfficientNet, with squeeze-and-excitation."""

import keras

from dlzoo.blocks.convolution._common import elements, fixed_weights, image_channels
from dlzoo.blocks.convolution.conv_norm_act import ConvNormAct
from dlzoo.blocks.convolution.squeeze_excitation import SqueezeExcitation
from dlzoo.blocks.feedforward._common import check_activation
from dlzoo.blocks.residual.drop_path import DropPath
from dlzoo.registry import check_block_role, register_block
from dlzoo.validation import check_choice, check_float, check_int, check_positive_int, check_rate

DEPTHWISE_PADDINGS = ("same", "symmetric")


@register_block(
    "mbconv_block",
    paper="arXiv:1905.11946",
    example={"init_kwargs": {"filters": 8, "expand_ratio": 4}, "inputs": (2, 6, 6, 8)},
)
class MBConvBlock(keras.layers.Layer):
    """MBConv: inverted residual block with a depthwise convolution and squeeze-and-excitation.

    Four steps (Sandler et al., 2018; Tan and Le, 2019):

    1. *expand*: a 1x1 conv-norm-act widens the `c` input channels to
       `e = c * expand_ratio` (skipped when `expand_ratio == 1`);
    2. *depthwise*: a `kernel_size x kernel_size` depthwise conv-norm-act
       (one filter per channel) mixes space, with the block's stride;
    3. *squeeze-and-excitation* reweights the `e` channels, with a
       bottleneck of `max(1, int(c * squeeze_ratio))` (a ratio of the block's
       *input* channels, as in EfficientNet; `squeeze_ratio=0` removes it);
    4. *project*: a 1x1 conv-norm back to `filters` channels, with no
       activation (a "linear bottleneck": a ReLU in the narrow space would
       destroy information).

    When the shapes allow (`strides == 1` and `filters == c`), the input is
    added back: `x + drop_path(branch(x))`. Unlike ResNet's bottleneck, the
    residual connects the narrow ends and the block is wide in the middle,
    hence "inverted"; the depthwise convolution keeps that wide middle
    cheap (`k*k*e` weights instead of `k*k*e*e`).

    Args:
        filters: int. Output channels.
        kernel_size: int. Side of the depthwise kernel. Defaults to `3`.
        strides: int. Stride of the depthwise convolution. Defaults to `1`.
        expand_ratio: int. Expansion factor of the first 1x1 convolution.
            Defaults to `6`.
        squeeze_ratio: float. Squeeze-and-excitation width relative to the
            input channels; `0` for no SE. Defaults to `0.25`.
        activation: str. Keras activation of the expand, depthwise and SE
            layers. Defaults to `"silu"` (EfficientNet's swish).
        padding: str. Padding of the depthwise convolution: `"same"`
            (TensorFlow, the original EfficientNet and Hugging Face's port)
            or `"symmetric"` (`kernel_size // 2` per side, torchvision).
            Defaults to `"same"`.
        norm: str. Registered normalization block. Defaults to `"batch_norm"`.
        norm_epsilon: float. Epsilon of the norms. Defaults to `1e-3`
            (EfficientNet).
        norm_momentum: float. Momentum of batch-norm statistics, Keras
            convention. Defaults to `0.99` (EfficientNet; PyTorch `0.01`).
        drop_path_rate: float. Stochastic-depth rate of the residual branch
            (used only when there is a residual). Defaults to `0.0`.
        seed: int. Seed of the stochastic-depth draws. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, height, width, channels)`.
        training: bool. Batch statistics and stochastic depth in training.

    Returns:
        Tensor of shape `(batch, out_height, out_width, filters)`.

    Example:

    >>> block = dlzoo.blocks.MBConvBlock(filters=8, expand_ratio=4)
    >>> tuple(block(np.zeros((2, 6, 6, 8))).shape)
    (2, 6, 6, 8)

    Notes:
        Hugging Face's EfficientNet applies element-wise dropout to the
        branch where the original (TensorFlow) code drops the whole branch
        per example ("drop connect"); this block follows the original. Both
        are the identity at inference. With `padding="same"` at stride 2 on
        an odd-sized input, Hugging Face pads `(k//2 - 1, k//2)` where
        TensorFlow pads `(k//2, k//2)`; on even sizes (all EfficientNet
        resolutions) they agree.

    Reference:
        - [Sandler et al., 2018. MobileNetV2: Inverted Residuals and Linear Bottlenecks](https://arxiv.org/abs/1801.04381), section 3
        - [Tan and Le, 2019. EfficientNet](https://arxiv.org/abs/1905.11946), section 4
        - [Hu et al., 2018. Squeeze-and-Excitation Networks](https://arxiv.org/abs/1709.01507)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        expand_ratio=6,
        squeeze_ratio=0.25,
        activation="silu",
        padding="same",
        norm="batch_norm",
        norm_epsilon=1e-3,
        norm_momentum=0.99,
        drop_path_rate=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.strides = check_positive_int("strides", strides)
        self.expand_ratio = check_positive_int("expand_ratio", expand_ratio)
        self.squeeze_ratio = check_float("squeeze_ratio", squeeze_ratio, min_value=0.0)
        self.activation = check_activation("activation", activation)
        self.padding = check_choice("padding", padding, DEPTHWISE_PADDINGS)
        self.norm = check_block_role("norm", norm, "normalization")
        self.norm_epsilon = check_float("norm_epsilon", norm_epsilon, min_value=0.0)
        self.norm_momentum = check_float("norm_momentum", norm_momentum, min_value=0.0, max_value=1.0)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.seed = check_int("seed", seed, allow_none=True)
        self.drop_path = DropPath(rate=self.drop_path_rate, seed=self.seed, dtype=self.dtype_policy, name="drop_path")

    def _conv(self, name, filters, kernel_size, strides=1, groups=1, activation=None):
        return ConvNormAct(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=self.padding if kernel_size > 1 else "valid",
            groups=groups,
            norm=self.norm,
            norm_epsilon=self.norm_epsilon,
            norm_momentum=self.norm_momentum,
            activation=activation,
            dtype=self.dtype_policy,
            name=name,
        )

    def _sublayers(self, channels):
        """The block's layers for `channels` input channels, in call order (unbuilt)."""
        expanded = channels * self.expand_ratio
        layers = []
        if self.expand_ratio != 1:
            layers.append(self._conv("expand", expanded, 1, activation=self.activation))
        layers.append(
            self._conv("depthwise", expanded, self.kernel_size, self.strides, groups=expanded, activation=self.activation)
        )
        if self.squeeze_ratio > 0:
            layers.append(
                SqueezeExcitation(
                    squeeze_dim=max(1, int(channels * self.squeeze_ratio)),
                    activation=self.activation,
                    dtype=self.dtype_policy,
                    name="squeeze_excitation",
                )
            )
        layers.append(self._conv("project", self.filters, 1))
        return layers

    def _has_residual(self, channels):
        return self.strides == 1 and channels == self.filters

    def build(self, input_shape):
        # Shape legend: b = batch, h, w = spatial size, c = input channels, e = c * expand_ratio.
        channels = image_channels(input_shape, "MBConvBlock")
        self.branch = self._sublayers(channels)
        shape = tuple(input_shape)
        for layer in self.branch:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.use_residual = self._has_residual(channels)
        self.drop_path.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs  # (b, h, w, c)
        for layer in self.branch:  # -> (b, h, w, e) -> (b, h', w', e) -> (b, h', w', filters)
            x = layer(x, training=training)
        if self.use_residual:
            return inputs + self.drop_path(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._sublayers(image_channels(input_shape, "MBConvBlock")):
            shape = layer.compute_output_shape(shape)
        return shape

    def activation_elements_for(self, input_shape):
        """Elements kept for the backward pass: every sub-layer's, and the residual sum."""
        channels = image_channels(input_shape, "MBConvBlock")
        total, shape = 0, tuple(input_shape)
        for layer in self._sublayers(channels):
            total += layer.activation_elements_for(shape)
            shape = layer.compute_output_shape(shape)
        return total + (elements(shape) if self._has_residual(channels) else 0)

    def count_params_for(self, input_shape):
        total, shape = 0, tuple(input_shape)
        for layer in self._sublayers(image_channels(input_shape, "MBConvBlock")):
            total += layer.count_params_for(shape)
            shape = layer.compute_output_shape(shape)
        return total

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: expansion, depthwise and projection convolutions and the squeeze-excitation's projections."""
        total, shape = 0, tuple(input_shape)
        for layer in self._sublayers(image_channels(input_shape, "MBConvBlock")):
            total += layer.flops_for(shape)
            shape = layer.compute_output_shape(shape)
        return total

    def non_trainable_params_for(self, input_shape):
        """Weights no gradient updates: the moving statistics of the expand, depthwise and project norms."""
        total, shape = 0, tuple(input_shape)
        for layer in self._sublayers(image_channels(input_shape, "MBConvBlock")):
            total += fixed_weights(layer, shape)
            shape = layer.compute_output_shape(shape)
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "expand_ratio": self.expand_ratio,
                "squeeze_ratio": self.squeeze_ratio,
                "activation": self.activation,
                "padding": self.padding,
                "norm": self.norm,
                "norm_epsilon": self.norm_epsilon,
                "norm_momentum": self.norm_momentum,
                "drop_path_rate": self.drop_path_rate,
                "seed": self.seed,
            }
        )
        return config
