"""Sequence pooling: `(batch, seq_len, dim)` hidden states -> one `(batch, dim)` vector."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_choice

POOLINGS = ("cls", "mean", "last", "max")


@register_block(
    "sequence_pooling",
    paper="arXiv:1908.10084",
    example={
        "init_kwargs": {"pooling": "mean"},
        "inputs": {"inputs": (2, 5, 8), "padding_mask": {"shape": (2, 5), "dtype": "bool"}},
    },
)
class SequencePooling(keras.layers.Layer):
    """Reduce hidden states to one vector per sequence, respecting padding.

    `"cls"` takes position 0; `"mean"` averages the kept positions (the
    Sentence-BERT pooling); `"last"` takes the last kept position (the last
    real token of a right-padded sequence, the natural summary of a causal
    decoder); `"max"` takes the per-feature maximum over kept positions.
    Kept = `True` in `padding_mask` (all positions without one); a row with
    no kept position pools to zeros.

    Args:
        pooling: str. `"cls"`, `"mean"`, `"last"` or `"max"`. Defaults to `"mean"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, seq_len, dim)`.
        padding_mask: Optional bool tensor `(batch, seq_len)`, `True` = keep.

    Returns:
        Tensor `(batch, dim)`.

    Example:

    >>> layer = SequencePooling("mean")
    >>> tuple(layer(np.ones((2, 5, 8))).shape)
    (2, 8)

    Reference:
        - [Reimers and Gurevych, 2019. Sentence-BERT](https://arxiv.org/abs/1908.10084) (mean pooling)
        - [Devlin et al., 2019. BERT](https://arxiv.org/abs/1810.04805) (first-token pooling)
    """

    def __init__(self, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        self.pooling = check_choice("pooling", pooling, POOLINGS)

    def call(self, inputs, padding_mask=None):
        # Shapes: inputs (b, s, d), padding_mask (b, s).
        x = ops.cast(inputs, self.compute_dtype)
        if self.pooling == "cls":
            return x[:, 0, :]
        if padding_mask is None:
            padding_mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        mask = ops.cast(padding_mask, "bool")
        weights = ops.cast(mask, x.dtype)[:, :, None]  # (b, s, 1)
        if self.pooling == "mean":
            count = ops.maximum(ops.sum(weights, axis=1), ops.cast(1.0, x.dtype))
            return ops.sum(x * weights, axis=1) / count
        any_kept = ops.cast(ops.any(mask, axis=1), x.dtype)[:, None]  # (b, 1)
        if self.pooling == "max":
            fp16 = keras.backend.standardize_dtype(x.dtype) == "float16"
            lowest = ops.cast(-6.0e4 if fp16 else -3.0e38, x.dtype)
            pooled = ops.max(ops.where(mask[:, :, None], x, lowest), axis=1)
            return pooled * any_kept
        positions = ops.arange(ops.shape(x)[1], dtype="int32")[None, :]  # (1, s)
        last = ops.max(ops.where(mask, positions, 0), axis=1)  # (b,)
        select = ops.cast(ops.equal(positions, last[:, None]), x.dtype)[:, :, None]  # (b, s, 1)
        return ops.sum(x * select, axis=1) * any_kept

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[-1])

    def count_params_for(self, input_shape, **other_shapes):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a masked reduction, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config["pooling"] = self.pooling
        return config
