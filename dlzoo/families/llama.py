"""The `llama` family: Llama-style decoder-only language models."""

from dlzoo.families._transformer import attention_section, decoder_plan, feedforward_section, norm_section
from dlzoo.registry import register_model


@register_model(
    "llama",
    paper="arXiv:2302.13971",
    params=dict(
        vocabulary_size=32000,
        hidden_dim=4096,
        num_layers=32,
        max_sequence_length=4096,
        dropout=0.0,
        remat=False,
        norm_position="pre",
        tie_embeddings=False,
        use_lm_head=True,
        attention=attention_section(
            num_heads=32,
            use_qkv_bias=False,
            use_output_bias=False,
            attention_dropout=0.0,
            use_rotary_embedding=True,
            rope_max_wavelength=10000.0,
            rope_layout="rotate_half",
        ),
        feedforward=feedforward_section(type="swiglu", intermediate_dim=11008, use_bias=False),
        norm=norm_section(type="rms_norm", epsilon=1e-5),
    ),
)
def llama(p):
    """A Llama-style decoder-only language model.

    Token embedding (no absolute positions), a causal pre-norm
    `transformer_stack` (RMSNorm, grouped-query attention without biases and
    with rotary position embedding on queries and keys, a SwiGLU
    feed-forward network without biases, a final RMSNorm) and an untied LM
    head. The defaults are Llama 2 7B; `llama-3-8b` sets 8 key/value heads,
    a 128256-token vocabulary, a 14336-wide SwiGLU and RoPE theta 500000.
    Qwen2 (q/k/v biases) and Qwen3 (QK-norm) are the same family with
    `attention.use_qkv_bias` / `attention.use_qk_norm` switched on.

    Args:
        vocabulary_size: int. Number of token ids. Defaults to `32000`.
        hidden_dim: int. Model width. Defaults to `4096`.
        num_layers: int. Number of Transformer layers. Defaults to `32`.
        max_sequence_length: int. Context length the model is meant for
            (RoPE has no table; used by memory estimates and servers).
            Defaults to `4096`.
        dropout: float. Embedding and residual dropout. Defaults to `0.0`.
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        norm_position: str. `"pre"` or `"post"`. Defaults to `"pre"`.
        tie_embeddings: bool. LM head shares the token embedding. Defaults to `False`.
        use_lm_head: bool. Output vocabulary logits (else hidden states).
            Defaults to `True`.
        attention: dict. `grouped_query_attention` arguments; `rope_layout`
            is `"rotate_half"` (Hugging Face checkpoints) or `"interleaved"`
            (Meta's original).
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments.

    Returns:
        A plan with inputs `token_ids` and `padding_mask` and the output
        `logits` (or `hidden_states`).

    Reference:
        - [Touvron et al., 2023. LLaMA: Open and Efficient Foundation Language Models](https://arxiv.org/abs/2302.13971)
        - [Touvron et al., 2023. Llama 2: Open Foundation and Fine-Tuned Chat Models](https://arxiv.org/abs/2307.09288)
        - [Llama Team, 2024. The Llama 3 Herd of Models](https://arxiv.org/abs/2407.21783)
    """
    return decoder_plan(p, learned_positions=False)
