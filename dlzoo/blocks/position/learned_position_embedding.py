"""Learned absolute position embeddings: one trained vector per position."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_float, check_positive_int


@register_block(
    "learned_position_embedding",
    paper="arXiv:1706.03762",
    example={"init_kwargs": {"max_sequence_length": 16}, "inputs": (2, 5, 8)},
)
class LearnedPositionEmbedding(keras.layers.Layer):
    """Learned absolute position embeddings (a trainable position table).

    Holds a table `embeddings` of shape `(max_sequence_length, hidden_dim)`,
    initialised from `N(0, initializer_stddev**2)`. The call **returns** the rows
    for positions `start_index .. start_index + seq_len - 1`, broadcast to the
    shape of `inputs`, or the rows of explicit `position_ids` (GPT-2 with left
    padding counts positions from each sequence's first real token); the
    caller adds them to its token (or concept) vectors.

    Args:
        max_sequence_length: int. Number of positions in the table.
        initializer_stddev: float. Standard deviation of the normal
            initializer. Defaults to `0.02` (GPT-2); Meta's LCM uses `0.006`
            (Base-LCM) or `1.0` (two-tower context encoder).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., seq_len, hidden_dim)`. Only its shape
            is used.
        start_index: int or scalar int tensor. Position of the first element
            (KV-cached decoding). Defaults to `0`.
        position_ids: Optional int tensor `(batch, seq_len)`: the position of
            each element, used instead of `start_index`. Defaults to `None`.

    Returns:
        Tensor of the same shape as `inputs`, in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.LearnedPositionEmbedding(max_sequence_length=16)
    >>> tuple(layer(np.zeros((2, 5, 8))).shape)
    (2, 5, 8)

    Notes:
        When the sequence length (and `start_index`) are known Python values,
        positions past `max_sequence_length` raise a `ValueError`; with a
        dynamic length, a tensor `start_index` or `position_ids` they cannot
        be checked.

    Reference:
        - [Vaswani et al., 2017. Attention Is All You Need](https://arxiv.org/abs/1706.03762), section 3.5
        - [Radford et al., 2019. Language Models are Unsupervised Multitask Learners (GPT-2)](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf)
    """

    def __init__(self, max_sequence_length, initializer_stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.max_sequence_length = check_positive_int("max_sequence_length", max_sequence_length)
        self.initializer_stddev = check_float(
            "initializer_stddev", initializer_stddev, min_value=0.0, min_inclusive=False
        )

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.max_sequence_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=self.initializer_stddev),
        )
        self.built = True

    def call(self, inputs, start_index=0, position_ids=None):
        if position_ids is not None:
            table = ops.take(ops.convert_to_tensor(self.embeddings), ops.cast(position_ids, "int32"), axis=0)
            return ops.cast(ops.broadcast_to(table, ops.shape(inputs)), self.compute_dtype)
        seq_len = ops.shape(inputs)[-2]
        if isinstance(seq_len, int) and isinstance(start_index, int):
            if start_index < 0 or start_index + seq_len > self.max_sequence_length:
                raise ValueError(
                    f"Positions {start_index}..{start_index + seq_len - 1} exceed the table of "
                    f"max_sequence_length={self.max_sequence_length}. "
                    f"Received: start_index={start_index}, seq_len={seq_len}."
                )
        # A gather rather than a slice: under shape polymorphism (JAX SavedModel export) a slice of
        # symbolic length `seq_len` from the table cannot be proven to fit, a gather can.
        positions = ops.arange(seq_len, dtype="int32") + ops.cast(start_index, "int32")
        table = ops.take(ops.convert_to_tensor(self.embeddings), positions, axis=0)
        return ops.cast(ops.broadcast_to(table, ops.shape(inputs)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params_for(self, input_shape):
        return self.max_sequence_length * int(input_shape[-1])

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a table look-up, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_sequence_length": self.max_sequence_length,
                "initializer_stddev": self.initializer_stddev,
            }
        )
        return config
