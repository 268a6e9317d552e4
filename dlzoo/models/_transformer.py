"""Glue shared by the Transformer families (`gpt`, `llama`, `bert`).

Private: the parameter checks, the construction of the registered blocks
from a family's (nested) parameters, the exact parameter count from unbuilt
blocks, and the activation-memory estimate. The assemblers in `gpt.py`,
`llama.py` and `bert.py` only choose defaults and wire the graph.

Family parameters (dotted names address the nested ones):

* `vocabulary_size`, `hidden_dim`, `num_layers`, `max_sequence_length`,
  `dropout` (embedding and residual dropout);
* `attention.*`: `num_heads`, `num_key_value_heads` (`None` = `num_heads`),
  `head_dim` (`None` = `hidden_dim / num_heads`), `use_bias` (q/k/v and
  output projections), `dropout` (on attention probabilities), `use_qk_norm`,
  RoPE settings where the family uses RoPE, and `options` (any further
  `grouped_query_attention` argument);
* `feedforward.*`: `type` (a registered feed-forward block), `intermediate_dim`,
  `activation` (`None` = the block's own), `use_bias`, `options` (further
  constructor arguments of the block);
* `norm.*`: `type` (a registered normalization block), `epsilon`, `position`
  (`"pre"` or `"post"`).
"""

import inspect

from dlzoo.registry import BLOCKS, close_matches, get_block, init_arguments
from dlzoo.validation import (
    check_choice,
    check_divides,
    check_float,
    check_positive_int,
    check_rate,
)

NORM_POSITIONS = ("pre", "post")
ROPE_LAYOUTS = ("interleaved", "rotate_half")


# ------------------------------------------------------------------ checks
def _check_block_type(name, value, category):
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be the registered name of a {category} block. "
            f"Received: {name}={value!r} of type {type(value).__name__}."
        )
    allowed = [e.name for e in BLOCKS.entries() if e.category == category]
    if value not in allowed:
        matches = close_matches(value, allowed)
        hint = (" Did you mean " + " or ".join(repr(m) for m in matches) + "?") if matches else ""
        raise ValueError(
            f"`{name}` must name a registered {category} block.{hint} "
            f"Received: {name}={value!r}. Allowed: {', '.join(repr(a) for a in allowed)}."
        )
    return get_block(value)


def _required_args(cls, provided=()):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [
        p.name
        for p in params
        if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in provided
    ]


def check_norm_type(name, value):
    """A registered normalization block that needs no argument but `epsilon` (e.g. not `ada_ln_zero`)."""
    norm_cls = _check_block_type(name, value, "normalization")
    if _required_args(norm_cls):
        raise ValueError(
            f"`{name}` must be a normalization block with no required arguments; {value!r} needs "
            f"{', '.join(_required_args(norm_cls))}. Received: {name}={value!r}."
        )
    return norm_cls


def resolved_head_dim(p):
    att = p["attention"]
    return att["head_dim"] if att["head_dim"] is not None else p["hidden_dim"] // att["num_heads"]


