"""Configs, presets and `.keras` files written by dlzoo 0.1, read by today's code.

dlzoo 0.1 named some settings differently (`attention.use_bias`,
`attention.dropout`, `norm.position`, `options` sub-dicts) and built GPT,
Llama and BERT as a loop of top-level `transformer_layer`s instead of one
`transformer_stack`. Two things make its files load unchanged:

* `migrate_params` rewrites an old params dict in today's vocabulary
  (pure Python; `is_legacy` tells when it is needed);
* `legacy_weight_path` maps a weight path of today's model to the path the
  same weight had in a 0.1 `.keras` file, and `merge_legacy_lora` folds a
  0.1 LoRA adapter into its kernel (today LoRA is Keras' own `enable_lora`).

Nothing else in dlzoo knows about 0.1.
"""

import copy
import re
import warnings
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

#: Old dotted name -> what replaced it (for error messages and migration notes).
RENAMED = {
    "attention.use_bias": "`attention.use_qkv_bias` and `attention.use_output_bias`",
    "attention.dropout": "`attention.attention_dropout`",
    "attention.options": "the same keys directly under `attention`",
    "feedforward.options": "the same keys directly under `feedforward`",
    "norm.position": "`norm_position`",
    "sonar_embed_dim": "`embedding_dim`",
}

TRANSFORMER_FAMILIES = ("gpt", "llama", "bert")
LCM_FAMILIES = ("base_lcm", "two_tower_lcm")
_GATED = ("gated_linear_unit", "swiglu", "geglu")


def renamed_hint(name: str) -> str:
    """`" It was renamed: use ..."` for a dotted parameter name dlzoo 0.1 used, else `""`."""
    if name in RENAMED:
        return f" It was renamed in dlzoo 0.2: use {RENAMED[name]}."
    return ""


def is_legacy(params: Mapping[str, Any]) -> bool:
    """Whether a params dict uses dlzoo 0.1 names."""
    if not isinstance(params, Mapping):
        return False
    attention = params.get("attention") if isinstance(params.get("attention"), Mapping) else {}
    feedforward = params.get("feedforward") if isinstance(params.get("feedforward"), Mapping) else {}
    norm = params.get("norm") if isinstance(params.get("norm"), Mapping) else {}
    return bool(
        {"use_bias", "dropout", "options"} & set(attention)
        or "options" in feedforward
        or ("activation" in feedforward and feedforward["activation"] is None)
        or "position" in norm
        or "sonar_embed_dim" in params
        or ("model_dim" in params and params["model_dim"] is None)
    )


def migrate_params(model: str, params: Mapping[str, Any]) -> Dict[str, Any]:
    """A dlzoo 0.1 params dict (complete or partial) in today's names, same model.

    Args:
        model: str. The family (`"gpt"`, `"base_lcm"`, ...).
        params: dict. Parameters as a 0.1 config or resolved config holds them.
    """
    p = copy.deepcopy(dict(params))
    attention = p.get("attention")
    if isinstance(attention, dict):
        attention.update(attention.pop("options", None) or {})
        if "use_bias" in attention:
            bias = attention.pop("use_bias")
            attention.setdefault("use_qkv_bias", bias)
            attention.setdefault("use_output_bias", bias)
        if "dropout" in attention:
            attention["attention_dropout"] = attention.pop("dropout")
        for key in ("num_key_value_heads", "head_dim"):
            if key in attention and attention[key] is None:
                del attention[key]
    feedforward = p.get("feedforward")
    if isinstance(feedforward, dict):
        feedforward.update(feedforward.pop("options", None) or {})
        if "activation" in feedforward and feedforward["activation"] is None:
            del feedforward["activation"]
        if feedforward.get("type", "swiglu") not in _GATED:
            if feedforward.get("width_factor", 1.0) == 1.0 and feedforward.get("multiple_of", 1) == 1:
                feedforward.pop("width_factor", None)
                feedforward.pop("multiple_of", None)
    norm = p.get("norm")
    if isinstance(norm, dict) and "position" in norm:
        position = norm.pop("position")
        if model not in LCM_FAMILIES:  # the LCMs are pre-norm by construction
            p.setdefault("norm_position", position)
    for alias, name in (("model_dim", "hidden_dim"), ("sonar_embed_dim", "embedding_dim")):
        if alias in p:
            value = p.pop(alias)
            if value is not None:
                p[name] = value
    return p


def warn_migrated(where: str) -> None:
    warnings.warn(
        f"{where} uses dlzoo 0.1 parameter names ({', '.join(sorted(RENAMED))}); they were converted to "
        "today's names. Save the model or config again to update it.",
        FutureWarning,
        stacklevel=3,
    )


# ----------------------------------------------------------------- weights
_LAYER = re.compile(r"^layers/transformer_layer(_\d+)?/(.*)$")


def legacy_weight_path(model: str, params: Mapping[str, Any], path: str, top_norms: List[str]) -> str:
    """The path in a dlzoo 0.1 `.keras` weights file of the weight at `path` in today's model.

    Only GPT, Llama and BERT changed layout: their layers moved into one
    `transformer_stack`, and the final norm into the stack.

    Args:
        model: str. The family.
        params: dict. Today's params (for `norm_position`).
        path: str. A weight path of today's file (`layers/<layer>/.../vars/<i>`).
        top_norms: list of str. The 0.1 file's top-level norm layer keys
            (`"layer_norm"`, `"rms_norm_1"`, ...) in file order.

    Returns:
        The 0.1 path, or `None` for a weight the 0.1 model did not have
        (the stack's final norm of a `features_only` model, unused by its outputs).
    """
    if model not in TRANSFORMER_FAMILIES:
        return path
    prefix = "layers/transformer_stack/"
    if path.startswith(prefix + "transformer_layers/"):
        return "layers/" + path[len(prefix + "transformer_layers/"):]
    if path.startswith(prefix + "final_norm/"):
        if not top_norms:  # a `features_only` model: the final norm was not part of it
            return None
        return f"layers/{top_norms[-1]}/" + path[len(prefix + "final_norm/"):]
    return path


def merge_legacy_lora(kernel, lora_a, lora_b, rank: int, alpha: Optional[float]):
    """A 0.1 LoRA adapter folded into its kernel: `W + (alpha / rank) A B`, reshaped to `W`'s shape.

    Arrays are NumPy. 0.1 stored `A` as `(in_features, rank)` and `B` as
    `(rank, out_features)` over the kernel's input and output axes.
    """
    scale = (rank if alpha is None else alpha) / rank
    delta = (np.asarray(lora_a, dtype="float64") @ np.asarray(lora_b, dtype="float64")) * scale
    return (np.asarray(kernel, dtype="float64") + delta.reshape(kernel.shape)).astype(kernel.dtype)


__all__ = [
    "RENAMED",
    "is_legacy",
    "legacy_weight_path",
    "merge_legacy_lora",
    "migrate_params",
    "renamed_hint",
    "warn_migrated",
]
