"""Parameter handling shared by the two LCM families (private).

Family parameters (dotted names address the nested ones):

* `embedding_dim` (the reference's `sonar_embed_dim`: 1024 for SONAR, 384 for
  MiniLM), `hidden_dim` (`model_dim`), `max_sequence_length` (`max_seq_len`),
  `dropout` (`dropout_p`), `final_dropout` (`final_dropout_p`), `position`
  (`pos_embedding_style`: `"rope"`, `"learned"`, `"sine"` or `"none"`) and
  `position_initializer_stddev` (`embedding_std`);
* `attention.*`: `num_heads`, `num_key_value_heads` (`None` = multi-head),
  `head_dim` (`None` = `hidden_dim / num_heads`), `use_qkv_bias` (always
  `True` in the reference), `use_output_bias` (`mha_output_proj_bias`),
  `dropout` (`attention_dropout_p`), `rope_max_wavelength` (`rope_theta`),
  `rope_layout` (`"interleaved"`, fairseq2's), `options` (any further
  `grouped_query_attention` argument);
* `feedforward.*`: `type` (`"swiglu"` for `use_swiglu=True`, `"mlp"` with
  `activation: relu` otherwise), `intermediate_dim` (`ffn_inner_dim`),
  `activation`, `use_bias`, `width_factor` and `multiple_of` (the GLU width
  rounding, 2/3 and 256 in the reference), `options`;
* `norm.*`: `type` (`"rms_norm"` or `"layer_norm"`), `epsilon`, `position`
  (`"pre"`; the reference asserts pre-norm for the denoiser).

`model_dim` and `sonar_embed_dim` are accepted as the reference's names:
when set (not `None`) they take precedence over `hidden_dim` and
`embedding_dim`.
"""

import copy

from dlzoo.models._transformer import _check_block_type, _construct, _required_args, check_norm_type
from dlzoo.models.lcm import _initializers as inits
from dlzoo.registry import get_block, init_arguments
from dlzoo.validation import (
    check_bool,
    check_choice,
    check_divides,
    check_float,
    check_positive_int,
    check_rate,
)

POSITIONS = ("rope", "learned", "sine", "none")
ROPE_LAYOUTS = ("interleaved", "rotate_half")
NORM_POSITIONS = ("pre",)

ATTENTION_DEFAULTS = {
    "num_heads": 16,
    "num_key_value_heads": None,
    "head_dim": None,
    "use_qkv_bias": True,
    "use_output_bias": True,
    "dropout": 0.0,
    "rope_max_wavelength": 10000.0,
    "rope_layout": "interleaved",
    "options": {},
}
FEEDFORWARD_DEFAULTS = {
    "type": "swiglu",
    "intermediate_dim": 8192,
    "activation": None,
    "use_bias": True,
    "width_factor": 2.0 / 3.0,
    "multiple_of": 256,
    "options": {},
}
NORM_DEFAULTS = {"type": "rms_norm", "epsilon": 1e-5, "position": "pre"}


def with_defaults(params, defaults):
    """`defaults` deep-updated with `params`, aliases applied (`model_dim`, `sonar_embed_dim`)."""
    p = copy.deepcopy(defaults)
    for key, value in params.items():
        if isinstance(value, dict) and isinstance(p.get(key), dict):
            p[key].update(copy.deepcopy(value))
        else:
            p[key] = copy.deepcopy(value)
    if p.get("model_dim") is not None:
        p["hidden_dim"] = p["model_dim"]
    if p.get("sonar_embed_dim") is not None:
        p["embedding_dim"] = p["sonar_embed_dim"]
    return p


def head_dim_of(p):
    att = p["attention"]
    return att["head_dim"] if att["head_dim"] is not None else p["hidden_dim"] // att["num_heads"]


