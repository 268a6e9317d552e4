"""The `llama` family: Llama-style decoder-only language models built from registered blocks."""

from dlzoo.models._transformer import (
    activation_elements,
    assemble_decoder,
    blocks_used,
    count_decoder,
    validate_transformer,
)
from dlzoo.registry import register_model


def count_llama(**params):
    return count_decoder(params, learned_positions=False, rotary=True)


def validate_llama(**params):
    validate_transformer(params, rotary=True)


def llama_blocks(**params):
    return blocks_used(params, rotary=True)


def llama_activation_elements(batch_size, sequence_length, **params):
    return activation_elements(params, batch_size, sequence_length, logits=params["use_lm_head"])


@register_model(
    "llama",
    paper="arXiv:2302.13971",
    count_params=count_llama,
    validate=validate_llama,
    blocks=llama_blocks,
    activation_elements=llama_activation_elements,
    nullable=("feedforward.activation",),
    inputs=("token_ids", "padding_mask"),
)
def llama(
    vocabulary_size=32000,
    hidden_dim=4096,
    num_layers=32,
    max_sequence_length=4096,
    dropout=0.0,
    tie_embeddings=False,
    use_lm_head=True,
    attention={
        "num_heads": 32,
        "num_key_value_heads": None,
        "head_dim": None,
        "use_bias": False,
        "dropout": 0.0,
        "use_qk_norm": False,
        "rope_max_wavelength": 10000.0,
        "rope_layout": "rotate_half",
        "options": {},
    },
    feedforward={
        "type": "swiglu",
        "intermediate_dim": 11008,
        "activation": None,
        "use_bias": False,
        "options": {},
    },
    norm={"type": "rms_norm", "epsilon": 1e-5, "position": "pre"},
):
    """A Llama-style decoder-only language model.

    Token embedding (no absolute positions), `num_layers` pre-norm causal
    Transformer layers (RMSNorm, grouped-query attention without biases and
    with rotary position embedding on queries and keys, a SwiGLU
    feed-forward network without biases), a final RMSNorm and an untied LM
    head. The defaults are Llama 2 7B; `llama-3-8b` sets 8 key/value heads,
    a 128256-token vocabulary, a 14336-wide SwiGLU and RoPE theta 500000.

    Args:
        vocabulary_size: int. Number of token ids. Defaults to `32000`.
        hidden_dim: int. Model width. Defaults to `4096`.
        num_layers: int. Number of Transformer layers. Defaults to `32`.
        max_sequence_length: int. Context length the model is meant for
            (RoPE has no table; used by memory estimates). Defaults to `4096`.
        dropout: float. Embedding and residual dropout. Defaults to `0.0`.
        tie_embeddings: bool. LM head shares the token embedding. Defaults to `False`.
        use_lm_head: bool. Output vocabulary logits (else hidden states).
            Defaults to `True`.
        attention: dict. `num_heads`, `num_key_value_heads` (GQA; `None` =
            multi-head), `head_dim`, `use_bias`, `dropout`, `use_qk_norm`,
            `rope_max_wavelength` (theta), `rope_layout` (`"rotate_half"`,
            as Hugging Face checkpoints, or `"interleaved"`, Meta's original),
            `options`.
        feedforward: dict. `type`, `intermediate_dim`, `activation`
            (`None` for SwiGLU), `use_bias`, `options`.
        norm: dict. `type`, `epsilon`, `position`.

    Returns:
        `(inputs, outputs)`: inputs `{"token_ids", "padding_mask"}`; outputs
        logits `(batch, seq, vocabulary_size)` (or hidden states).

    Reference:
        - [Touvron et al., 2023. LLaMA: Open and Efficient Foundation Language Models](https://arxiv.org/abs/2302.13971)
        - [Touvron et al., 2023. Llama 2: Open Foundation and Fine-Tuned Chat Models](https://arxiv.org/abs/2307.09288)
        - [Llama Team, 2024. The Llama 3 Herd of Models](https://arxiv.org/abs/2407.21783)
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
    return assemble_decoder(params, learned_positions=False, rotary=True)
