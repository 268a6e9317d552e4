"""Layout maps generated from a model's blocks: which weight dimension is sharded on which mesh axis.

Each block says how its own weights split across devices (a *sharding rule*);
the layout of a whole model is read off its blocks, so every family, including
ones added later, gets a layout map with no per-model table:

* a rule maps a weight path *relative to the block* (a regex, e.g.
  `"(query|key|value)/kernel"`) to one entry per weight dimension: `None`
  (replicated) or a *logical dimension* (`"heads"`, `"intermediate"`,
  `"vocabulary"`, `"channels"`, ...), which the strategy places on the
  mesh's model axis;
* a block declares its rules with a `layout_rules()` method, or, for
  Keras' own layers and the blocks that predate the method, in
  `LAYOUT_RULES` here (keyed by registered block name);
* for each weight, the innermost enclosing block with a matching rule wins
  (a `Dense` has no rule of its own: the attention or feed-forward block
  around it knows whether it is an up or a down projection); a weight no
  rule covers is replicated, so a block without rules (a graph convolution,
  a norm) is simply replicated.

The weights' paths and shapes come from the model built inside
`uninitialized_variables()`: every variable is created with its shape and
path but no value, so a 7B model's layout is read in about a second without
allocating anything.

Strategies (`STRATEGIES`):

* `"data"`: every weight replicated, the batch split over the data axis;
* `"model"`: the rules' logical dimensions split over the model axis
  (tensor parallelism, Megatron-LM style: q/k/v and feed-forward up/gate
  projections by output, the attention output and down projections by
  input, embeddings by vocabulary rows, conv kernels by output channels),
  the batch over the data axis;
* `"fsdp-like"`: as `"model"`, and each weight's largest remaining
  dimension that the data axis divides is split over the data axis too
  (weights, gradients and optimizer states all sharded, as ZeRO-3/FSDP;
  XLA gathers a weight where a step needs it whole).

A dimension the model axis must divide (`STRICT`) raises a `ValueError`
when it does not; one that may stay whole (`kv_heads`, `vocabulary`,
`channels`) is replicated instead (a GQA model with 2 key/value heads
on 4 model shards keeps its key/value projections whole, as Megatron-LM
does).
"""

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlzoo.registry import did_you_mean

STRATEGIES = ("data", "model", "fsdp-like")
DATA_AXIS, MODEL_AXIS = "data", "model"

#: Logical dimensions the model axis must divide (else ValueError); the others are replicated when it does not.
STRICT = ("heads", "intermediate", "modulation", "hidden")
OPTIONAL = ("kv_heads", "vocabulary", "channels")
LOGICAL_DIMENSIONS = STRICT + OPTIONAL

_QKV = "(query|key|value)"
_ATTENTION = {
    "query/kernel": (None, "heads", None),
    "query/bias": ("heads", None),
    "(key|value)/kernel": (None, "kv_heads", None),
    "(key|value)/bias": ("kv_heads", None),
    "attention_output/kernel": ("heads", None, None),
}
_MLP = {
    "(inner|gate)_proj/kernel": (None, "intermediate"),
    "(inner|gate)_proj/bias": ("intermediate",),
    "output_proj/kernel": ("intermediate", None),
}
_CONV = {"kernel": (None, None, None, "channels"), "bias": ("channels",)}

#: Sharding rules of Keras' own layers and of dlzoo blocks, by registered block name.
LAYOUT_RULES: Dict[str, Dict[str, Tuple[Optional[str], ...]]] = {
    # Keras layers. `dense` has none: its role (up or down) is known to the block around it.
    "embedding": {"embeddings": ("vocabulary", None)},
    "conv_2d": _CONV,
    "depthwise_conv_2d": {"kernel": (None, None, "channels", None), "bias": ("channels",)},
    # dlzoo blocks.
    "grouped_query_attention": _ATTENTION,
    "mlp": _MLP,
    "gated_linear_unit": _MLP,
    "swiglu": _MLP,
    "geglu": _MLP,
    "mixture_of_experts": {
        "(inner|gate)_kernel": (None, None, "intermediate"),
        "(inner|gate)_bias": (None, "intermediate"),
        "output_kernel": (None, "intermediate", None),
    },
    "token_embedding": {"embeddings": ("vocabulary", None)},
    "ada_ln_zero": {"modulation/kernel": (None, "modulation"), "modulation/bias": ("modulation",)},
    "timestep_embedding": {"dense_1/kernel": (None, "hidden"), "dense_1/bias": ("hidden",),
                           "dense_2/kernel": ("hidden", None)},
}


@dataclass(frozen=True)
class VariableSpec:
    """One weight of a model: its path, shape, whether training updates it, and its declared rule."""

    path: str
    shape: Tuple[int, ...]
    trainable: bool
    rule: Tuple[Optional[str], ...]  # one logical dimension (or None) per weight dimension
    block: Optional[str]  # the registered block whose rule applies (None: replicated, no rule)


def _registered_names() -> Dict[type, str]:
    """`{class: registered block name}` of every registered block and Keras layer (a new block included)."""
    import dlzoo.blocks  # noqa: F401  (registers every block)
    from dlzoo.registry import BLOCKS

    return {entry.obj: entry.name for entry in BLOCKS.entries()}


