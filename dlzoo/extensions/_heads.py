"""Sequence pooling and config handling shared by the task heads (private)."""

import keras
from keras import ops

from dlzoo.extensions._common import padding_mask_of, sequence_output
from dlzoo.validation import check_choice

POOLINGS = ("cls", "mean", "last", "max")


@keras.saving.register_keras_serializable(package="dlzoo", name="SequencePooling")
class SequencePooling(keras.layers.Layer):
    """Reduce `(batch, seq_len, dim)` hidden states to one `(batch, dim)` vector.

    `"cls"` takes position 0; `"mean"` averages the kept positions;
    `"last"` takes the last kept position (the last real token of a
    right-padded sequence); `"max"` takes the per-feature maximum over kept
    positions. Kept = `True` in `padding_mask` (all positions without one);
    a row with no kept position pools to zeros.

    Args:
        pooling: str. `"cls"`, `"mean"`, `"last"` or `"max"`. Defaults to `"mean"`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Tensor `(batch, seq_len, dim)`.
        padding_mask: Optional bool tensor `(batch, seq_len)`, `True` = keep.

    Returns:
        Tensor `(batch, dim)`.
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

    def get_config(self):
        config = super().get_config()
        config["pooling"] = self.pooling
        return config


def drop_builtin_outputs(config, pooling=None):
    """Turn off a model's own LM head / pooler so a head sits on its hidden states.

    `use_lm_head` (gpt, llama) is set to `False`; `use_pooler` (bert) is kept
    only when `pooling="cls"` (the pooler is BERT's own `[CLS]` summary).
    """
    params = config["params"]
    if params.get("use_lm_head") is True:
        params["use_lm_head"] = False
    if params.get("use_pooler") is True and pooling != "cls":
        params["use_pooler"] = False
    return config


def pooled_features(model, extension, pooling, prefix):
    """`(batch, hidden)` features for a head: BERT's pooled output for `"cls"`, else pooled hidden states."""
    output = model.output
    if pooling == "cls" and isinstance(output, dict) and "pooled_output" in output:
        return output["pooled_output"]
    hidden = sequence_output(model, extension)
    mask = padding_mask_of(model)
    layer = SequencePooling(pooling, name=f"{prefix}_pooling")
    return layer(hidden) if mask is None or pooling == "cls" else layer(hidden, padding_mask=mask)


def head_width(config):
    """Width of the features a head reads (`hidden_dim`), or `None` when the config does not say."""
    width = config.get("params", {}).get("hidden_dim")
    return width if isinstance(width, int) and not isinstance(width, bool) else None