# ------------------------------------------------------------------ checks
def validate_common(p):
    """Range and combination checks shared by both families (before any block exists)."""
    check_positive_int("embedding_dim", p["embedding_dim"])
    check_positive_int("model_dim", p.get("model_dim"), allow_none=True)
    check_positive_int("sonar_embed_dim", p.get("sonar_embed_dim"), allow_none=True)
    d = check_positive_int("hidden_dim", p["hidden_dim"])
    check_positive_int("max_sequence_length", p["max_sequence_length"])
    check_rate("dropout", p["dropout"])
    check_rate("final_dropout", p["final_dropout"])
    check_choice("position", p["position"], POSITIONS)
    check_float("position_initializer_stddev", p["position_initializer_stddev"], min_value=0.0, min_inclusive=False)

    att = p["attention"]
    h = check_positive_int("attention.num_heads", att["num_heads"])
    kv = check_positive_int("attention.num_key_value_heads", att["num_key_value_heads"], allow_none=True)
    if kv is not None:
        check_divides("attention.num_key_value_heads", kv, "attention.num_heads", h)
    head_dim = check_positive_int("attention.head_dim", att["head_dim"], allow_none=True)
    if head_dim is None:
        check_divides("attention.num_heads", h, "hidden_dim", d)
        head_dim = d // h
    check_bool("attention.use_qkv_bias", att["use_qkv_bias"])
    check_bool("attention.use_output_bias", att["use_output_bias"])
    check_rate("attention.dropout", att["dropout"])
    check_float("attention.rope_max_wavelength", att["rope_max_wavelength"], min_value=0.0, min_inclusive=False)
    check_choice("attention.rope_layout", att["rope_layout"], ROPE_LAYOUTS)
    if p["position"] == "rope" and head_dim % 2:
        raise ValueError(
            "Rotary position embedding rotates pairs of features, so the head size must be even. "
            f"Received: position='rope', hidden_dim={d}, attention.num_heads={h} (head size {head_dim})."
        )

    ff = p["feedforward"]
    check_positive_int("feedforward.intermediate_dim", ff["intermediate_dim"])
    ff_cls = _check_block_type("feedforward.type", ff["type"], "feedforward")
    args = init_arguments(ff_cls)
    check_bool("feedforward.use_bias", ff["use_bias"])
    check_float("feedforward.width_factor", ff["width_factor"], min_value=0.0, min_inclusive=False)
    check_positive_int("feedforward.multiple_of", ff["multiple_of"])
    if "width_factor" not in args and (float(ff["width_factor"]) != 1.0 or int(ff["multiple_of"]) != 1):
        raise ValueError(
            f"`feedforward.width_factor` / `feedforward.multiple_of` apply to gated feed-forward blocks only; "
            f"`feedforward.type`={ff['type']!r} takes neither. Set width_factor=1.0 and multiple_of=1. "
            f"Received: feedforward.width_factor={ff['width_factor']!r}, feedforward.multiple_of={ff['multiple_of']!r}."
        )
    missing = _required_args(ff_cls, provided=("intermediate_dim",) + tuple(ff.get("options") or {}))
    if missing:
        raise ValueError(
            f"`feedforward.type`={ff['type']!r} needs {', '.join(missing)} in `feedforward.options`. "
            f"Received: feedforward.options={ff.get('options')!r}."
        )
    if ff["activation"] is not None and "activation" not in args:
        raise ValueError(
            f"`feedforward.activation` cannot be set for `feedforward.type`={ff['type']!r}: that block "
            f"fixes its own activation. Received: feedforward.activation={ff['activation']!r}."
        )
    norm = p["norm"]
    check_norm_type("norm.type", norm["type"])
    check_float("norm.epsilon", norm["epsilon"], min_value=0.0)
    check_choice("norm.position", norm["position"], NORM_POSITIONS)


# ---------------------------------------------------------------- blocks
def attention_kwargs(p, rotary):
    """`GroupedQueryAttention` arguments: biases, fairseq2 initializers, RoPE."""
    att = p["attention"]
    heads = att["num_heads"]
    kwargs = {
        "use_qkv_bias": bool(att["use_qkv_bias"]),
        "use_output_bias": bool(att["use_output_bias"]),
        "kernel_initializer": inits.qkv_kernel(heads, head_dim_of(p)),
        "output_kernel_initializer": inits.output_kernel(heads),
    }
    if rotary:
        kwargs.update(
            use_rotary_embedding=True,
            rope_layout=att["rope_layout"],
            rope_max_wavelength=float(att["rope_max_wavelength"]),
        )
    kwargs.update(att.get("options") or {})
    return kwargs


