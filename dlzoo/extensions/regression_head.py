"""Regression head: pool the hidden states, a dense layer to real-valued outputs."""

import keras

from dlzoo.extensions import Extension
from dlzoo.extensions._common import others
from dlzoo.extensions._heads import POOLINGS, drop_builtin_outputs, head_width, pooled_features
from dlzoo.registry import register_extension
from dlzoo.validation import check_choice, check_positive_int, check_rate

NAME = "regression_head"


@register_extension(NAME, paper=None, conflicts_with=others(NAME))
class RegressionHead(Extension):
    """Sequence regression: `y = Dense(outputs)(Dropout(pool(hidden)))`, no activation.

    Same wiring as `classification_head` (the model's own LM head or
    non-`"cls"` pooler is turned off; the hidden states are pooled with the
    model's `padding_mask`), with `outputs` real values per sequence, e.g.
    a similarity score (as in BERT's STS-B fine-tuning) or a reward.

    Args:
        outputs: int. Number of real values per sequence. Defaults to `1`.
        pooling: str. `"cls"`, `"mean"`, `"last"` or `"max"` (see
            `classification_head`). Defaults to `"mean"`.
        dropout: float. Dropout on the pooled features. Defaults to `0.0`.

    Example:

    >>> model = dlzoo.build("gpt-tiny", extensions=[
    ...     {"name": "regression_head", "outputs": 1, "pooling": "last"}])

    Reference:
        - No paper: a linear read-out of pooled features.
    """

    def __init__(self, outputs=1, pooling="mean", dropout=0.0):
        self.outputs = check_positive_int("outputs", outputs)
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        self.dropout = check_rate("dropout", dropout)

    def apply_config(self, config):
        return drop_builtin_outputs(config, self.pooling)

    def apply_model(self, model):
        features = pooled_features(model, NAME, self.pooling, prefix="regression")
        if self.dropout > 0:
            features = keras.layers.Dropout(self.dropout, name="regression_dropout")(features)
        values = keras.layers.Dense(self.outputs, name="regressor")(features)
        return model.input, values

    def count_params(self, config, base_count):
        width = head_width(config)
        return None if width is None else base_count + width * self.outputs + self.outputs
