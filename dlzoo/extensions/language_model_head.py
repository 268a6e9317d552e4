"""Language-model head: hidden states to vocabulary logits, tied to the token embedding or not."""

from dlzoo.extensions._common import others
from dlzoo.extensions.base import Extension
from dlzoo.registry import register_extension
from dlzoo.validation import check_bool, check_positive_int

NAME = "language_model_head"


@register_extension(NAME, paper="arXiv:1608.05859", conflicts_with=others(NAME))
class LanguageModelHead(Extension):
    """Per-position vocabulary logits `(batch, seq_len, vocabulary_size)`.

    With `tied=True` the logits are the hidden states times the transposed
    token-embedding table (the model's `token_embedding` block called in
    reverse: weight tying, Press and Wolf 2017), adding no parameter. With
    `tied=False` a separate `Dense` projection named `lm_head` is added.
    The model's own LM head is turned off first (`use_lm_head=False` for
    gpt/llama), so on gpt/llama this re-creates their native head and on
    bert adds a masked-LM-style output.

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
        if config["params"].get("use_lm_head") is True:
            config["params"]["use_lm_head"] = False
        return config

    def apply_plan(self, plan, config):
        if "sequence_output" not in plan.features:
            raise ValueError(
                f"Extension {NAME!r} needs a model with hidden states (a `sequence_output` feature). "
                f"Received: model {config['name']!r} with features {sorted(plan.features) or 'none'}."
            )
        hidden = plan.feature("sequence_output").tensor
        embedding = plan.node("token_embedding") if plan.has_node("token_embedding") else None
        if self.tied:
            if embedding is None or embedding.block != "token_embedding":
                raise ValueError(
                    f"Extension {NAME!r} with tied=True needs a 'token_embedding' block to use in reverse; model "
                    f"{config['name']!r} has none. Use tied=False. Received: tied=True."
                )
            logits = plan.handle("token_embedding")(hidden, reverse=True)
        else:
            size = self.vocabulary_size or config["params"].get("vocabulary_size")
            if not isinstance(size, int):
                raise ValueError(
                    f"Extension {NAME!r}: model {config['name']!r} has no `vocabulary_size` to size the head. "
                    "Pass vocabulary_size=... ."
                )
            logits = plan.block("lm_head", "dense", units=size, use_bias=self.use_bias)(hidden)
        plan.set_outputs(logits, name="logits")
        return plan
