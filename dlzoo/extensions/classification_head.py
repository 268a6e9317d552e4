"""Classification head: pool the hidden states, dropout, a dense layer to class logits."""

import keras

from dlzoo.extensions import Extension
from dlzoo.extensions._common import others
from dlzoo.extensions._heads import POOLINGS, drop_builtin_outputs, head_width, pooled_features
from dlzoo.registry import register_extension
from dlzoo.validation import check_choice, check_positive_int, check_rate

NAME = "classification_head"


@register_extension(NAME, paper="arXiv:1810.04805", conflicts_with=others(NAME))
class ClassificationHead(Extension):
    """Sequence classification: `logits = Dense(num_classes)(Dropout(pool(hidden)))`.

    The model's own output layer is turned off first (`use_lm_head=False`
    for gpt/llama; for bert the `[CLS]` pooler is kept only with
    `pooling="cls"`, whose features are then BERT's pooled output, as in the
    paper's fine-tuning setup). The head reads the hidden states
    `(batch, seq_len, hidden_dim)`, pools them with the model's
    `padding_mask`, and outputs unnormalized logits `(batch, num_classes)`.

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

    def apply_config(self, config):
        return drop_builtin_outputs(config, self.pooling)

    def apply_model(self, model):
        features = pooled_features(model, NAME, self.pooling, prefix="classification")
        if self.dropout > 0:
            features = keras.layers.Dropout(self.dropout, name="classification_dropout")(features)
        logits = keras.layers.Dense(self.num_classes, name="classifier")(features)
        return model.input, logits

    def count_params(self, config, base_count):
        width = head_width(config)
        return None if width is None else base_count + width * self.num_classes + self.num_classes
