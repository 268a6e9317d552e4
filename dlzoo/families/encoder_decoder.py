"""The `encoder_decoder` family: the original Transformer, a sequence-to-sequence model."""

import math

from dlzoo.families._transformer import attention_section, feedforward_section, norm_section, stack_arguments
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_positive_int


@register_model(
    "encoder_decoder",
    paper="arXiv:1706.03762",
    params=dict(
        vocabulary_size=37000,
        hidden_dim=512,
        num_encoder_layers=6,
        num_decoder_layers=6,
        dropout=0.1,
        remat=False,
        norm_position="post",
        scale_embeddings=True,
        attention=attention_section(num_heads=8, use_qkv_bias=True, use_output_bias=True, attention_dropout=0.0),
        feedforward=feedforward_section(type="mlp", intermediate_dim=2048, activation="relu", use_bias=True),
        norm=norm_section(type="layer_norm", epsilon=1e-6),
    ),
)
def encoder_decoder(p):
    """The Transformer of "Attention Is All You Need": an encoder and a decoder over a shared vocabulary.

    Source and target tokens share one embedding table, scaled by
    `sqrt(hidden_dim)` and summed with sinusoidal positions (the paper's
    interleaved sin/cos). A bidirectional `transformer_stack` encodes the
    source; a causal stack with cross-attention over the encoder output
    decodes the target; the output projection is the shared embedding in
    reverse (three-way weight tying, section 3.4). Post-norm residual
    branches, ReLU feed-forward networks and dropout 0.1, as in the base
    model (`transformer-base`).

    Args:
        vocabulary_size: int. Shared source/target vocabulary. Defaults to `37000`.
        hidden_dim: int. `d_model`. Defaults to `512`.
        num_encoder_layers: int. Encoder layers. Defaults to `6`.
        num_decoder_layers: int. Decoder layers. Defaults to `6`.
        dropout: float. Residual and embedding dropout. Defaults to `0.1`.
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        norm_position: str. `"post"` as in the paper, or `"pre"` (then each
            stack ends with a final norm). Defaults to `"post"`.
        scale_embeddings: bool. Multiply embeddings by `sqrt(hidden_dim)`.
            Defaults to `True`.
        attention: dict. `grouped_query_attention` arguments (both stacks).
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments.

    Returns:
        A plan with inputs `source_ids`, `source_padding_mask`, `target_ids`,
        `target_padding_mask` (all `(batch, length)`) and the output `logits`
        `(batch, target_length, vocabulary_size)`: position `t` predicts
        target token `t + 1`.

    Reference:
        - [Vaswani et al., 2017. Attention Is All You Need](https://arxiv.org/abs/1706.03762)
    """
    plan = Plan()
    source_ids = plan.input("source_ids", (None,), "int32")
    source_mask = plan.input("source_padding_mask", (None,), "bool")
    target_ids = plan.input("target_ids", (None,), "int32")
    target_mask = plan.input("target_padding_mask", (None,), "bool")
    embedding = plan.block(
        "token_embedding", "token_embedding", vocabulary_size=p["vocabulary_size"], hidden_dim=p["hidden_dim"]
    )
    width = check_positive_int("hidden_dim", p["hidden_dim"])
    scale = plan.block("embeddings_scale", "rescaling", scale=math.sqrt(width) if p["scale_embeddings"] else 1.0)
    positions = plan.block("position_embedding", "sinusoidal_position_embedding", layout="interleaved")
    add = plan.block("embeddings_add", "add")
    dropout = plan.block("embeddings_dropout", "dropout", rate=p["dropout"])

    def embed(ids):
        x = scale(embedding(ids))
        return dropout(add([x, positions(x)]))

    final_norm = p["norm_position"] == "pre"
    encoder = plan.block(
        "encoder", "transformer_stack", **stack_arguments(p, p["num_encoder_layers"], "bidirectional", final_norm)
    )
    decoder = plan.block(
        "decoder",
        "transformer_stack",
        **stack_arguments(p, p["num_decoder_layers"], "causal", final_norm, use_cross_attention=True),
    )
    context = encoder(embed(source_ids), padding_mask=source_mask)
    plan.add_feature("encoder_output", context)
    x = decoder(embed(target_ids), padding_mask=target_mask, context=context, context_padding_mask=source_mask)
    plan.add_feature("sequence_output", x)
    plan.set_outputs(embedding(x, reverse=True), name="logits")
    return plan
