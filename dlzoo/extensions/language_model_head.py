"""Language-model head: hidden states to vocabulary logits, tied to the token embedding or not."""

import keras

from dlzoo.extensions import Extension
from dlzoo.extensions._common import others, sequence_output, top_level_layer
from dlzoo.extensions._heads import drop_builtin_outputs, head_width
from dlzoo.registry import register_extension
from dlzoo.validation import check_bool, check_positive_int

NAME = "language_model_head"


@register_extension(NAME, paper="arXiv:1608.05859", conflicts_with=others(NAME))
class LanguageModelHead(Extension):
    """Per-position vocabulary logits `(batch, seq_len, vocabulary_size)`.

    With `tied=True` the logits are the hidden states times the transposed
    token-embedding table (the model's `token_embedding` layer called in
    reverse: weight tying, Press and Wolf 2017), adding no parameter. With
    `tied=False` a separate `Dense` projection named `lm_head` is added.
    The model's own output layer is turned off first (`use_lm_head=False`
    for gpt/llama, `use_pooler=False` for bert), so on gpt/llama this
    re-creates their native head and on bert adds a masked-LM-style output.

    Args:
        tied: bool. Share the token embedding. Defaults to `True`.
        vocabulary_size: int. Output size of an untied head. Defaults to
            `None` (the model's `vocabulary_size`).
        use_bias: bool. Bias on an untied head. Defaults to `False`.

    Example:

    >>> model = dlzoo.build("llama-tiny", extensions=[
    ...     {"name": "language_model_head", "tied": True}])

    Reference:
        - [Press and Wolf, 2017. Using the Output Embedding to Improve Language Models](https://arxiv.org/abs/1608.05859)
    """

    def __init__(self, tied=True, vocabulary_size=None, use_bias=False):
        self.tied = check_bool("tied", tied)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size, allow_none=True)
        self.use_bias = check_bool("use_bias", use_bias)
        if self.tied and (self.use_bias or self.vocabulary_size is not None):
            raise ValueError(
                "A tied language-model head reuses the token embedding: it takes neither `use_bias` nor "
                f"`vocabulary_size`. Received: tied=True, use_bias={use_bias}, vocabulary_size={vocabulary_size}."
            )

    def apply_config(self, config):
        return drop_builtin_outputs(config)

    def _vocabulary_size(self, model):
        if self.vocabulary_size is not None:
            return self.vocabulary_size
        embedding = top_level_layer(model, "token_embedding")
        size = getattr(embedding, "vocabulary_size", None)
        if size is None:
            raise ValueError(
                f"Extension {NAME!r}: the model {model.name!r} has no 'token_embedding' layer to read the "
                "vocabulary size from. Pass vocabulary_size=... ."
            )
        return size

    def apply_model(self, model):
        hidden = sequence_output(model, NAME)
        if self.tied:
            embedding = top_level_layer(model, "token_embedding")
            if embedding is None or getattr(embedding, "registered_name", None) != "token_embedding":
                raise ValueError(
                    f"Extension {NAME!r} with tied=True needs a 'token_embedding' layer (dlzoo TokenEmbedding) "
                    f"to use in reverse; model {model.name!r} has none. Use tied=False. Received: tied=True."
                )
            logits = embedding(hidden, reverse=True)
        else:
            logits = keras.layers.Dense(self._vocabulary_size(model), use_bias=self.use_bias, name="lm_head")(hidden)
        return model.input, logits

    def count_params(self, config, base_count):
        if self.tied:
            return base_count
        width = head_width(config)
        vocab = self.vocabulary_size or config.get("params", {}).get("vocabulary_size")
        if width is None or not isinstance(vocab, int):
            return None
        return base_count + width * vocab + (vocab if self.use_bias else 0)
