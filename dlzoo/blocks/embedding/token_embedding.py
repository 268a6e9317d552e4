"""Token embedding table that can also project back onto the vocabulary (tied LM head)."""

import keras
from keras import ops

from dlzoo.flops import matmul_flops, rows
from dlzoo.registry import register_block
from dlzoo.validation import check_float, check_positive_int


@register_block(
    "token_embedding",
    paper="arXiv:1608.05859",
    example={
        "init_kwargs": {"vocabulary_size": 11, "hidden_dim": 8},
        "inputs": {"shape": (2, 5), "dtype": "int32", "max": 11},
    },
)
class TokenEmbedding(keras.layers.Layer):
    """A token embedding table, usable in reverse as a tied output projection.

    The forward call looks up one `hidden_dim` vector per token id. Called
    with `reverse=True` on hidden states it multiplies them by the transposed
    table, giving vocabulary logits with the same weights: the "weight tying"
    of Press and Wolf (2017), used by GPT-2 and BERT's masked-LM head. A
    model calls the same layer twice (ids -> vectors at the bottom, vectors
    -> logits at the top), so the table is counted and saved once.

    Args:
        vocabulary_size: int. Number of rows (token ids `0..vocabulary_size-1`).
        hidden_dim: int. Width of each embedding vector.
        initializer_stddev: float. Standard deviation of the normal
            initializer of the table. Defaults to `0.02` (GPT-2, BERT).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: int tensor `(batch, seq_len)` of token ids, or with
            `reverse=True` a float tensor `(batch, seq_len, hidden_dim)`.
        reverse: bool. Project hidden states onto the vocabulary instead of
            looking ids up. Defaults to `False`.

    Returns:
        `(batch, seq_len, hidden_dim)` embeddings in the compute dtype, or
        with `reverse=True` logits `(batch, seq_len, vocabulary_size)`.

    Example:

    >>> layer = TokenEmbedding(vocabulary_size=10, hidden_dim=4)
    >>> tuple(layer(np.array([[1, 2, 3]])).shape)
    (1, 3, 4)

    Notes:
        Token ids outside `[0, vocabulary_size)` are not checked inside the
        graph (as in `keras.layers.Embedding`): the result for them depends
        on the backend.

    Reference:
        - [Press and Wolf, 2017. Using the Output Embedding to Improve Language Models](https://arxiv.org/abs/1608.05859)
    """

    def __init__(self, vocabulary_size, hidden_dim, initializer_stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.initializer_stddev = check_float(
            "initializer_stddev", initializer_stddev, min_value=0.0, min_inclusive=False
        )

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.vocabulary_size, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=self.initializer_stddev),
        )
        self.built = True

    def call(self, inputs, reverse=False):
        # Shapes: b batch, s seq_len, d hidden_dim, v vocabulary_size.
        table = ops.cast(self.embeddings, self.compute_dtype)  # (v, d)
        if reverse:
            return ops.matmul(ops.cast(inputs, self.compute_dtype), ops.transpose(table))  # (b, s, v)
        return ops.take(table, ops.cast(inputs, "int32"), axis=0)  # (b, s, d)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.vocabulary_size,)
        return tuple(input_shape) + (self.hidden_dim,)

    def compute_output_spec(self, inputs, reverse=False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def count_params_for(self, input_shape=None):
        return self.vocabulary_size * self.hidden_dim

    def flops_for(self, input_shape, reverse=False, **other_shapes):
        """Forward FLOPs: 0 for the look-up; `reverse=True` (tied output head) is a `(d, vocabulary)` product."""
        if not reverse:
            return 0
        return matmul_flops(rows(input_shape), self.hidden_dim, self.vocabulary_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "hidden_dim": self.hidden_dim,
                "initializer_stddev": self.initializer_stddev,
            }
        )
        return config
