"""Channel independence: every channel of a multivariate series becomes its own univariate example."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_positive_int


@register_block(
    "channel_independence",
    paper="arXiv:2211.14730",
    example={"init_kwargs": {"num_channels": 3}, "inputs": (2, 5, 3)},
)
class ChannelIndependence(keras.layers.Layer):
    """Channel independence: fold the channels of `(batch, time, channels)` into the batch.

    PatchTST's second idea: instead of mixing all channels into one token
    per time step, each channel is forecast as a separate univariate series
    by the *same* model (shared weights). The model sees `channels` times
    more (shorter, simpler) examples, cannot overfit spurious correlations
    between channels, and works for any number of channels. This layer does
    the two reshapes around such a model: `(b, t, c) -> (b * c, t)` and, with
    `reverse=True`, `(b * c, h) -> (b, h, c)`. Row `i * c + j` of the folded
    batch is channel `j` of example `i`.

    Args:
        num_channels: int. Channels of the series (the reverse call needs
            it to unfold the batch).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, time, num_channels)`, or with `reverse=True`
            `(batch * num_channels, horizon)`.
        reverse: bool. Unfold instead of fold. Defaults to `False`.

    Returns:
        `(batch * num_channels, time)`, or with `reverse=True`
        `(batch, horizon, num_channels)`.

    Example:

    >>> layer = dlzoo.blocks.ChannelIndependence(num_channels=3)
    >>> folded = layer(np.zeros((2, 5, 3)))
    >>> tuple(folded.shape), tuple(layer(folded, reverse=True).shape)
    ((6, 5), (2, 5, 3))

    Reference:
        - [Nie et al., 2023. A Time Series is Worth 64 Words: Long-term Forecasting with Transformers (PatchTST)](https://arxiv.org/abs/2211.14730), section 3.1 ("channel-independence")
    """

    def __init__(self, num_channels, **kwargs):
        super().__init__(**kwargs)
        self.num_channels = check_positive_int("num_channels", num_channels)

    def _check(self, input_shape, reverse):
        if len(input_shape) != (2 if reverse else 3):
            expected = "(batch * num_channels, horizon)" if reverse else "(batch, time, num_channels)"
            raise ValueError(
                f"ChannelIndependence expects {expected} here. Received: input_shape={tuple(input_shape)}, "
                f"reverse={reverse}."
            )
        if not reverse and input_shape[-1] is not None and input_shape[-1] != self.num_channels:
            raise ValueError(
                f"The input has {input_shape[-1]} channels but the layer was made for "
                f"num_channels={self.num_channels}. Received: input_shape={tuple(input_shape)}."
            )
        if reverse and input_shape[0] is not None and input_shape[0] % self.num_channels:
            raise ValueError(
                f"The folded batch must be a multiple of num_channels={self.num_channels}. "
                f"Received: input_shape={tuple(input_shape)}."
            )

    def build(self, input_shape):
        # No weights; the shape checks depend on the direction, in `compute_output_shape`.
        self.built = True

    def call(self, inputs, reverse=False):
        # Shape legend: b = batch, t = time, c = num_channels, h = horizon.
        c = self.num_channels
        if reverse:
            h = ops.shape(inputs)[-1]
            return ops.transpose(ops.reshape(inputs, (-1, c, h)), (0, 2, 1))  # (b*c, h) -> (b, h, c)
        t = ops.shape(inputs)[1]
        return ops.reshape(ops.transpose(inputs, (0, 2, 1)), (-1, t))  # (b, t, c) -> (b*c, t)

    def compute_output_shape(self, input_shape, reverse=False):
        self._check(input_shape, reverse)
        batch = input_shape[0]
        if reverse:
            return (None if batch is None else batch // self.num_channels, input_shape[1], self.num_channels)
        return (None if batch is None else batch * self.num_channels, input_shape[1])

    def compute_output_spec(self, inputs, reverse=False):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape, reverse=reverse), dtype=inputs.dtype)

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (reshapes; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config["num_channels"] = self.num_channels
        return config
