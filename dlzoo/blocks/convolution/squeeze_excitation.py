"""Squeeze-and-excitation: reweight channels by a gate computed from their global average."""

import keras

from dlzoo.blocks.convolution._common import elements, image_channels
from dlzoo.blocks.feedforward._common import check_activation, get_activation
from dlzoo.flops import matmul_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_float, check_positive_int


@register_block(
    "squeeze_excitation",
    paper="arXiv:1709.01507",
    example={"init_kwargs": {"squeeze_dim": 2}, "inputs": (2, 4, 4, 8)},
)
class SqueezeExcitation(keras.layers.Layer):
    """Squeeze-and-excitation (SE): channel attention from global context.

    A convolution only sees a local window; SE gives every channel a gain
    that depends on the whole image. *Squeeze*: average each channel over
    height and width, `z = mean_hw(x)` (`c` numbers). *Excite*: a two-layer
    bottleneck MLP maps them to gates, `s = gate(W2 act(W1 z + b1) + b2)`
    with `W1: c -> squeeze_dim`, `W2: squeeze_dim -> c` and a sigmoid
    gate. The output is `x * s`, each channel scaled by its gate (Hu et al.,
    2018, equations 2-4). It costs `2 * c * squeeze_dim + squeeze_dim + c`
    weights.

    Args:
        squeeze_dim: int. Width of the bottleneck. `None` means
            `max(1, int(channels * squeeze_ratio))`. Defaults to `None`.
        squeeze_ratio: float. Bottleneck width relative to the input channels
            when `squeeze_dim` is `None`. Defaults to `0.0625` (the paper's
            reduction ratio r = 16).
        activation: str. Keras activation inside the bottleneck. Defaults to
            `"relu"` (the paper; EfficientNet uses `"silu"`).
        gate_activation: str. Keras activation of the gate. Defaults to
            `"sigmoid"` (MobileNetV3 uses `"hard_sigmoid"`).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, height, width, channels)`.

    Returns:
        Tensor of the same shape as `inputs`.

    Example:

    >>> layer = dlzoo.blocks.SqueezeExcitation(squeeze_dim=2)
    >>> tuple(layer(np.ones((2, 4, 4, 8))).shape)
    (2, 4, 4, 8)

    Notes:
        The two fully connected layers are `Dense` layers on the pooled
        `(batch, 1, 1, channels)` tensor, the same map as the 1x1
        convolutions of the reference implementations.

    Reference:
        - [Hu et al., 2018. Squeeze-and-Excitation Networks](https://arxiv.org/abs/1709.01507), section 3 and figure 1
    """

    def __init__(self, squeeze_dim=None, squeeze_ratio=0.0625, activation="relu", gate_activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        self.squeeze_dim = check_positive_int("squeeze_dim", squeeze_dim, allow_none=True)
        self.squeeze_ratio = check_float("squeeze_ratio", squeeze_ratio, min_value=0.0, min_inclusive=False)
        self.activation = check_activation("activation", activation)
        self.gate_activation = check_activation("gate_activation", gate_activation)

    def _squeezed(self, channels):
        return self.squeeze_dim or max(1, int(channels * self.squeeze_ratio))

    def build(self, input_shape):
        # Shape legend: b = batch, h, w = spatial size, c = channels, d = squeeze_dim.
        channels = image_channels(input_shape, "SqueezeExcitation")
        pooled = (input_shape[0], 1, 1, channels)
        self.reduce = keras.layers.Dense(self._squeezed(channels), dtype=self.dtype_policy, name="reduce")
        self.reduce.build(pooled)
        self.expand = keras.layers.Dense(channels, dtype=self.dtype_policy, name="expand")
        self.expand.build(pooled[:3] + (self._squeezed(channels),))
        self.built = True

    def call(self, inputs):
        z = keras.ops.mean(inputs, axis=(1, 2), keepdims=True)  # (b, 1, 1, c)
        s = get_activation(self.activation)(self.reduce(z))  # (b, 1, 1, d)
        s = get_activation(self.gate_activation)(self.expand(s))  # (b, 1, 1, c)
        return inputs * s

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def activation_elements_for(self, input_shape):
        """Elements kept for the backward pass: the gated output and the small per-channel vectors."""
        c = image_channels(input_shape, "SqueezeExcitation")
        b, d = int(input_shape[0]), self._squeezed(c)
        return elements(input_shape) + b * (3 * c + 2 * d)

    def count_params_for(self, input_shape):
        c = image_channels(input_shape, "SqueezeExcitation")
        d = self._squeezed(c)
        return c * d + d + d * c + c

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the two projections of each image's pooled channels (the pooling is a reduction)."""
        c = image_channels(input_shape, "SqueezeExcitation")
        d = self._squeezed(c)
        batch = int(input_shape[0])
        return matmul_flops(batch, c, d) + matmul_flops(batch, d, c)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "squeeze_dim": self.squeeze_dim,
                "squeeze_ratio": self.squeeze_ratio,
                "activation": self.activation,
                "gate_activation": self.gate_activation,
            }
        )
        return config
