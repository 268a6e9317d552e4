"""BERT's pooler: a dense layer with tanh on the first ([CLS]) position."""

import keras
from keras import ops

from dlzoo.flops import matmul_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int


@register_block(
    "first_token_pooler",
    paper="arXiv:1810.04805",
    example={"init_kwargs": {}, "inputs": (2, 5, 8)},
)
class FirstTokenPooler(keras.layers.Layer):
    """Pool a sequence by its first position, then a dense layer with tanh.

    BERT summarizes a sequence by the hidden state of its first token
    (`[CLS]`), passed through `tanh(x W + b)`; the pooled vector feeds
    next-sentence prediction and sentence-level classifiers.

    Args:
        output_dim: int. Width of the pooled vector. Defaults to `None`
            (the input width).
        use_bias: bool. Whether the dense layer has a bias. Defaults to
            `True`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, seq_len, hidden_dim)`.

    Returns:
        Tensor `(batch, output_dim or hidden_dim)`.

    Example:

    >>> layer = FirstTokenPooler()
    >>> tuple(layer(np.zeros((2, 5, 8))).shape)
    (2, 8)

    Reference:
        - [Devlin et al., 2019. BERT: Pre-training of Deep Bidirectional
          Transformers for Language Understanding](https://arxiv.org/abs/1810.04805), section 3
    """

    def __init__(self, output_dim=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.use_bias = check_bool("use_bias", use_bias)

    def build(self, input_shape):
        # Shapes: b batch, s seq_len, d hidden_dim, o output_dim.
        self.dense = keras.layers.Dense(
            self.output_dim or int(input_shape[-1]),
            activation="tanh",
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.dense.build((input_shape[0], input_shape[-1]))
        self.built = True

    def call(self, inputs):
        return self.dense(inputs[:, 0, :])  # (b, d) -> (b, o)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim or input_shape[-1])

    def count_params_for(self, input_shape):
        d = int(input_shape[-1])
        o = self.output_dim or d
        return d * o + (o if self.use_bias else 0)

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the dense projection of each sequence's first token."""
        d = int(input_shape[-1])
        return matmul_flops(int(input_shape[0]), d, self.output_dim or d)

    def get_config(self):
        config = super().get_config()
        config.update({"output_dim": self.output_dim, "use_bias": self.use_bias})
        return config
