"""Conv-norm-activation: a 2D convolution, then a normalization, then an activation."""

import keras

from dlzoo.blocks.convolution._common import (
    check_padding,
    elements,
    fixed_weights,
    image_channels,
    output_size,
    symmetric_padding,
)
from dlzoo.blocks.feedforward._common import check_activation, check_initializer, get_activation
from dlzoo.flops import conv_flops
from dlzoo.registry import check_block_role, count_weights, get_block, init_arguments, make_block, register_block
from dlzoo.validation import check_bool, check_choice, check_divides, check_float, check_positive_int

NORM_SCALE_INITS = ("ones", "zeros")


@register_block(
    "conv_norm_act",
    paper="arXiv:1502.03167",
    example={"init_kwargs": {"filters": 6, "kernel_size": 3, "strides": 2, "padding": "same"}, "inputs": (2, 6, 6, 4)},
)
class ConvNormAct(keras.layers.Layer):
    """Conv-norm-activation: the unit convolutional networks are built of.

    Computes `act(norm(conv(x)))`: a `kernel_size x kernel_size`
    convolution with `filters` outputs, a normalization over the channels
    (batch normalization by default, as in ResNet and EfficientNet) and an
    activation. A bias before a batch normalization is redundant (the norm
    subtracts the mean), so there is none by default.

    `groups` splits the channels into groups convolved separately; with
    `groups` equal to the input channels the convolution is *depthwise* (one
    `k x k` filter per channel, `filters / channels` outputs each), the
    spatial half of a depthwise separable convolution (MobileNet,
    EfficientNet).

    Padding decides where the windows sit, which matters when porting
    weights: `"symmetric"` adds `kernel_size // 2` pixels on every side
    (PyTorch's `padding=kernel_size // 2`, used by torchvision and Hugging
    Face ResNets), `"same"` pads so that the output is `ceil(size / strides)`
    and, when the total padding is odd, puts the extra pixel at the bottom
    and right (TensorFlow, the original EfficientNet). At stride 1 with an
    odd kernel the two are the same; at stride 2 on an even-sized image they
    are not.

    Args:
        filters: int. Output channels.
        kernel_size: int. Side of the square kernel. Defaults to `3`.
        strides: int. Stride of the convolution. Defaults to `1`.
        padding: str. `"same"`, `"symmetric"` or `"valid"` (no padding).
            Defaults to `"same"`.
        groups: int. Channel groups; must divide the input channels and
            `filters`. Equal to the input channels: a depthwise convolution.
            Defaults to `1`.
        use_bias: bool. Bias in the convolution. Defaults to `False`.
        norm: str or None. Registered normalization block after the
            convolution (`"batch_norm"`, `"layer_norm"`, ...), or `None` for
            none. Defaults to `"batch_norm"`.
        norm_epsilon: float. Epsilon of the norm. Defaults to `1e-5`
            (PyTorch's BatchNorm; Keras' own default is `1e-3`).
        norm_momentum: float. Momentum of a batch norm's moving statistics,
            Keras convention: `moving = momentum * moving + (1 - momentum) *
            batch`. PyTorch's `momentum=0.1` is `0.9` here. Ignored by norms
            without moving statistics. Defaults to `0.9`.
        norm_scale_init: str. `"ones"` or `"zeros"`: initial scale (gamma)
            of the norm. `"zeros"` (the "zero-init residual" trick) needs a
            norm with a `gamma_initializer` (`"batch_norm"`). Defaults to
            `"ones"`.
        activation: str or None. Keras activation name (`"relu"`, `"silu"`,
            ...), or `None` for none. Defaults to `"relu"`.
        kernel_initializer: str or dict. Initializer of the kernel. Defaults
            to `"he_normal"` (He et al., 2015, for ReLU networks).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, height, width, channels)`.
        training: bool. Whether batch statistics are used (and the moving
            statistics updated).

    Returns:
        Tensor of shape `(batch, out_height, out_width, filters)`.

    Example:

    >>> layer = dlzoo.blocks.ConvNormAct(filters=8, kernel_size=3, strides=2, padding="symmetric")
    >>> tuple(layer(np.zeros((2, 6, 6, 4))).shape)
    (2, 3, 3, 8)

    Reference:
        - [Ioffe and Szegedy, 2015. Batch Normalization](https://arxiv.org/abs/1502.03167)
        - [He et al., 2016. Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385)
        - [Howard et al., 2017. MobileNets](https://arxiv.org/abs/1704.04861) (depthwise convolutions)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        padding="same",
        groups=1,
        use_bias=False,
        norm="batch_norm",
        norm_epsilon=1e-5,
        norm_momentum=0.9,
        norm_scale_init="ones",
        activation="relu",
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.strides = check_positive_int("strides", strides)
        self.padding = check_padding("padding", padding)
        self.groups = check_positive_int("groups", groups)
        check_divides("groups", self.groups, "filters", self.filters)
        self.use_bias = check_bool("use_bias", use_bias)
        self.norm = None if norm is None else check_block_role("norm", norm, "normalization")
        self.norm_epsilon = check_float("norm_epsilon", norm_epsilon, min_value=0.0)
        self.norm_momentum = check_float("norm_momentum", norm_momentum, min_value=0.0, max_value=1.0)
        self.norm_scale_init = check_choice("norm_scale_init", norm_scale_init, NORM_SCALE_INITS)
        self.activation = None if activation is None else check_activation("activation", activation)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.norm_layer = self._make_norm() if self.norm is not None else None

    def _make_norm(self):
        optional = {"epsilon": self.norm_epsilon, "momentum": self.norm_momentum}
        if self.norm_scale_init == "zeros":
            if "gamma_initializer" not in init_arguments(get_block(self.norm)):
                raise ValueError(
                    "`norm_scale_init='zeros'` needs a norm with a `gamma_initializer` argument (e.g. 'batch_norm'). "
                    f"Received: norm_scale_init='zeros', norm={self.norm!r}."
                )
            optional["gamma_initializer"] = "zeros"
        return make_block(self.norm, optional=optional, dtype=self.dtype_policy, name="norm")

    def _check_groups(self, channels):
        check_divides("groups", self.groups, "input channels", channels)

    def _output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        size = lambda n: output_size(n, self.kernel_size, self.strides, self.padding)  # noqa: E731
        return (batch, size(height), size(width), self.filters)

    def build(self, input_shape):
        channels = image_channels(input_shape, "ConvNormAct")
        self._check_groups(channels)
        keras_padding = "same" if self.padding == "same" else "valid"
        if self.groups == channels and self.groups > 1:
            self.conv = keras.layers.DepthwiseConv2D(
                self.kernel_size,
                strides=self.strides,
                padding=keras_padding,
                depth_multiplier=self.filters // channels,
                use_bias=self.use_bias,
                depthwise_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name="conv",
            )
        else:
            self.conv = keras.layers.Conv2D(
                self.filters,
                self.kernel_size,
                strides=self.strides,
                padding=keras_padding,
                groups=self.groups,
                use_bias=self.use_bias,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name="conv",
            )
        self.conv.build(self._padded_shape(input_shape))
        if self.norm_layer is not None:
            self.norm_layer.build(self._output_shape(input_shape))
        self.built = True

    def _padded_shape(self, input_shape):
        if self.padding != "symmetric":
            return tuple(input_shape)
        pad = 2 * symmetric_padding(self.kernel_size)
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height + pad, None if width is None else width + pad, channels)

    def call(self, inputs, training=None):
        x = inputs
        if self.padding == "symmetric" and self.kernel_size > 1:
            pad = symmetric_padding(self.kernel_size)
            x = keras.ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        x = self.conv(x)
        if self.norm_layer is not None:
            x = self.norm_layer(x, training=training)
        if self.activation is not None:
            x = get_activation(self.activation)(x)
        return x

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape)

    def activation_elements_for(self, input_shape):
        """Elements kept for the backward pass: the padded input (if padded here) and the outputs of the
        convolution, the norm and the activation."""
        outputs = 1 + int(self.norm is not None) + int(self.activation is not None)
        kept = outputs * elements(self._output_shape(input_shape))
        if self.padding == "symmetric" and self.kernel_size > 1:
            kept += elements(self._padded_shape(input_shape))
        return kept

    def count_params_for(self, input_shape):
        channels = image_channels(input_shape, "ConvNormAct")
        self._check_groups(channels)
        conv = self.kernel_size * self.kernel_size * (channels // self.groups) * self.filters
        conv += self.filters if self.use_bias else 0
        norm = 0 if self.norm_layer is None else count_weights(self.norm_layer, self._output_shape(input_shape))
        return conv + norm

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the convolution (the norm and the activation are elementwise; see `dlzoo.flops`)."""
        channels = image_channels(input_shape, "ConvNormAct")
        self._check_groups(channels)
        kernel = (self.kernel_size, self.kernel_size)
        return conv_flops(self._output_shape(tuple(input_shape)), kernel, channels // self.groups)

    def non_trainable_params_for(self, input_shape):
        """Weights no gradient updates: the norm's moving statistics (`2 * filters` for a BatchNorm)."""
        image_channels(input_shape, "ConvNormAct")
        return 0 if self.norm_layer is None else fixed_weights(self.norm_layer, self._output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "groups": self.groups,
                "use_bias": self.use_bias,
                "norm": self.norm,
                "norm_epsilon": self.norm_epsilon,
                "norm_momentum": self.norm_momentum,
                "norm_scale_init": self.norm_scale_init,
                "activation": self.activation,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
