"""ConvNeXt block: depthwise 7x7 conv, LayerNorm, inverted-bottleneck MLP, LayerScale, residual."""

import keras

from dlzoo.flops import conv_flops
from dlzoo.registry import count_weights, get_block, register_block
from dlzoo.validation import check_bool, check_float, check_int, check_positive_int, check_rate, check_registered


def _channels(input_shape, owner):
    if len(input_shape) != 4:
        raise ValueError(
            f"{owner} expects images of shape (batch, height, width, channels). "
            f"Received: input_shape={tuple(input_shape)}."
        )
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(f"The channel axis must have a known size. Received: input_shape={tuple(input_shape)}.")
    return int(channels)


@register_block(
    "convnext_block",
    paper="arXiv:2201.03545",
    example={"init_kwargs": {"kernel_size": 3, "intermediate_dim": 16, "layer_scale_init_value": 1.0}, "inputs": (2, 4, 4, 8)},
)
class ConvNeXtBlock(keras.layers.Layer):
    """ConvNeXt block: a depthwise-convolution residual block with an inverted bottleneck.

    Computes `x + drop_path(gamma * pw2(act(pw1(norm(dwconv(x))))))`: a
    depthwise `kernel_size x kernel_size` convolution mixes space per
    channel, a LayerNorm normalizes channels, two pointwise (1x1) linear maps
    widen to `intermediate_dim` (4x in the paper) and come back with a GELU
    between them, LayerScale multiplies the branch by a learned per-channel
    gain started at `layer_scale_init_value`, and stochastic depth drops the
    branch per example during training. Channels stay the same, so blocks
    stack within a stage.

    Args:
        kernel_size: int. Size of the depthwise kernel (odd). Defaults to `7`.
        intermediate_dim: int. Width of the pointwise bottleneck. `None`
            means `4 * channels`, as in the paper. Defaults to `None`.
        activation: str. Activation between the pointwise layers. Defaults
            to `"gelu"`.
        norm: str. Registered normalization block applied after the
            depthwise convolution. Defaults to `"layer_norm"`.
        norm_epsilon: float. Epsilon of the normalization. Defaults to `1e-6`.
        use_layer_scale: bool. Multiply the branch by a LayerScale gain.
            Defaults to `True`.
        layer_scale_init_value: float. Initial LayerScale gain. Defaults to `1e-6`.
        drop_path_rate: float. Stochastic-depth rate of the branch, in
            `[0, 1)`. Defaults to `0.0`.
        use_bias: bool. Biases in the convolution and the pointwise layers.
            Defaults to `True`.
        seed: int. Seed of the stochastic-depth draws. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, height, width, channels)`.
        training: bool. Whether stochastic depth is active.

    Returns:
        Tensor of the same shape as `inputs`.

    Example:

    >>> block = dlzoo.blocks.ConvNeXtBlock(kernel_size=3)
    >>> tuple(block(np.zeros((2, 4, 4, 8))).shape)
    (2, 4, 4, 8)

    Notes:
        Channels-last throughout; the pointwise layers are `Dense` layers on
        the channel axis, which is what the paper's reference implementation
        does with its "channels_last" permutation. The paper trains with
        AdamW, heavy augmentation and `drop_path_rate` up to 0.5; none of
        that is part of the block. Checked equal (whole models, <= 1e-4) to
        Hugging Face `ConvNextLayer`: depthwise padding 3, LayerNorm epsilon
        1e-6 over channels, exact GELU, LayerScale 1e-6
        (`tests/families/test_convnext.py`).

    Reference:
        - [Liu et al., 2022. A ConvNet for the 2020s](https://arxiv.org/abs/2201.03545), section 2 and figure 4
    """

    def __init__(
        self,
        kernel_size=7,
        intermediate_dim=None,
        activation="gelu",
        norm="layer_norm",
        norm_epsilon=1e-6,
        use_layer_scale=True,
        layer_scale_init_value=1e-6,
        drop_path_rate=0.0,
        use_bias=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"`kernel_size` must be odd so that 'same' padding is symmetric. Received: kernel_size={kernel_size}."
            )
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim, allow_none=True)
        if not isinstance(activation, str):
            raise TypeError(f"`activation` must be an activation name. Received: activation={activation!r}.")
        self.activation = activation
        self.norm = check_registered("norm", norm)
        self.norm_epsilon = check_float("norm_epsilon", norm_epsilon, min_value=0.0)
        self.use_layer_scale = check_bool("use_layer_scale", use_layer_scale)
        self.layer_scale_init_value = check_float("layer_scale_init_value", layer_scale_init_value)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.use_bias = check_bool("use_bias", use_bias)
        self.seed = check_int("seed", seed, allow_none=True)
        self._mlp_cls = get_block("mlp")
        self._norm_cls = get_block(self.norm)
        # Checks the activation name now (the MLP validates it).
        self._mlp_cls(intermediate_dim=1, activation=self.activation)

    def _inner(self, channels):
        return self.intermediate_dim or 4 * channels

    def build(self, input_shape):
        # Shape legend: b = batch, h, w = spatial size, c = channels, f = intermediate_dim.
        c = _channels(input_shape, "ConvNeXtBlock")
        self.depthwise_conv = keras.layers.DepthwiseConv2D(
            self.kernel_size, padding="same", use_bias=self.use_bias, dtype=self.dtype_policy, name="depthwise_conv"
        )
        self.depthwise_conv.build(tuple(input_shape))
        self.norm_layer = self._norm_cls(epsilon=self.norm_epsilon, dtype=self.dtype_policy, name="norm")
        self.norm_layer.build(tuple(input_shape))
        self.pointwise = self._mlp_cls(
            intermediate_dim=self._inner(c),
            activation=self.activation,
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="pointwise",
        )
        self.pointwise.build(tuple(input_shape))
        self.layer_scale = None
        if self.use_layer_scale:
            self.layer_scale = get_block("layer_scale")(
                init_value=self.layer_scale_init_value, dtype=self.dtype_policy, name="layer_scale"
            )
            self.layer_scale.build(tuple(input_shape))
        self.drop_path = get_block("drop_path")(
            rate=self.drop_path_rate, seed=self.seed, dtype=self.dtype_policy, name="drop_path"
        )
        self.drop_path.build(tuple(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        x = self.depthwise_conv(inputs)  # (b, h, w, c)
        x = self.norm_layer(x)
        x = self.pointwise(x)  # (b, h, w, f) -> (b, h, w, c)
        if self.layer_scale is not None:
            x = self.layer_scale(x)
        return inputs + self.drop_path(x, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def activation_elements_for(self, input_shape):
        """Elements kept for the backward pass: per pixel, the depthwise and norm outputs (`2c`), the
        bottleneck before and after the activation (`2f`), the second projection's output and the
        block's output (`2c`)."""
        b, h, w = (int(d) for d in tuple(input_shape)[:3])
        c = _channels(input_shape, "ConvNeXtBlock")
        return b * h * w * (4 * c + 2 * self._inner(c))

    def count_params_for(self, input_shape):
        c = _channels(input_shape, "ConvNeXtBlock")
        f = self._inner(c)
        bias = int(self.use_bias)
        conv = self.kernel_size * self.kernel_size * c + bias * c
        norm = count_weights(self._norm_cls(epsilon=self.norm_epsilon), tuple(input_shape))
        pointwise = c * f + f * c + bias * (f + c)
        scale = c if self.use_layer_scale else 0
        return conv + norm + pointwise + scale

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the depthwise convolution ('same' padding) and the pointwise MLP."""
        c = _channels(input_shape, "ConvNeXtBlock")
        depthwise = conv_flops(tuple(input_shape), (self.kernel_size, self.kernel_size), 1)
        pointwise = self._mlp_cls(intermediate_dim=self._inner(c)).flops_for(tuple(input_shape))
        return depthwise + pointwise

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "intermediate_dim": self.intermediate_dim,
                "activation": self.activation,
                "norm": self.norm,
                "norm_epsilon": self.norm_epsilon,
                "use_layer_scale": self.use_layer_scale,
                "layer_scale_init_value": self.layer_scale_init_value,
                "drop_path_rate": self.drop_path_rate,
                "use_bias": self.use_bias,
                "seed": self.seed,
            }
        )
        return config
