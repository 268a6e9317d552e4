"""The `bert` family: BERT-style bidirectional encoders built from registered blocks."""

from dlzoo.models._transformer import (
    _construct,
    activation_elements,
    blocks_used,
    hidden_shape,
    make_norm,
    make_position_embedding,
    make_token_embedding,
    make_transformer_layer,
    uses_final_norm,
    validate_transformer,
)
from dlzoo.registry import get_block, register_model
from dlzoo.validation import check_int


def validate_bert(**params):
    validate_transformer(params, rotary=False)
    check_int("num_segments", params["num_segments"], min_value=0)


def count_bert(**p):
    shape = hidden_shape(p)
    d = p["hidden_dim"]
    total = make_token_embedding(p["vocabulary_size"], d, name="count").count_params_for((None, None))
    total += make_position_embedding(p, name="count").count_params_for(shape)
    if p["num_segments"]:
        total += make_token_embedding(p["num_segments"], d, name="count").count_params_for((None, None))
    total += make_norm(p, name="count").count_params_for(shape)
    total += p["num_layers"] * make_transformer_layer(p, "bidirectional", name="count").count_params_for(shape)
    if uses_final_norm(p):
        total += make_norm(p, name="count").count_params_for(shape)
    if p["use_pooler"]:
        total += _construct("first_token_pooler", get_block("first_token_pooler"), name="count").count_params_for(shape)
    return int(total)


def bert_blocks(**params):
    extra = ["learned_position_embedding"]
    if params["use_pooler"]:
        extra.append("first_token_pooler")
    return blocks_used(params, extra=extra)


def bert_activation_elements(batch_size, sequence_length, **params):
    return activation_elements(params, batch_size, sequence_length, logits=False)


@register_model(
    "bert",
    paper="arXiv:1810.04805",
    count_params=count_bert,
    validate=validate_bert,
    blocks=bert_blocks,
    activation_elements=bert_activation_elements,
    nullable=("feedforward.activation",),
    inputs=("token_ids", "segment_ids", "padding_mask"),
)
def bert(
    vocabulary_size=30522,
    hidden_dim=768,
    num_layers=12,
    max_sequence_length=512,
    num_segments=2,
    dropout=0.1,
    use_pooler=True,
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
        "activation": "gelu",
        "use_bias": True,
        "options": {},
    },
    norm={"type": "layer_norm", "epsilon": 1e-12, "position": "post"},
):
    """A BERT-style bidirectional Transformer encoder.

    Token, learned position and segment embeddings are summed, normalized
    and dropped out; `num_layers` post-norm bidirectional Transformer layers
    (multi-head attention with biases, exact-GELU MLP) follow; a pooler
    (dense + tanh on the first, `[CLS]`, position) summarizes the sequence.
    The defaults are BERT-base (110M, as Hugging Face `BertModel`).

    Args:
        vocabulary_size: int. Number of token ids. Defaults to `30522`.
        hidden_dim: int. Model width. Defaults to `768`.
        num_layers: int. Number of Transformer layers. Defaults to `12`.
        max_sequence_length: int. Rows of the position table. Defaults to `512`.
        num_segments: int. Segment (token type) vocabulary; `0` drops the
            segment embedding and the `segment_ids` input. Defaults to `2`.
        dropout: float. Embedding and residual dropout. Defaults to `0.1`.
        use_pooler: bool. Add the `[CLS]` pooler. Defaults to `True`.
        attention: dict. `num_heads`, `num_key_value_heads`, `head_dim`,
            `use_bias`, `dropout`, `use_qk_norm`, `options`.
        feedforward: dict. `type`, `intermediate_dim`, `activation`,
            `use_bias`, `options`.
        norm: dict. `type`, `epsilon`, `position` (`"post"` in BERT; with
            `"pre"` a final norm is added).

    Returns:
        `(inputs, outputs)`: inputs `{"token_ids", "segment_ids",
        "padding_mask"}` (no `segment_ids` when `num_segments=0`); outputs
        `{"sequence_output": (batch, seq, hidden_dim), "pooled_output":
        (batch, hidden_dim)}`, or only the sequence output without pooler.

    Reference:
        - [Devlin et al., 2019. BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding](https://arxiv.org/abs/1810.04805)
    """
    import keras

    p = dict(
        vocabulary_size=vocabulary_size,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        max_sequence_length=max_sequence_length,
        num_segments=num_segments,
        dropout=dropout,
        use_pooler=use_pooler,
        attention=attention,
        feedforward=feedforward,
        norm=norm,
    )
    inputs = {"token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids")}
    if num_segments:
        inputs["segment_ids"] = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
    inputs["padding_mask"] = keras.Input(shape=(None,), dtype="bool", name="padding_mask")

    x = make_token_embedding(vocabulary_size, hidden_dim, name="token_embedding")(inputs["token_ids"])
    parts = [x, make_position_embedding(p)(x)]
    if num_segments:
        parts.append(make_token_embedding(num_segments, hidden_dim, name="segment_embedding")(inputs["segment_ids"]))
    x = keras.layers.Add(name="embeddings_add")(parts)
    x = make_norm(p, name="embeddings_norm")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
    for i in range(num_layers):
        x = make_transformer_layer(p, "bidirectional", name=f"transformer_layer_{i}")(
            x, padding_mask=inputs["padding_mask"]
        )
    if uses_final_norm(p):
        x = make_norm(p, name="final_norm")(x)
    if not use_pooler:
        return inputs, x
    pooled = _construct("first_token_pooler", get_block("first_token_pooler"), name="pooler")(x)
    return inputs, {"sequence_output": x, "pooled_output": pooled}