def validate_transformer(p, rotary=False):
    """Cross-parameter checks of a Transformer family (before any block exists)."""
    check_positive_int("vocabulary_size", p["vocabulary_size"])
    d = check_positive_int("hidden_dim", p["hidden_dim"])
    check_positive_int("num_layers", p["num_layers"])
    check_positive_int("max_sequence_length", p["max_sequence_length"])
    check_rate("dropout", p["dropout"])

    att = p["attention"]
    h = check_positive_int("attention.num_heads", att["num_heads"])
    kv = check_positive_int("attention.num_key_value_heads", att["num_key_value_heads"], allow_none=True)
    if kv is not None:
        check_divides("attention.num_key_value_heads", kv, "attention.num_heads", h)
    head_dim = check_positive_int("attention.head_dim", att["head_dim"], allow_none=True)
    if head_dim is None:
        check_divides("attention.num_heads", h, "hidden_dim", d)
        head_dim = d // h
    check_rate("attention.dropout", att["dropout"])
    if rotary:
        check_float("attention.rope_max_wavelength", att["rope_max_wavelength"], min_value=0.0, min_inclusive=False)
        check_choice("attention.rope_layout", att["rope_layout"], ROPE_LAYOUTS)
        if head_dim % 2:
            raise ValueError(
                "Rotary position embedding rotates pairs of features, so the head size must be even "
                "(`attention.head_dim`, or `hidden_dim` / `attention.num_heads`). "
                f"Received: attention.head_dim={att['head_dim']!r}, hidden_dim={d}, "
                f"attention.num_heads={h} (head size {head_dim})."
            )

    ff = p["feedforward"]
    check_positive_int("feedforward.intermediate_dim", ff["intermediate_dim"])
    ff_cls = _check_block_type("feedforward.type", ff["type"], "feedforward")
    ff_args = init_arguments(ff_cls)
    if ff["activation"] is not None:
        if not isinstance(ff["activation"], str):
            raise TypeError(
                "`feedforward.activation` must be an activation name or None. "
                f"Received: feedforward.activation={ff['activation']!r} of type {type(ff['activation']).__name__}."
            )
        if "activation" not in ff_args:
            raise ValueError(
                f"`feedforward.activation` cannot be set for `feedforward.type`={ff['type']!r}: that block "
                "fixes its own activation. Set feedforward.activation=None. "
                f"Received: feedforward.type={ff['type']!r}, feedforward.activation={ff['activation']!r}."
            )
    missing = _required_args(ff_cls, provided=("intermediate_dim",) + tuple(ff["options"]))
    if missing:
        raise ValueError(
            f"`feedforward.type`={ff['type']!r} needs {', '.join(missing)} in `feedforward.options`. "
            f"Received: feedforward.options={ff['options']!r}."
        )

    norm = p["norm"]
    check_norm_type("norm.type", norm["type"])
    check_float("norm.epsilon", norm["epsilon"], min_value=0.0)
    check_choice("norm.position", norm["position"], NORM_POSITIONS)


# ---------------------------------------------------------------- blocks
def _construct(label, cls, **kwargs):
    """Instantiate a block; its own argument errors are re-raised with the family context."""
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{label}: {exc}") from None


def transformer_layer_kwargs(p, self_attention_mask, rotary=False):
    """Constructor arguments of one `transformer_layer` block from family params."""
    att, ff, norm = p["attention"], p["feedforward"], p["norm"]
    attention_kwargs = {"use_qkv_bias": att["use_bias"], "use_output_bias": att["use_bias"]}
    if "use_qk_norm" in att:
        attention_kwargs["use_qk_norm"] = att["use_qk_norm"]
    if rotary:
        attention_kwargs.update(
            use_rotary_embedding=True,
            rope_layout=att["rope_layout"],
            rope_max_wavelength=float(att["rope_max_wavelength"]),
        )
    attention_kwargs.update(att.get("options") or {})
    ff_args = init_arguments(get_block(ff["type"]))
    feedforward_kwargs = {}
    if "use_bias" in ff_args:
        feedforward_kwargs["use_bias"] = ff["use_bias"]
    if ff["activation"] is not None:
        feedforward_kwargs["activation"] = ff["activation"]
    feedforward_kwargs.update(ff.get("options") or {})
    return dict(
        num_heads=att["num_heads"],
        intermediate_dim=ff["intermediate_dim"],
        num_key_value_heads=att["num_key_value_heads"],
        head_dim=att["head_dim"],
        norm=norm["type"],
        norm_epsilon=float(norm["epsilon"]),
        norm_position=norm["position"],
        feedforward=ff["type"],
        feedforward_kwargs=feedforward_kwargs,
        attention_kwargs=attention_kwargs,
        self_attention_mask=self_attention_mask,
        dropout=float(p["dropout"]),
        attention_dropout=float(att["dropout"]),
    )


def make_transformer_layer(p, self_attention_mask, rotary=False, name=None):
    return _construct(
        "transformer_layer",
        get_block("transformer_layer"),
        name=name,
        **transformer_layer_kwargs(p, self_attention_mask, rotary),
    )


def make_norm(p, name=None):
    norm = p["norm"]
    cls = get_block(norm["type"])
    kwargs = {"name": name}
    if "epsilon" in init_arguments(cls):
        kwargs["epsilon"] = float(norm["epsilon"])
    return _construct(f"norm {norm['type']!r}", cls, **kwargs)


def make_token_embedding(vocabulary_size, hidden_dim, name):
    return _construct("token_embedding", get_block("token_embedding"), vocabulary_size=vocabulary_size, hidden_dim=hidden_dim, name=name)


