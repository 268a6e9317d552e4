"""The `gpt` family: GPT-2-style decoder-only language models."""

from dlzoo.families._transformer import attention_section, decoder_plan, feedforward_section, norm_section
from dlzoo.registry import register_model

GPT2_PAPER = "https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf"


@register_model(
    "gpt",
    paper=GPT2_PAPER,
    params=dict(
        vocabulary_size=50257,
        hidden_dim=768,
        num_layers=12,
        max_sequence_length=1024,
        dropout=0.1,
        remat=False,
        norm_position="pre",
        tie_embeddings=True,
        use_lm_head=True,
        use_position_ids=False,
        attention=attention_section(num_heads=12, use_qkv_bias=True, use_output_bias=True, attention_dropout=0.1),
        feedforward=feedforward_section(type="mlp", intermediate_dim=3072, activation="gelu_approximate", use_bias=True),
        norm=norm_section(type="layer_norm", epsilon=1e-5),
    ),
)
def gpt(p):
    """A GPT-2-style decoder-only language model.

    Token embedding plus learned absolute positions, dropout, a causal
    pre-norm `transformer_stack` (LayerNorm, multi-head attention with
    biases, a GELU MLP, a final LayerNorm) and an LM head tied to the token
    embedding. The defaults are GPT-2 small (124,439,808 parameters).

    Args:
        vocabulary_size: int. Number of token ids. Defaults to `50257`.
        hidden_dim: int. Model width. Defaults to `768`.
        num_layers: int. Number of Transformer layers. Defaults to `12`.
        max_sequence_length: int. Rows of the position table. Defaults to `1024`.
        dropout: float. Embedding and residual dropout. Defaults to `0.1`.
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        norm_position: str. `"pre"` or `"post"`. Defaults to `"pre"`.
        tie_embeddings: bool. LM head shares the token embedding. Defaults to `True`.
        use_lm_head: bool. Output vocabulary logits (else hidden states).
            Defaults to `True`.
        use_position_ids: bool. Take the positions from an input
            `position_ids` `(batch, seq_len)` (e.g. counted from each
            sequence's first real token under left padding, as Hugging Face
            generation does) instead of `0..seq_len-1`. Defaults to `False`.
        attention: dict. `grouped_query_attention` arguments.
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments.

    Returns:
        A plan with inputs `token_ids` (int32) and `padding_mask` (bool),
        both `(batch, seq_len)` (and `position_ids` with
        `use_position_ids=True`), and the output `logits`
        `(batch, seq_len, vocabulary_size)` (or `hidden_states`).

    Reference:
        - [Radford et al., 2019. Language Models are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf)
    """
    return decoder_plan(p, learned_positions=True, use_position_ids=p["use_position_ids"])
