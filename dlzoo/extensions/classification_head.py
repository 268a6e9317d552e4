"""Classification head: pool the hidden states, dropout, a dense layer to class logits."""

from dlzoo.extensions._common import others
from dlzoo.extensions._heads import POOLINGS, pooled_features
from dlzoo.extensions.base import Extension
from dlzoo.registry import register_extension
from dlzoo.validation import check_choice, check_positive_int, check_rate

NAME = "classification_head"


@register_extension(NAME, paper="arXiv:1810.04805", conflicts_with=others(NAME))
class ClassificationHead(Extension):
    """Sequence or image classification: `logits = Dense(num_classes)(Dropout(pool(hidden)))`.

    The head replaces the model's outputs (its LM head or pooler is then no
    longer part of the model, so it is neither built nor counted). It reads
    the hidden states `(batch, seq_len, hidden_dim)` and pools them with the
    model's `padding_mask`; with `pooling="cls"` on BERT it reads the
    pooler's output, as in the paper's fine-tuning setup; an image model
    gives its pooled features. Outputs unnormalized logits `(batch, num_classes)`.

    Args:
        num_classes: int. Number of classes.
        pooling: str. `"cls"` (first position, or BERT's pooled output),
            `"mean"` (over real tokens), `"last"` (last real token, the
            natural choice for causal decoders) or `"max"`. Defaults to
            `"mean"`.
        dropout: float. Dropout on the pooled features. Defaults to `0.0`.

    Example:

    >>> model = dlzoo.build("bert-tiny", extensions=[
    ...     {"name": "classification_head", "num_classes": 3, "pooling": "cls"}])

    Reference:
        - [Devlin et al., 2019. BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding](https://arxiv.org/abs/1810.04805), section 4.1
    """

    def __init__(self, num_classes, pooling="mean", dropout=0.0):
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        self.dropout = check_rate("dropout", dropout)

    def apply_plan(self, plan, config):
        features = pooled_features(plan, NAME, self.pooling, prefix="classification")
        if self.dropout > 0:
            features = plan.block("classification_dropout", "dropout", rate=self.dropout)(features)
        plan.set_outputs(plan.block("classifier", "dense", units=self.num_classes)(features))
        return plan