def feedforward_kwargs(p):
    """Feed-forward block arguments (biases, PyTorch-default initializers, GLU rounding)."""
    ff = p["feedforward"]
    args = init_arguments(get_block(ff["type"]))
    kwargs = {}
    if "use_bias" in args:
        kwargs["use_bias"] = bool(ff["use_bias"])
    if ff["activation"] is not None:
        kwargs["activation"] = ff["activation"]
    if "width_factor" in args:
        kwargs["width_factor"] = float(ff["width_factor"])
        kwargs["multiple_of"] = int(ff["multiple_of"])
    if "kernel_initializer" in args:
        kwargs["kernel_initializer"] = inits.torch_linear_kernel()
    if "bias_initializer" in args:
        # PyTorch's bias bound is 1/sqrt(fan_in): exact for the input projections
        # (fan_in = hidden_dim), approximate for the output projection.
        kwargs["bias_initializer"] = inits.torch_linear_bias(p["hidden_dim"])
    kwargs.update(ff.get("options") or {})
    return kwargs


def stack_kwargs(p, num_layers, rotary):
    """`TransformerStack` arguments of a causal pre-norm LCM decoder stack."""
    att, ff, norm = p["attention"], p["feedforward"], p["norm"]
    return dict(
        num_layers=num_layers,
        num_heads=att["num_heads"],
        intermediate_dim=ff["intermediate_dim"],
        num_key_value_heads=att["num_key_value_heads"],
        head_dim=att["head_dim"],
        norm=norm["type"],
        norm_epsilon=float(norm["epsilon"]),
        norm_position=norm["position"],
        feedforward=ff["type"],
        feedforward_kwargs=feedforward_kwargs(p),
        attention_kwargs=attention_kwargs(p, rotary),
        self_attention_mask="causal",
        dropout=float(p["dropout"]),
        attention_dropout=float(att["dropout"]),
        use_final_norm=True,
        final_dropout=float(p["final_dropout"]),
    )


def make_prenet(p, name):
    position = p["position"] if p["position"] in ("learned", "sine") else "none"
    return _construct(
        "concept_prenet",
        get_block("concept_prenet"),
        hidden_dim=p["hidden_dim"],
        position=position,
        max_sequence_length=p["max_sequence_length"],
        position_initializer_stddev=float(p["position_initializer_stddev"]),
        scale_embeddings=bool(p.get("scale_embeddings", False)),
        name=name,
    )


def make_stack(p, num_layers, name):
    return _construct(
        "transformer_stack",
        get_block("transformer_stack"),
        name=name,
        **stack_kwargs(p, num_layers, rotary=p["position"] == "rope"),
    )


def count_stack(p, num_layers):
    """Parameters of a stack: one layer's count times `num_layers`, plus the final norm."""
    kwargs = stack_kwargs(p, 1, rotary=p["position"] == "rope")
    stack = _construct("transformer_stack", get_block("transformer_stack"), name="count", **kwargs)
    shape = (None, None, p["hidden_dim"])
    layer = stack.transformer_layers[0].count_params_for(shape)
    return num_layers * layer + stack.final_norm.count_params_for(shape)


def concept_inputs(embedding_dim):
    import keras

    return {
        "embeddings": keras.Input(shape=(None, embedding_dim), dtype="float32", name="embeddings"),
        "padding_mask": keras.Input(shape=(None,), dtype="bool", name="padding_mask"),
    }


def blocks_common(p):
    names = ["concept_prenet"]
    if p["position"] == "learned":
        names.append("learned_position_embedding")
    elif p["position"] == "sine":
        names.append("sinusoidal_position_embedding")
    names += ["transformer_stack", "transformer_layer", "grouped_query_attention"]
    if p["position"] == "rope":
        names.append("rotary_embedding")
    names += [p["norm"]["type"], p["feedforward"]["type"]]
    return names


def activation_elements_common(p, batch_size, sequence_length, num_layers):
    """Korthikanti et al. (2022) per-layer activations plus the in/out concept tensors."""
    s, b = int(sequence_length), int(batch_size)
    h = p["hidden_dim"]
    a = p["attention"]["num_heads"]
    per_layer = 17 * s * b * h + 2.5 * a * s * s * b
    return int(num_layers * per_layer + 2 * s * b * p["embedding_dim"] + s * b * h)


__all__ = [
    "ATTENTION_DEFAULTS",
    "FEEDFORWARD_DEFAULTS",
    "NORM_DEFAULTS",
    "with_defaults",
    "validate_common",
    "make_prenet",
    "make_stack",
    "count_stack",
    "concept_inputs",
]
