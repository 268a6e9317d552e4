"""The LCM training losses as registered, serializable Keras losses.

Both follow the reference criteria (lcm.md 3.2 and 4.4): the per-position loss
is the **sum over embedding dimensions** of the squared error (fp32), optionally
`sqrt(sum + 1e-5)` (`compute_rmse`, off in every recipe), and the batch loss is
the mean over the counted (target) positions: `reduction="sum"` over positions
followed by the trainer's division by the number of targets.

Padding: pass the batch's `(batch, seq_len)` padding mask as Keras
`sample_weight` (`True`/1 = real concept); the loss shifts it itself. Without a
`sample_weight`, padded positions are recognised as all-zero target rows (the
padding `ConceptSequenceDataset` and `pad_concept_sequences` produce), so
`model.fit(ConceptSequenceDataset(...))` works as is.
"""

import keras
from keras import ops

from dlzoo.registry import register_component
from dlzoo.validation import check_bool, check_int


def _position_weights(y_true, sample_weight):
    """Per-position weights `(batch, seq_len)` from `sample_weight` or non-zero target rows."""
    if sample_weight is None:
        return ops.cast(ops.any(ops.not_equal(y_true, 0.0), axis=-1), "float32")
    weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    if len(weights.shape) == 3 and weights.shape[-1] == 1:
        weights = ops.squeeze(weights, -1)
    if len(weights.shape) == 1:  # one weight per sequence
        weights = ops.expand_dims(weights, 1) * ops.ones_like(y_true[..., 0])
    return weights


def _per_position(y_true, y_pred, compute_rmse):
    error = ops.sum(ops.square(y_pred - y_true), axis=-1)
    if compute_rmse:
        error = ops.sqrt(error + 1e-5)
    return error


def _weighted_mean(values, weights):
    total = ops.sum(weights)
    return ops.sum(values * weights) / ops.maximum(total, 1.0)


class _LCMLoss(keras.losses.Loss):
    def __init__(self, compute_rmse=False, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.compute_rmse = check_bool("compute_rmse", compute_rmse)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        values, weights = self._values_and_weights(y_true, y_pred, sample_weight)
        return ops.cast(_weighted_mean(values, weights), self.dtype)

    def call(self, y_true, y_pred):
        """Per-position loss (unmasked), for use as a plain Keras loss function."""
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        values, _ = self._values_and_weights(y_true, y_pred, None)
        return values

    def get_config(self):
        config = super().get_config()
        config["compute_rmse"] = self.compute_rmse
        return config


@register_component("loss", "next_concept_mse")
@keras.saving.register_keras_serializable(package="dlzoo", name="NextConceptMSE")
class NextConceptMSE(_LCMLoss):
    """Base-LCM next-concept regression loss (the reference `next_sentence_mse`).

    Predictions `y_pred[:, :-1]` are compared with targets `y_true[:, 1:]`
    (output `t` predicts concept `t + 1`); the per-position loss is
    `sum_k (y_pred - y_true)^2` over the embedding dimensions, and the batch
    loss is its mean over the target positions that are real concepts and
    come at or after `min_context_size` (the reference's default 1 counts
    every next-concept position).

    Args:
        min_context_size: int. Targets at positions `< min_context_size`
            are not counted. Defaults to `1`.
        compute_rmse: bool. Use `sqrt(sum + 1e-5)` per position (the
            reference dataclass default, turned off by every recipe).
            Defaults to `False`.
        name: str. Defaults to `"next_concept_mse"`.
        reduction: str. Kept for Keras compatibility; the reduction is always
            the masked mean over target positions. Defaults to
            `"sum_over_batch_size"`.
        dtype: str or None. Dtype of the returned loss. Defaults to `None`.

    Call arguments:
        y_true: `(batch, n, dim)` normalized input concepts.
        y_pred: `(batch, n, dim)` model outputs.
        sample_weight: optional `(batch, n)` padding mask / weights of the
            *input* positions (shifted by the loss).

    Example:

    >>> loss = NextConceptMSE()
    >>> y = np.zeros((1, 3, 2), "float32"); y[0, 1:] = 1.0
    >>> float(loss(y, np.zeros_like(y)))
    2.0

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.1, eq. 1
    """

    def __init__(self, min_context_size=1, compute_rmse=False, name="next_concept_mse",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(compute_rmse=compute_rmse, name=name, reduction=reduction, dtype=dtype)
        self.min_context_size = check_int("min_context_size", min_context_size, min_value=1)

    def _values_and_weights(self, y_true, y_pred, sample_weight):
        weights = _position_weights(y_true, sample_weight)[:, 1:]
        if self.min_context_size > 1:
            positions = ops.arange(1, ops.shape(y_true)[1], dtype="int32")
            weights = weights * ops.cast(positions >= self.min_context_size, "float32")[None, :]
        values = _per_position(y_true[:, 1:], y_pred[:, :-1], self.compute_rmse)
        return values, weights

    def get_config(self):
        config = super().get_config()
        config["min_context_size"] = self.min_context_size
        return config


@register_component("loss", "diffusion_mse")
@keras.saving.register_keras_serializable(package="dlzoo", name="DiffusionMSE")
class DiffusionMSE(_LCMLoss):
    """Two-Tower diffusion loss (the reference `two_tower_diffusion_next_sent`): x0 prediction, no shift.

    The model (whose training graph noises its input with `DiffusionNoising`
    and applies the classifier-free-guidance row dropout of the context in
    `LCMDenoiser`, lcm.md 4.3) outputs its estimate of the clean normalized
    concepts; the target is the clean normalized sequence itself
    (`prediction_type="sample"`). Every real position counts, position 0 and
    the end-of-text concept included: causality comes from the
    cross-attention mask, not from a shift. Per position the squared error is
    summed over dimensions; the batch loss is the mean over real positions.

    Args:
        compute_rmse: bool. `sqrt(sum + 1e-5)` per position. Defaults to `False`.
        name: str. Defaults to `"diffusion_mse"`.
        reduction: str. Kept for Keras compatibility (always the masked mean).
        dtype: str or None. Dtype of the returned loss. Defaults to `None`.

    Example:

    >>> loss = DiffusionMSE()
    >>> y = np.ones((1, 2, 3), "float32")
    >>> float(loss(y, np.zeros_like(y)))
    3.0

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.3
    """

    def __init__(self, compute_rmse=False, name="diffusion_mse", reduction="sum_over_batch_size", dtype=None):
        super().__init__(compute_rmse=compute_rmse, name=name, reduction=reduction, dtype=dtype)

    def _values_and_weights(self, y_true, y_pred, sample_weight):
        weights = _position_weights(y_true, sample_weight)
        return _per_position(y_true, y_pred, self.compute_rmse), weights


def lcm_targets(embeddings, padding_mask):
    """`ConceptSequenceDataset(targets=lcm_targets)`: `(y, sample_weight)` = (embeddings, mask)."""
    return embeddings, padding_mask.astype("float32")