def rules_of(layer) -> Dict[str, Tuple[Optional[str], ...]]:
    """A layer's sharding rules: its own `layout_rules()` if it has one, else `LAYOUT_RULES` for its block name."""
    method = getattr(layer, "layout_rules", None)
    if callable(method):
        return dict(method())
    return LAYOUT_RULES.get(_registered_names().get(type(layer)), {})


def _walk(layer, found: Dict[str, Tuple[Tuple[Optional[str], ...], str]], names: Dict[type, str]) -> None:
    """Record, for each weight under `layer`, the rule of the innermost block that has one (visited outer first)."""
    from dlzoo.compat.keras_internals import sublayers

    rules = rules_of(layer)
    if rules:
        prefix = layer.path + "/"
        for variable in layer.weights:
            if not variable.path.startswith(prefix):
                continue
            relative = variable.path[len(prefix):]
            matched = [p for p in rules if re.fullmatch(p, relative)]
            if len(matched) > 1:
                raise ValueError(
                    f"Block {type(layer).__name__}: weight {relative!r} matches several sharding rules {matched}; "
                    "each weight must match at most one."
                )
            if matched:
                axes = tuple(rules[matched[0]])
                if len(axes) != len(variable.shape):
                    raise ValueError(
                        f"Block {type(layer).__name__}: the sharding rule {matched[0]!r} -> {axes} has {len(axes)} "
                        f"entries, but {variable.path} has shape {tuple(variable.shape)}."
                    )
                unknown = [a for a in axes if a is not None and a not in LOGICAL_DIMENSIONS]
                if unknown:
                    raise ValueError(
                        f"Block {type(layer).__name__}: unknown logical dimension {unknown[0]!r} in rule "
                        f"{matched[0]!r}.{did_you_mean(unknown[0], LOGICAL_DIMENSIONS)} "
                        f"Allowed: {', '.join(LOGICAL_DIMENSIONS)}."
                    )
                found[variable.path] = (axes, names.get(type(layer), type(layer).__name__))
    for child in sublayers(layer):
        _walk(child, found, names)


def variable_specs_of_model(model) -> List[VariableSpec]:
    """Every weight of a built (or abstractly built) Keras model with the sharding rule its blocks declare."""
    names = _registered_names()
    found: Dict[str, Tuple[Tuple[Optional[str], ...], str]] = {}
    for layer in model.layers:
        _walk(layer, found, names)
    trainable = {id(v) for v in model.trainable_weights}
    specs = []
    for variable in model.weights:
        rule, block = found.get(variable.path, ((None,) * len(variable.shape), None))
        specs.append(VariableSpec(variable.path, tuple(int(d) for d in variable.shape), id(variable) in trainable,
                                  rule, block))
    return specs


@functools.lru_cache(maxsize=8)
def _specs_of_config(config_json: str) -> Tuple[VariableSpec, ...]:
    from dlzoo.compat.keras_internals import uninitialized_variables
    from dlzoo.zoo_model import build_resolved

    with uninitialized_variables():
        model = build_resolved(json.loads(config_json), check_memory=False)
    return tuple(variable_specs_of_model(model))


def variable_specs(source, extensions=None, **params) -> List[VariableSpec]:
    """The weights of a model (name, path, dict or model) with their declared rules, without allocating them."""
    import keras

    from dlzoo.inspection import config_of
    from dlzoo.zoo_model import ZooModel

    if isinstance(source, keras.Model) and not isinstance(source, ZooModel):
        return variable_specs_of_model(source)
    config = config_of(source, extensions=extensions, **params)
    return list(_specs_of_config(json.dumps(config, sort_keys=True)))


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"Unknown distribution strategy {strategy!r}.{did_you_mean(strategy, STRATEGIES)} "
            f"Allowed: {', '.join(repr(s) for s in STRATEGIES)}. Received: strategy={strategy!r}."
        )
    return strategy


def check_mesh(mesh) -> Tuple[int, int]:
    """`mesh` as a `(data, model)` pair of positive ints (ValueError naming the value otherwise)."""
    ok = (
        isinstance(mesh, (list, tuple))
        and len(mesh) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in mesh)
    )
    if not ok:
        raise ValueError(
            f"`mesh` must be a (data, model) pair of positive integers, e.g. (2, 4). Received: mesh={mesh!r}."
        )
    return int(mesh[0]), int(mesh[1])