def make_position_embedding(p, name="position_embedding"):
    return _construct(
        "learned_position_embedding",
        get_block("learned_position_embedding"),
        max_sequence_length=p["max_sequence_length"],
        name=name,
    )


def uses_final_norm(p):
    """Pre-norm stacks end with a norm; post-norm ones are already normalized."""
    return p["norm"]["position"] == "pre"


def blocks_used(p, rotary=False, extra=()):
    """Registered blocks a Transformer family model is made of (first use order)."""
    names = ["token_embedding"]
    names += [b for b in extra if b != "first_token_pooler"]
    names += ["transformer_layer", "grouped_query_attention"]
    if rotary:
        names.append("rotary_embedding")
    att = p["attention"]
    if att.get("use_qk_norm") or (att.get("options") or {}).get("use_qk_norm"):
        names.append((att.get("options") or {}).get("qk_norm", "rms_norm"))
    names += [p["norm"]["type"], p["feedforward"]["type"]]
    if "first_token_pooler" in extra:
        names.append("first_token_pooler")
    unique = []
    for n in names:
        if n not in unique:
            unique.append(n)
    return unique


def activation_elements(p, batch_size, sequence_length, logits=True):
    """Activation elements kept for the backward pass (Korthikanti et al., 2022).

    Per layer `s*b*h*(34/2) + (5/2)*a*s^2*b` elements: the paper's
    `34*s*b*h + 5*a*s^2*b` bytes for 16-bit activations, divided by two bytes
    per element. Plus the embeddings (`s*b*h`) and, with an LM head, the
    logits (`s*b*V`).
    """
    s, b = int(sequence_length), int(batch_size)
    h = p["hidden_dim"]
    a = p["attention"]["num_heads"]
    per_layer = 17 * s * b * h + 2.5 * a * s * s * b
    total = p["num_layers"] * per_layer + s * b * h
    if logits:
        total += s * b * p["vocabulary_size"]
    return int(total)


def hidden_shape(p):
    return (None, None, p["hidden_dim"])


# ------------------------------------------------------------ decoder LMs
def decoder_inputs():
    import keras

    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="bool", name="padding_mask"),
    }


def assemble_decoder(p, learned_positions, rotary):
    """`(inputs, outputs)` of a decoder-only language model.

    token ids -> token embedding (+ learned positions) -> dropout ->
    `num_layers` causal `transformer_layer`s -> final norm (pre-norm) ->
    LM head: the token embedding in reverse (`tie_embeddings=True`) or an
    untied `Dense` without bias; hidden states when `use_lm_head=False`.
    """
    import keras

    inputs = decoder_inputs()
    embedding = make_token_embedding(p["vocabulary_size"], p["hidden_dim"], name="token_embedding")
    x = embedding(inputs["token_ids"])
    if learned_positions:
        positions = make_position_embedding(p)(x)
        x = keras.layers.Add(name="embeddings_add")([x, positions])
    if p["dropout"] > 0:
        x = keras.layers.Dropout(p["dropout"], name="embeddings_dropout")(x)
    for i in range(p["num_layers"]):
        layer = make_transformer_layer(p, "causal", rotary, name=f"transformer_layer_{i}")
        x = layer(x, padding_mask=inputs["padding_mask"])
    if uses_final_norm(p):
        x = make_norm(p, name="final_norm")(x)
    if p["use_lm_head"]:
        if p["tie_embeddings"]:
            x = embedding(x, reverse=True)
        else:
            x = keras.layers.Dense(p["vocabulary_size"], use_bias=False, name="lm_head")(x)
    return inputs, x


def count_decoder(p, learned_positions, rotary):
    """Exact parameter count of `assemble_decoder` from unbuilt blocks."""
    shape = hidden_shape(p)
    d, v = p["hidden_dim"], p["vocabulary_size"]
    total = make_token_embedding(v, d, name="count").count_params_for((None, None))
    if learned_positions:
        total += make_position_embedding(p, name="count").count_params_for(shape)
    layer = make_transformer_layer(p, "causal", rotary, name="count")
    total += p["num_layers"] * layer.count_params_for(shape)
    if uses_final_norm(p):
        total += make_norm(p, name="count").count_params_for(shape)
    if p["use_lm_head"] and not p["tie_embeddings"]:
        total += d * v
    return int(total)
