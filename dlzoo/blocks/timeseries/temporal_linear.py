"""Temporal linear map: each channel's forecast is a linear function of its own past (DLinear's layer)."""

import keras
from keras import ops

from dlzoo.flops import matmul_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int


def _series_shape(input_shape):
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ValueError(
            "TemporalLinear expects series of shape (batch, time, channels) with known time and channels. "
            f"Received: input_shape={tuple(input_shape)}."
        )
    return int(input_shape[1]), int(input_shape[2])


@register_block(
    "temporal_linear",
    paper="arXiv:2205.13504",
    example={"init_kwargs": {"units": 4, "use_per_channel_weights": True}, "inputs": (2, 6, 3)},
)
class TemporalLinear(keras.layers.Layer):
    """A linear map over the time axis: `(batch, time, channels) -> (batch, units, channels)`.

    `y[:, h, c] = sum_t x[:, t, c] * W[t, h] + b[h]`: every forecast step is a
    weighted sum of the channel's past values (the channels are never
    mixed). With `use_per_channel_weights=True` each channel has its own `W`
    and `b` (DLinear's "individual" option), else one map is shared by all
    channels (DLinear's default: channel independence, as in PatchTST).

    Args:
        units: int. Output steps (the forecast horizon).
        use_per_channel_weights: bool. One map per channel. Defaults to
            `False`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, time, channels)`.

    Returns:
        Tensor `(batch, units, channels)`.

    Example:

    >>> layer = dlzoo.blocks.TemporalLinear(units=4)
    >>> tuple(layer(np.zeros((2, 6, 3))).shape)
    (2, 4, 3)

    Notes:
        The kernel starts from Glorot-uniform and the bias from zeros
        (PyTorch's `nn.Linear` in the authors' code starts both uniform in
        `+-1/sqrt(time)`).

    Reference:
        - [Zeng et al., 2023. Are Transformers Effective for Time Series Forecasting? (DLinear)](https://arxiv.org/abs/2205.13504), section 4
    """

    def __init__(self, units, use_per_channel_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.use_per_channel_weights = check_bool("use_per_channel_weights", use_per_channel_weights)

    def build(self, input_shape):
        # Shape legend: b = batch, t = time, c = channels, h = units.
        time, channels = _series_shape(input_shape)
        if self.use_per_channel_weights:
            kernel_shape, bias_shape = (channels, time, self.units), (channels, self.units)
        else:
            kernel_shape, bias_shape = (time, self.units), (self.units,)
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=bias_shape, initializer="zeros")
        self.built = True

    def call(self, inputs):
        kernel = ops.cast(self.kernel, inputs.dtype)
        bias = ops.cast(self.bias, inputs.dtype)
        if self.use_per_channel_weights:
            return ops.einsum("btc,cth->bhc", inputs, kernel) + ops.transpose(bias)[None]  # (b, h, c)
        return ops.einsum("btc,th->bhc", inputs, kernel) + bias[None, :, None]

    def compute_output_shape(self, input_shape):
        _series_shape(input_shape)
        return (input_shape[0], self.units, input_shape[2])

    def count_params_for(self, input_shape):
        time, channels = _series_shape(input_shape)
        per_map = (time + 1) * self.units
        return per_map * (channels if self.use_per_channel_weights else 1)

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: `2 * batch * time * units * channels` (one product per weight and channel)."""
        time, channels = _series_shape(input_shape)
        return matmul_flops(int(input_shape[0]) * channels, time, self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "use_per_channel_weights": self.use_per_channel_weights})
        return config
