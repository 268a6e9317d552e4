"""ALiBi: per-head linear attention biases proportional to query-key distance."""

import math

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int


def alibi_slopes(num_heads):
    """The paper's head slopes: a geometric sequence starting at 2^(-8/n).

    For `n` a power of two, slope `i` (1-based) is `2 ** (-8 * i / n)`.
    Otherwise take the `m` slopes of the closest smaller power of two `m`,
    then every other slope of the `2m` sequence for the remaining `n - m` heads.
    """
    m = 2 ** math.floor(math.log2(num_heads))
    slopes = [2.0 ** (-8.0 * i / m) for i in range(1, m + 1)]
    if m < num_heads:
        slopes += [2.0 ** (-8.0 * i / (2 * m)) for i in range(1, 2 * m + 1, 2)][: num_heads - m]
    return slopes


@register_block(
    "alibi_bias",
    paper="arXiv:2108.12409",
    example={"init_kwargs": {"num_heads": 4}, "inputs": (2, 5, 8)},
)
class ALiBiBias(keras.layers.Layer):
    """Attention with Linear Biases (ALiBi): the additive attention bias.

    No position embeddings are added to the inputs; instead each head `h`
    adds `-slope_h * distance` to its attention logits, so distant keys are
    penalised linearly. Slopes follow the paper (see `alibi_slopes`):
    `2^(-8i/n)`, `i = 1..n`, for `n` heads when `n` is a power of two.

    Query `i` sits at position `i + key_length - q_len` (queries are the
    last `q_len` positions of the key sequence, as in KV-cached decoding);
    key `j` at position `j`. With `d = query position - j`:

    - `causal=True`: `bias = slope * (j - query position) = -slope * d`.
      For keys after the query this is positive; the causal mask applied in
      the attention block removes them.
    - `causal=False`: `bias = -slope * |d|` (symmetric).

    Args:
        num_heads: int. Number of attention heads.
        causal: bool. Signed (causal) or symmetric distance, as above.
            Defaults to `True`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Query-like tensor `(batch, q_len, ...)`. Only its shape is used.
        key_length: Optional int (or scalar int tensor). Number of keys.
            Defaults to `q_len`.

    Returns:
        Float tensor `(1, num_heads, q_len, key_length)` in the compute dtype,
        to be added to the attention logits.

    Example:

    >>> layer = dlzoo.blocks.ALiBiBias(num_heads=4)
    >>> tuple(layer(np.zeros((2, 5, 8))).shape)
    (1, 4, 5, 5)

    Reference:
        - [Press et al., 2022. Train Short, Test Long: Attention with Linear Biases Enables Input Length Extrapolation](https://arxiv.org/abs/2108.12409)
    """

    def __init__(self, num_heads, causal=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.causal = check_bool("causal", causal)

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, key_length=None):
        # Shapes: n=num_heads, q=q_len, k=key_length.
        q_len = ops.shape(inputs)[1]
        key_length = q_len if key_length is None else key_length
        offset = ops.cast(key_length - q_len, "float32")
        query_positions = ops.arange(q_len, dtype="float32") + offset
        key_positions = ops.arange(key_length, dtype="float32")
        relative = key_positions[None, :] - query_positions[:, None]  # (q, k)
        if not self.causal:
            relative = -ops.abs(relative)
        slopes = ops.convert_to_tensor(alibi_slopes(self.num_heads), dtype="float32")
        bias = slopes[:, None, None] * relative  # (n, q, k)
        return ops.cast(bias[None], self.compute_dtype)

    def compute_output_shape(self, input_shape, key_length=None):
        key_length = input_shape[1] if key_length is None else key_length
        if not isinstance(key_length, int):
            key_length = None
        return (1, self.num_heads, input_shape[1], key_length)

    def compute_output_spec(self, inputs, key_length=None):
        shape = self.compute_output_shape(inputs.shape, key_length)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a computed bias, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "causal": self.causal})
        return config
