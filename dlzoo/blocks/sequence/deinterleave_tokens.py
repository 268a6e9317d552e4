"""Deinterleave a token sequence: `(batch, k*T, ...)` -> `k` streams `(batch, T, ...)`."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_positive_int


@register_block(
    "deinterleave_tokens",
    paper="arXiv:2106.01345",
    example={"init_kwargs": {"num_streams": 3}, "inputs": (2, 12, 8)},
)
class DeinterleaveTokens(keras.layers.Layer):
    """Split a sequence woven from `num_streams` streams back into the streams.

    The inverse of `interleave_tokens`: position `k * i + j` of the input is
    token `i` of stream `j`. The Decision Transformer reads its action
    prediction from the state tokens (stream 1 of `(R, s, a)`) and its state
    and return predictions from the action tokens (stream 2).

    Args:
        num_streams: int. Number of interleaved streams `k`; the sequence
            length must be a multiple of it.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, k * T, ...)`.

    Returns:
        A tuple of `num_streams` tensors `(batch, T, ...)`.

    Example:

    >>> layer = dlzoo.blocks.DeinterleaveTokens(num_streams=3)
    >>> [tuple(x.shape) for x in layer(np.zeros((2, 12, 8)))]
    [(2, 4, 8), (2, 4, 8), (2, 4, 8)]

    Reference:
        - [Chen et al., 2021. Decision Transformer: Reinforcement Learning via Sequence Modeling](https://arxiv.org/abs/2106.01345), section 3
    """

    def __init__(self, num_streams, **kwargs):
        super().__init__(**kwargs)
        self.num_streams = check_positive_int("num_streams", num_streams)

    def _check_length(self, length):
        if length is not None and length % self.num_streams:
            raise ValueError(
                "The sequence length must be a multiple of `num_streams`. "
                f"Received: sequence length={length}, num_streams={self.num_streams}."
            )

    def call(self, inputs):
        # Shapes: (b, k*T, ...) -> (b, T, k, ...) -> k x (b, T, ...).
        x = ops.convert_to_tensor(inputs)
        shape = ops.shape(x)
        steps = -1
        if isinstance(shape[1], int):  # a static length stays static (see `interleave_tokens`)
            self._check_length(shape[1])
            steps = shape[1] // self.num_streams
        grouped = ops.reshape(x, (shape[0], steps, self.num_streams) + tuple(shape[2:]))
        return tuple(grouped[:, :, j] for j in range(self.num_streams))

    def compute_output_shape(self, input_shape):
        self._check_length(input_shape[1])
        steps = None if input_shape[1] is None else input_shape[1] // self.num_streams
        stream = (input_shape[0], steps) + tuple(input_shape[2:])
        return tuple(stream for _ in range(self.num_streams))

    def count_params_for(self, input_shape, **other_shapes):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a reordering, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config["num_streams"] = self.num_streams
        return config
