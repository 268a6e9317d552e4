"""The one place where a Transformer family's sections become `transformer_stack` arguments.

Every Transformer family (GPT, Llama, BERT, the encoder-decoder, the LCMs)
has the same three sections, whose keys are the blocks' own argument names:

* `attention`: `GroupedQueryAttention` arguments (`num_heads`,
  `num_key_value_heads`, `head_dim`, `use_qkv_bias`, `use_output_bias`,
  `use_qk_norm`, `use_rotary_embedding`, `rope_layout`,
  `rope_max_wavelength`, `attention_dropout`, initializers, ...);
* `feedforward`: `type` (a registered feed-forward block) and that block's
  arguments (`intermediate_dim`, `activation`, `use_bias`, `width_factor`, ...);
* `norm`: `type` (a registered normalization block) and its arguments (`epsilon`, ...);

and the stack's own arguments at the top level (`num_layers`, `dropout`,
`norm_position`, `remat`). `stack_arguments` routes them; nothing else does.
"""

from dlzoo.parameters import chosen_by_type, routed_to
from dlzoo.plan import Plan
from dlzoo.validation import check_divides, check_positive_int

# GroupedQueryAttention arguments the Transformer layer takes as its own.
LAYER_ATTENTION_ARGUMENTS = ("num_heads", "num_key_value_heads", "head_dim", "attention_dropout")


def attention_section(reserved=(), **defaults):
    """The `attention` section: `GroupedQueryAttention` arguments (the layer sets `output_dim` and `seed`)."""
    return routed_to("grouped_query_attention", reserved=("output_dim", "seed") + tuple(reserved), **defaults)


def feedforward_section(**defaults):
    """The `feedforward` section: `type` and the feed-forward block's arguments (the width is the model's)."""
    return chosen_by_type("feedforward", reserved=("output_dim", "seed"), **defaults)


def norm_section(**defaults):
    """The `norm` section: `type` and the normalization block's arguments."""
    return chosen_by_type("normalization", reserved=("axis",), **defaults)


def check_head_width(p, width_name="hidden_dim"):
    """The rule between the model width and the attention section: heads split the width unless `head_dim` is set."""
    attention = p["attention"]
    if attention.get("head_dim") is None:
        heads = check_positive_int("attention.num_heads", attention["num_heads"])
        check_divides("attention.num_heads", heads, width_name, check_positive_int(width_name, p[width_name]))


def stack_arguments(p, num_layers, self_attention_mask, use_final_norm, **extra):
    """`transformer_stack` arguments from a family's params (`attention`, `feedforward`, `norm`, ...).

    Args:
        p: the resolved params (needs `attention`, `feedforward`, `norm`,
            `dropout` and, unless given in `extra`, `norm_position`).
        num_layers: int. Layers of this stack.
        self_attention_mask: str. `"causal"`, `"bidirectional"` or `"diagonal"`.
        use_final_norm: bool. Whether the stack ends with a norm.
        **extra: Further stack arguments (`use_cross_attention`,
            `final_dropout`, ...), and `attention_defaults` /
            `feedforward_defaults`: values the family computes (e.g.
            initializers) used where the params do not set them.
    """
    check_head_width(p)
    attention = dict(p["attention"])
    feedforward = dict(p["feedforward"])
    norm = dict(p["norm"])
    for key, value in extra.pop("attention_defaults", {}).items():
        attention.setdefault(key, value)
    for key, value in extra.pop("feedforward_defaults", {}).items():
        feedforward.setdefault(key, value)
    arguments = {k: attention.pop(k) for k in LAYER_ATTENTION_ARGUMENTS if k in attention}
    feedforward_type = feedforward.pop("type")
    arguments.update(
        num_layers=num_layers,
        intermediate_dim=feedforward.pop("intermediate_dim", None),
        feedforward=feedforward_type,
        feedforward_kwargs=feedforward or None,
        attention_kwargs=attention or None,
        norm=norm.pop("type"),
        self_attention_mask=self_attention_mask,
        dropout=p["dropout"],
        use_final_norm=use_final_norm,
    )
    if "epsilon" in norm:
        arguments["norm_epsilon"] = norm.pop("epsilon")
    arguments["norm_kwargs"] = norm or None
    if "norm_position" in p:
        arguments["norm_position"] = p["norm_position"]
    if p.get("remat"):
        arguments["remat"] = True
    arguments.update(extra)
    return arguments


def norm_block(plan: Plan, name: str, p):
    """A node for one standalone norm of the family's `norm` section (e.g. BERT's embedding norm)."""
    norm = dict(p["norm"])
    return plan.block(name, norm.pop("type"), **norm)


def token_inputs(plan: Plan):
    """`token_ids` (int32) and `padding_mask` (bool) inputs of shape `(batch, seq_len)`."""
    return plan.input("token_ids", (None,), "int32"), plan.input("padding_mask", (None,), "bool")


def add_layer_features(plan: Plan, stack: str, num_layers: int, prefix: str = "transformer_layer"):
    """Offer each layer output of `stack` as feature `f"{prefix}_{i}"` (read by `features_only`)."""
    for i in range(num_layers):
        plan.add_feature(f"{prefix}_{i}", None, hidden_state_of=stack, layer=i)


def decoder_plan(p, learned_positions: bool, use_position_ids: bool = False) -> Plan:
    """A decoder-only language model: token (+ learned position) embeddings, a causal stack, an LM head.

    Outputs `logits` (the token embedding in reverse when
    `tie_embeddings=True`, else an untied `lm_head` without bias), or the
    hidden states when `use_lm_head=False`. With `use_position_ids` the
    learned positions are read from an int32 input `position_ids`
    `(batch, seq_len)` instead of counting from 0.
    """
    plan = Plan()
    token_ids, padding_mask = token_inputs(plan)
    embedding = plan.block(
        "token_embedding", "token_embedding", vocabulary_size=p["vocabulary_size"], hidden_dim=p["hidden_dim"]
    )
    x = embedding(token_ids)
    if learned_positions:
        position_ids = {"position_ids": plan.input("position_ids", (None,), "int32")} if use_position_ids else {}
        positions = plan.block(
            "position_embedding", "learned_position_embedding", max_sequence_length=p["max_sequence_length"]
        )(x, **position_ids)
        x = plan.block("embeddings_add", "add")([x, positions])
    if p["dropout"] > 0:
        x = plan.block("embeddings_dropout", "dropout", rate=p["dropout"])(x)
    plan.add_feature("embeddings", x)
    arguments = stack_arguments(p, p["num_layers"], "causal", use_final_norm=p["norm_position"] == "pre")
    x = plan.block("decoder", "transformer_stack", **arguments)(x, padding_mask=padding_mask)
    add_layer_features(plan, "decoder", p["num_layers"])
    plan.add_feature("sequence_output", x)
    if not p["use_lm_head"]:
        plan.set_outputs(x, name="hidden_states")
    elif p["tie_embeddings"]:
        plan.set_outputs(embedding(x, reverse=True), name="logits")
    else:
        plan.set_outputs(plan.block("lm_head", "dense", units=p["vocabulary_size"], use_bias=False)(x), name="logits")
    return plan


__all__ = [
    "add_layer_features",
    "check_head_width",
    "attention_section",
    "decoder_plan",
    "feedforward_section",
    "norm_block",
    "norm_section",
    "stack_arguments",
    "token_inputs",
]
