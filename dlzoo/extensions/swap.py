"""Swap one technique for another in a model's config (and, on a built model, keep the weights that fit)."""

from dlzoo import configs
from dlzoo.extensions.base import Extension
from dlzoo.registry import BLOCKS, did_you_mean, get_block, init_arguments, register_extension
from dlzoo.validation import check_positive_int

NAME = "swap"

# Attention variants, told apart by `attention.num_key_value_heads`.
MHA, GQA, MQA = "multi_head_attention", "grouped_query_attention", "multi_query_attention"
ATTENTION_KINDS = (MHA, GQA, MQA)


def _attention_kind(attention):
    heads, kv = attention.get("num_heads"), attention.get("num_key_value_heads")
    if kv is None or kv == heads:
        return MHA
    if kv == 1:
        return MQA
    return GQA


def _block_leaves(params):
    """Dotted param name -> value, for every leaf naming a registered block."""
    return {k: v for k, v in configs.flatten(params).items() if isinstance(v, str) and v in BLOCKS}


def techniques(params):
    """The techniques of a params dict that `swap` can replace (block names and the attention kind)."""
    found = sorted(set(_block_leaves(params).values()))
    if isinstance(params.get("attention"), dict) and "num_heads" in params["attention"]:
        found.append(_attention_kind(params["attention"]))
    return found


def _node(params, dotted):
    node = params
    for part in dotted.split(".")[:-1]:
        node = node[part]
    return node


@register_extension(NAME, paper=None, repeatable=True)
class Swap(Extension):
    """Replace one technique of a model by another, e.g. LayerNorm -> RMSNorm or MHA -> GQA.

    A config transform. `old` and `new` are registered block names of the
    same role (`"layer_norm"` -> `"rms_norm"`, `"mlp"` -> `"swiglu"`): every
    param naming `old` (or only `param`, a dotted name) is set to `new`; a
    setting of the same section the new block does not take (the MLP's
    `activation` for SwiGLU) is dropped. Or they are attention variants,
    `"multi_head_attention"`, `"grouped_query_attention"` (give
    `num_key_value_heads`) or `"multi_query_attention"`, which set
    `attention.num_key_value_heads`. `params` then overrides any param
    (dotted names), e.g. `{"feedforward.intermediate_dim": 172}`.

    On a built model, `dlzoo.apply_extension(model, "swap", old=..., new=...)`
    rebuilds it and copies every weight whose path and shape still fit;
    `new_model.extension_report` lists the new model's weights that were
    kept and re-initialized, and the old model's weights that were dropped
    (e.g. LayerNorm biases after `layer_norm` -> `rms_norm`).

    Args:
        old: str. The technique to replace (see `techniques(params)`).
        new: str. Its replacement.
        num_key_value_heads: int. Key/value heads for
            `new="grouped_query_attention"`. Defaults to `None`.
        param: str. Dotted name of the only param to change (e.g.
            `"norm.type"`). Defaults to `None` (every param naming `old`).
        params: dict. Further param overrides (dotted names) applied after
            the swap. Defaults to `None`.

    Example:

    >>> model = dlzoo.build("gpt-tiny")
    >>> swapped = dlzoo.apply_extension(model, "swap", old="layer_norm", new="rms_norm")
    >>> sorted(swapped.extension_report)
    ['dropped', 'kept', 'reinitialized']

    Reference:
        - No paper: the techniques swapped cite theirs (RMSNorm arXiv:1910.07467, GQA arXiv:2305.13245, SwiGLU arXiv:2002.05202).
    """

    def __init__(self, old, new, num_key_value_heads=None, param=None, params=None):
        for name, value in (("old", old), ("new", new)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"`{name}` must be a technique name (a string). Received: {name}={value!r}.")
        if old == new:
            raise ValueError(f"`old` and `new` must differ. Received: old={old!r}, new={new!r}.")
        self.old, self.new = old, new
        attention = (old in ATTENTION_KINDS, new in ATTENTION_KINDS)
        if attention[0] != attention[1]:
            raise ValueError(
                "An attention variant can only be swapped for another one "
                f"({', '.join(ATTENTION_KINDS)}). Received: old={old!r}, new={new!r}."
            )
        if not attention[0]:
            for name, value in (("old", old), ("new", new)):
                if value not in BLOCKS:
                    raise ValueError(
                        f"`{name}` must be a registered block or an attention variant "
                        f"({', '.join(ATTENTION_KINDS)}). Received: {name}={value!r}."
                        + did_you_mean(value, list(BLOCKS.names()) + list(ATTENTION_KINDS))
                    )
            old_role, new_role = BLOCKS.get(old).category, BLOCKS.get(new).category
            if old_role != new_role:
                raise ValueError(
                    f"`old` and `new` must play the same role. Received: old={old!r} ({old_role}), "
                    f"new={new!r} ({new_role})."
                )
        self.num_key_value_heads = check_positive_int("num_key_value_heads", num_key_value_heads, allow_none=True)
        if (new == GQA) != (self.num_key_value_heads is not None):
            raise ValueError(
                "`num_key_value_heads` is needed exactly when new='grouped_query_attention'. "
                f"Received: new={new!r}, num_key_value_heads={num_key_value_heads!r}."
            )
        if param is not None and (not isinstance(param, str) or not param):
            raise TypeError(f"`param` must be a dotted param name. Received: param={param!r}.")
        self.param = param
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"`params` must be a dict of dotted param names to values. Received: params={params!r}.")
        self.params = params

    def apply_config(self, config):
        params = config["params"]
        if self.old in ATTENTION_KINDS:
            self._swap_attention(params, config.get("name"))
        else:
            self._swap_block(params, config.get("name"))
        if self.params:
            config["params"] = configs.deep_merge(params, configs.nest_overrides(self.params))
        return config

    def _swap_attention(self, params, model_name):
        attention = params.get("attention")
        if not isinstance(attention, dict) or "num_heads" not in attention:
            raise ValueError(
                f"Extension {NAME!r}: model {model_name!r} has no `attention.num_key_value_heads` param, so its "
                f"attention variant cannot be swapped. Received: old={self.old!r}."
            )
        current = _attention_kind(attention)
        if current != self.old:
            raise ValueError(
                f"Extension {NAME!r}: model {model_name!r} uses {current} "
                f"(attention.num_key_value_heads={attention.get('num_key_value_heads')!r}, "
                f"attention.num_heads={attention.get('num_heads')!r}), not {self.old}. Received: old={self.old!r}."
            )
        attention["num_key_value_heads"] = {MHA: None, MQA: 1, GQA: self.num_key_value_heads}[self.new]

    def _swap_block(self, params, model_name):
        leaves = _block_leaves(params)
        targets = [k for k, v in leaves.items() if v == self.old and (self.param is None or k == self.param)]
        if not targets:
            where = f" at {self.param!r}" if self.param else ""
            raise ValueError(
                f"Extension {NAME!r}: model {model_name!r} has no {self.old!r}{where} to swap. "
                f"Received: old={self.old!r}. Its techniques: {', '.join(techniques(params)) or 'none'}."
            )
        new_args = set(init_arguments(get_block(self.new)))
        for dotted in targets:
            node = _node(params, dotted)
            leaf = dotted.split(".")[-1]
            node[leaf] = self.new
            if leaf == "type":
                # A section (`{"type": ..., <block arguments>}`): keep what the new block takes.
                for key in [k for k in node if k != "type" and k not in new_args]:
                    del node[key]
