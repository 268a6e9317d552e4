"""Interleave token streams: `k` tensors `(batch, T, ...)` -> one `(batch, k*T, ...)` sequence."""

import keras
from keras import ops

from dlzoo.registry import register_block


@register_block(
    "interleave_tokens",
    paper="arXiv:2106.01345",
    example={"init_kwargs": {}, "inputs": [(2, 4, 8), (2, 4, 8), (2, 4, 8)]},
)
class InterleaveTokens(keras.layers.Layer):
    """Weave `k` aligned token streams into one sequence, step by step.

    Given streams `x_1 .. x_k`, each `(batch, T, ...)`, the output is
    `(x_1[0], x_2[0], .., x_k[0], x_1[1], x_2[1], ..)`: token `i` of stream
    `j` lands at position `k * i + j`. The Decision Transformer lays out a
    trajectory this way as `(R_1, s_1, a_1, R_2, s_2, a_2, ..)` (return-to-go,
    state, action), so that under a causal mask the state token of step `t`
    sees every earlier step and its own return-to-go, but not its own
    action. It works on any trailing shape, so it also lays out a per-step
    padding mask `(batch, T)` alongside the tokens.

    Args:
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: list of `k >= 1` tensors of the same shape `(batch, T, ...)`.

    Returns:
        Tensor `(batch, k * T, ...)`.

    Example:

    >>> layer = dlzoo.blocks.InterleaveTokens()
    >>> tuple(layer([np.zeros((2, 4, 8))] * 3).shape)
    (2, 12, 8)

    Reference:
        - [Chen et al., 2021. Decision Transformer: Reinforcement Learning via Sequence Modeling](https://arxiv.org/abs/2106.01345), section 3
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def call(self, inputs):
        # Shapes: each stream (b, T, ...) -> stacked (b, T, k, ...) -> (b, k*T, ...).
        streams = [ops.convert_to_tensor(x) for x in inputs]
        stacked = ops.stack(streams, axis=2)
        shape = ops.shape(stacked)
        # A static length stays static (a `-1` next to a symbolic batch would make it symbolic under export).
        length = shape[1] * shape[2] if isinstance(shape[1], int) else -1
        return ops.reshape(stacked, (shape[0], length) + tuple(shape[3:]))

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        steps = None if first[1] is None else first[1] * len(input_shape)
        return (first[0], steps) + first[2:]

    def count_params_for(self, input_shape, **other_shapes):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a reordering, no matrix product; see `dlzoo.flops`)."""
        return 0
