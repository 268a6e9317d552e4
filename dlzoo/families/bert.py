"""The `bert` family: BERT-style bidirectional encoders."""

from dlzoo.families._transformer import (
    add_layer_features,
    attention_section,
    feedforward_section,
    norm_block,
    norm_section,
    stack_arguments,
)
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_int


@register_model(
    "bert",
    paper="arXiv:1810.04805",
    params=dict(
        vocabulary_size=30522,
        hidden_dim=768,
        num_layers=12,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.1,
        remat=False,
        norm_position="post",
        use_pooler=True,
        attention=attention_section(num_heads=12, use_qkv_bias=True, use_output_bias=True, attention_dropout=0.1),
        feedforward=feedforward_section(type="mlp", intermediate_dim=3072, activation="gelu", use_bias=True),
        norm=norm_section(type="layer_norm", epsilon=1e-12),
    ),
)
def bert(p):
    """A BERT-style bidirectional Transformer encoder.

    Token, learned position and segment embeddings are summed, normalized
    and dropped out; a bidirectional post-norm `transformer_stack`
    (multi-head attention with biases, exact-GELU MLP) follows; a pooler
    (dense + tanh on the first, `[CLS]`, position) summarizes the sequence.
    The defaults are BERT-base (109,482,240 parameters, as Hugging Face
    `BertModel`).

    Args:
        vocabulary_size: int. Number of token ids. Defaults to `30522`.
        hidden_dim: int. Model width. Defaults to `768`.
        num_layers: int. Number of Transformer layers. Defaults to `12`.
        max_sequence_length: int. Rows of the position table. Defaults to `512`.
        num_segments: int. Segment (token type) vocabulary; `0` drops the
            segment embedding and the `segment_ids` input. Defaults to `2`.
        dropout: float. Embedding and residual dropout. Defaults to `0.1`.
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        norm_position: str. `"post"` in BERT; with `"pre"` the stack ends
            with a final norm. Defaults to `"post"`.
        use_pooler: bool. Add the `[CLS]` pooler. Defaults to `True`.
        attention: dict. `grouped_query_attention` arguments.
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments.

    Returns:
        A plan with inputs `token_ids`, `segment_ids` (unless
        `num_segments=0`) and `padding_mask`; outputs `{"sequence_output":
        (batch, seq, hidden_dim), "pooled_output": (batch, hidden_dim)}`, or
        only the sequence output without pooler.

    Reference:
        - [Devlin et al., 2019. BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding](https://arxiv.org/abs/1810.04805)
    """
    check_int("num_segments", p["num_segments"], min_value=0)
    plan = Plan()
    token_ids = plan.input("token_ids", (None,), "int32")
    segment_ids = plan.input("segment_ids", (None,), "int32") if p["num_segments"] else None
    padding_mask = plan.input("padding_mask", (None,), "bool")
    x = plan.block("token_embedding", "token_embedding", vocabulary_size=p["vocabulary_size"], hidden_dim=p["hidden_dim"])(
        token_ids
    )
    parts = [x, plan.block("position_embedding", "learned_position_embedding", max_sequence_length=p["max_sequence_length"])(x)]
    if p["num_segments"]:
        segment = plan.block("segment_embedding", "token_embedding", vocabulary_size=p["num_segments"], hidden_dim=p["hidden_dim"])
        parts.append(segment(segment_ids))
    x = plan.block("embeddings_add", "add")(parts)
    x = norm_block(plan, "embeddings_norm", p)(x)
    if p["dropout"] > 0:
        x = plan.block("embeddings_dropout", "dropout", rate=p["dropout"])(x)
    plan.add_feature("embeddings", x)
    arguments = stack_arguments(p, p["num_layers"], "bidirectional", use_final_norm=p["norm_position"] == "pre")
    x = plan.block("encoder", "transformer_stack", **arguments)(x, padding_mask=padding_mask)
    add_layer_features(plan, "encoder", p["num_layers"])
    plan.add_feature("sequence_output", x)
    if not p["use_pooler"]:
        plan.set_outputs(x, name="sequence_output")
        return plan
    pooled = plan.block("pooler", "first_token_pooler")(x)
    plan.add_feature("pooled_output", pooled)
    plan.set_outputs({"sequence_output": x, "pooled_output": pooled})
    return plan