def resolve_axes(spec: VariableSpec, mesh: Tuple[int, int], strategy: str) -> Tuple[Optional[str], ...]:
    """The mesh axis (`"data"`, `"model"` or `None`) of each dimension of one weight under `strategy`.

    Raises:
        ValueError: the model axis does not divide a `STRICT` dimension the rule shards.
    """
    data, model = mesh
    if strategy == "data":
        return (None,) * len(spec.shape)
    axes: List[Optional[str]] = []
    for i, (size, logical) in enumerate(zip(spec.shape, spec.rule)):
        if logical is None:
            axes.append(None)
        elif size % model == 0:
            axes.append(MODEL_AXIS)
        elif logical in STRICT:
            raise ValueError(
                f"The model axis of the mesh ({model} devices) must divide every dimension the layout shards on it: "
                f"{spec.path} (shape {spec.shape}, block {spec.block}) shards dimension {i} ({logical} = {size}) "
                f"on it. Choose a model axis that divides {size}. Received: mesh={mesh}."
            )
        else:
            axes.append(None)  # an optional dimension the model axis does not divide stays whole
    if strategy == "fsdp-like" and data > 1:
        free = [i for i, a in enumerate(axes) if a is None and spec.shape[i] % data == 0]
        if free:
            largest = max(free, key=lambda i: (spec.shape[i], -i))
            axes[largest] = DATA_AXIS
    return tuple(axes)


def resolved_layouts(specs: Sequence[VariableSpec], mesh, strategy: str) -> Dict[str, Tuple[Optional[str], ...]]:
    """`{weight path: mesh axes}` of every weight (replicated ones included) under `mesh` and `strategy`."""
    mesh = check_mesh(mesh)
    check_strategy(strategy)
    return {spec.path: resolve_axes(spec, mesh, strategy) for spec in specs}


_LAYER_INDEX = re.compile(r"_\d+(?=/|$)")


def layout_patterns(layouts: Dict[str, Tuple[Optional[str], ...]]) -> Dict[str, Tuple[Optional[str], ...]]:
    """The sharded weights' layouts as regex keys, one per repeated weight (`transformer_layer_\\d+/...`).

    Weights that differ only in a layer index share a key when they share a
    layout and the key matches no other weight; otherwise each keeps its
    exact path. Replicated weights get no key (a `LayoutMap` replicates
    what it does not match).
    """
    groups: Dict[str, List[str]] = {}
    for path, axes in layouts.items():
        if any(a is not None for a in axes):
            groups.setdefault(_LAYER_INDEX.sub(r"_\\d+", re.escape(path)), []).append(path)
    patterns: Dict[str, Tuple[Optional[str], ...]] = {}
    for pattern, paths in groups.items():
        covered = [p for p in layouts if re.fullmatch(pattern, p)]
        if sorted(covered) == sorted(paths) and len({layouts[p] for p in paths}) == 1:
            patterns[pattern] = layouts[paths[0]]
        else:
            patterns.update({re.escape(p): layouts[p] for p in paths})
    return patterns


def get_layout_map(device_mesh, source, strategy: str = "model", extensions=None, **params):
    """A `keras.distribution.LayoutMap` for a model on `device_mesh`, generated from its blocks' sharding rules.

    Works for every family (see the module docstring); nothing is allocated.

    Args:
        device_mesh: `keras.distribution.DeviceMesh` with axes `"data"` and
            `"model"` (as `dlzoo.distribution.device_mesh` makes).
        source: a name, path, dict or model (see `dlzoo.build`).
        strategy: str. `"model"` (default), `"fsdp-like"` or `"data"`.
        extensions: extensions to apply.
        **params: parameter overrides.

    Returns:
        `keras.distribution.LayoutMap`: regex of a weight path -> `TensorLayout`.
    """
    import keras

    names = tuple(device_mesh.axis_names)
    if names != (DATA_AXIS, MODEL_AXIS):
        raise ValueError(
            f"The device mesh's axes must be named ({DATA_AXIS!r}, {MODEL_AXIS!r}). Received: axis_names={names!r}."
        )
    mesh = tuple(int(s) for s in device_mesh.shape)
    layouts = resolved_layouts(variable_specs(source, extensions=extensions, **params), mesh, strategy)
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in layout_patterns(layouts).items():
        layout_map[pattern] = keras.distribution.TensorLayout(axes, device_mesh)
    return layout_map


def layout_table(source, mesh=None, strategy: str = "model", extensions=None, **params) -> List[Dict[str, Any]]:
    """The layout map as rows for `dlzoo describe`: pattern, mesh axes, logical rule, block, number of weights.

    With `mesh=None` the declared rules are shown as if every sharded
    dimension divided (no mesh given); with a mesh, optional dimensions the
    model axis does not divide show as replicated.
    """
    check_strategy(strategy)
    specs = variable_specs(source, extensions=extensions, **params)
    layouts = resolved_layouts(specs, mesh or (1, 1), strategy)
    by_path = {s.path: s for s in specs}
    rows = []
    for pattern, axes in layout_patterns(layouts).items():
        members = [s for p, s in by_path.items() if re.fullmatch(pattern, p)]
        rows.append({"pattern": pattern, "axes": list(axes), "rule": list(members[0].rule),
                     "block": members[0].block, "weights": len(members)})
    return rows


__all__ = [
    "LAYOUT_RULES",
    "LOGICAL_DIMENSIONS",
    "OPTIONAL",
    "STRATEGIES",
    "STRICT",
    "VariableSpec",
    "check_mesh",
    "check_strategy",
    "get_layout_map",
    "layout_patterns",
    "layout_table",
    "resolve_axes",
    "resolved_layouts",
    "rules_of",
    "variable_specs",
    "variable_specs_of_model",
]
