"""Regression head: pool the hidden states, a dense layer to real-valued outputs."""

from dlzoo.extensions._common import others
from dlzoo.extensions._heads import POOLINGS, pooled_features
from dlzoo.extensions.base import Extension
from dlzoo.registry import register_extension
from dlzoo.validation import check_choice, check_positive_int, check_rate

NAME = "regression_head"


@register_extension(NAME, paper=None, conflicts_with=others(NAME))
class RegressionHead(Extension):
    """Sequence regression: `y = Dense(outputs)(Dropout(pool(hidden)))`, no activation.

    Same wiring as `classification_head`, with `outputs` real values per
    sequence, e.g. a similarity score (as in BERT's STS-B fine-tuning) or a
    reward.

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

    def apply_plan(self, plan, config):
        features = pooled_features(plan, NAME, self.pooling, prefix="regression")
        if self.dropout > 0:
            features = plan.block("regression_dropout", "dropout", rate=self.dropout)(features)
        plan.set_outputs(plan.block("regressor", "dense", units=self.outputs)(features))
        return plan
