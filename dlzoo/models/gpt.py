"""The `gpt` family: GPT-2-style decoder-only language models built from registered blocks."""

from dlzoo.models._transformer import (
    activation_elements,
    assemble_decoder,
    blocks_used,
    count_decoder,
    validate_transformer,
)
from dlzoo.registry import register_model

GPT2_PAPER = (
    "https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf"
)


def count_gpt(**params):
    return count_decoder(params, learned_positions=True, rotary=False)


def validate_gpt(**params):
    validate_transformer(params, rotary=False)


def gpt_blocks(**params):
    return blocks_used(params, rotary=False, extra=("learned_position_embedding",))


def gpt_activation_elements(batch_size, sequence_length, **params):
    return activation_elements(params, batch_size, sequence_length, logits=params["use_lm_head"])


@register_model(
    "gpt",
    paper=GPT2_PAPER,
    count_params=count_gpt,
    validate=validate_gpt,
    blocks=gpt_blocks,
    activation_elements=gpt_activation_elements,
    nullable=("feedforward.activation",),
    inputs=("token_ids", "padding_mask"),
)
def gpt(
    vocabulary_size=50257,
    hidden_dim=768,
    num_layers=12,
    max_sequence_length=1024,
    dropout=0.1,
    tie_embeddings=True,
    use_lm_head=True,
    attention={
        "num_heads": 12,
        "num_key_value_heads": None,
        "head_dim": None,
        "use_bias": True,
        "dropout": 0.1,
        "use_qk_norm": False,
        "options": {},
    },
    feedforward={
        "type": "mlp",
        "intermediate_dim": 3072,
        "activation": "gelu_approximate",
        "use_bias": True,
        "options": {},
    },
    norm={"type": "layer_norm", "epsilon": 1e-5, "position": "pre"},
):
    """A GPT-2-style decoder-only language model.

    Token embedding plus learned absolute positions, dropout, `num_layers`
    pre-norm causal Transformer layers (LayerNorm, multi-head attention with
    biases, a GELU MLP), a final LayerNorm, and an LM head tied to the token
    embedding. The defaults are GPT-2 small (124M).

    Args:
        vocabulary_size: int. Number of token ids. Defaults to `50257`.
        hidden_dim: int. Model width. Defaults to `768`.
        num_layers: int. Number of Transformer layers. Defaults to `12`.
        max_sequence_length: int. Rows of the position table. Defaults to `1024`.
        dropout: float. Embedding and residual dropout. Defaults to `0.1`.
        tie_embeddings: bool. LM head shares the token embedding. Defaults to `True`.
        use_lm_head: bool. Output vocabulary logits (else hidden states).
            Defaults to `True`.
        attention: dict. `num_heads`, `num_key_value_heads`, `head_dim`,
            `use_bias`, `dropout` (attention probabilities), `use_qk_norm`,
            `options` (any further `grouped_query_attention` argument).
        feedforward: dict. `type` (registered feed-forward block),
            `intermediate_dim`, `activation`, `use_bias`, `options`.
        norm: dict. `type` (registered normalization block), `epsilon`,
            `position` (`"pre"` or `"post"`).

    Returns:
        `(inputs, outputs)`: inputs `{"token_ids": int32 (batch, seq),
        "padding_mask": bool (batch, seq)}`; outputs logits
        `(batch, seq, vocabulary_size)` (or hidden states).

    Reference:
        - [Radford et al., 2019. Language Models are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf)
    """
    params = dict(
        vocabulary_size=vocabulary_size,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        max_sequence_length=max_sequence_length,
        dropout=dropout,
        tie_embeddings=tie_embeddings,
        use_lm_head=use_lm_head,
        attention=attention,
        feedforward=feedforward,
        norm=norm,
    )
    return assemble_decoder(params, learned_positions=True, rotary=False)
