"""Look at a model without building it: exact parameter counts, memory estimates, descriptions, diffs.

Everything here reads the model's plan (`dlzoo.resolution.plan_of`): the
blocks are made unbuilt (no weight allocated) and each reports its own
count (`count_params_for`) and activation memory. A family of the older
assembler form answers from its own `count_params` / `activation_elements`
hooks, or is built when it has none.
"""

import copy
import functools
import json
from typing import Any, Dict, List, Optional

import keras
import numpy as np

from dlzoo import configs
from dlzoo.compat.keras_internals import sublayers
from dlzoo.construction import activation_elements, count_plan, make_layers, plan_flops
from dlzoo.extensions import make_extension
from dlzoo.flops import TRAINING_MULTIPLIER
from dlzoo.registry import BLOCKS, EXTENSIONS, MODELS
from dlzoo.resolution import plan_of, resolve
from dlzoo.validation import check_choice, check_positive_int
from dlzoo.zoo_model import ZooModel, build_resolved


@functools.lru_cache(maxsize=16)
def _unbuilt(config_json: str):
    """`(plan, unbuilt layers)` of a resolved config (cached: describing a model asks several times)."""
    plan = plan_of(json.loads(config_json))
    return plan, (None if plan is None else make_layers(plan))


def unbuilt(config: Dict[str, Any]):
    """The plan of a resolved config and its blocks, made unbuilt (`(None, None)` for an older-form assembler)."""
    return _unbuilt(json.dumps(config, sort_keys=True))


def config_of(source, extensions=None, **params) -> Dict[str, Any]:
    """The resolved config of a name, path, dict or `ZooModel` (a `ZooModel` alone is not resolved again)."""
    if isinstance(source, ZooModel) and not extensions and not params:
        return source.zoo_config
    return resolve(source, extensions=extensions, **params)


def _model_transform_counts(config, total):
    """Apply the count hooks of extensions that change the built model; `None` if one cannot count."""
    for name, kwargs in configs.normalize_extensions(config.get("extensions")):
        extension = make_extension(name, kwargs)
        if extension.changes_model:
            counted = extension.count_params(copy.deepcopy(config), total)
            if counted is None:
                return None
            total = int(counted)
    return total


def block_counts(source, extensions=None, **params) -> Dict[str, int]:
    """`{block name: exact parameter count}` of each block of the model's plan, without allocating."""
    config = config_of(source, extensions=extensions, **params)
    plan, layers = unbuilt(config)
    if plan is None:
        raise ValueError(
            f"Model family {config['model']!r} is an assembler of the older form: it has no plan to count "
            "block by block. Use dlzoo.count_params."
        )
    return count_plan(plan, layers)


def count_params(source, extensions=None, trainable_only=False, **params) -> int:
    """Exact parameter count without allocating any weight.

    Sums each block's own `count_params_for` over the model's plan, so a 7B
    model answers in milliseconds. The count is every weight the Keras model
    holds (`model.count_params()`), BatchNorm's moving statistics included;
    `trainable_only=True` leaves out the weights no gradient updates, which
    is what PyTorch and the papers call the parameters (ResNet-50:
    25,557,032). An extension that changes the built model (LoRA) counts
    itself when it can; otherwise, as for an older-form assembler without a
    count function, the model is built and counted.

    Args:
        source: a name, path, dict or model (see `dlzoo.build`).
        extensions: extensions to apply.
        trainable_only: bool. Count only the weights training updates.
            Defaults to `False`.
        **params: parameter overrides.
    """
    if isinstance(source, keras.Model) and not isinstance(source, ZooModel):
        return _count_built(source, trainable_only)
    config = config_of(source, extensions=extensions, **params)
    plan, layers = unbuilt(config)
    if plan is not None:
        total = sum(count_plan(plan, layers, trainable_only=trainable_only).values())
    else:
        count_fn = MODELS.get(config["model"]).metadata.get("count_params")
        total = None if count_fn is None else int(count_fn(**copy.deepcopy(config["params"])))
    if total is not None:
        total = _model_transform_counts(config, total)
    if total is None:
        built = source if isinstance(source, ZooModel) and not (extensions or params) else build_resolved(config)
        return _count_built(built, trainable_only)
    return int(total)


def _count_built(model, trainable_only):
    """Weights a built Keras model holds (or only its trainable ones)."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _with_image_size(config: Dict[str, Any], image_size) -> Dict[str, Any]:
    """`config` with its `image_shape` parameter set to `image_size` (an int or `(height, width)`)."""
    if image_size is None:
        return config
    pair = [image_size, image_size] if isinstance(image_size, int) and not isinstance(image_size, bool) else image_size
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise ValueError(
            f"`image_size` must be a positive integer or a (height, width) pair. Received: image_size={image_size!r}."
        )
    height, width = (check_positive_int("image_size", v) for v in pair)
    shape = config["params"].get("image_shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise ValueError(
            f"`image_size` applies to image models (an `image_shape` parameter); {config['name']!r} "
            f"({config['model']}) has none. Received: image_size={image_size!r}."
        )
    return resolve(config, image_shape=[height, width, shape[2]])


def _sequence_length_for(config, plan, sequence_length) -> Optional[int]:
    """The length given, else the model's `max_sequence_length`; `None` if no input has a free length."""
    if sequence_length is not None:
        sequence_length = check_positive_int("sequence_length", sequence_length)
    if all(None not in spec.shape for spec in plan.inputs.values()):
        return None
    if sequence_length is not None:
        return sequence_length
    seq = config["params"].get("max_sequence_length")
    if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0:
        return seq
    raise ValueError(
        f"{config['name']!r} takes sequences of any length and has no `max_sequence_length`: pass "
        "`sequence_length`. Received: sequence_length=None."
    )


def _flop_plan(source, extensions, batch_size, sequence_length, image_size, params):
    """`(config, plan, layers, batch_size, sequence_length)` for counting FLOPs, every argument checked."""
    batch_size = check_positive_int("batch_size", batch_size)
    config = _with_image_size(config_of(source, extensions=extensions, **params), image_size)
    changing = [n for n, kw in configs.normalize_extensions(config.get("extensions")) if make_extension(n, kw).changes_model]
    if changing:
        raise ValueError(
            f"FLOPs are counted from the model's plan; extension(s) {changing} change the built model after it, "
            "so they cannot be counted analytically. Count the model without them."
        )
    plan, layers = unbuilt(config)
    if plan is None:
        raise ValueError(
            f"Model family {config['model']!r} is an assembler of the older form: it has no plan to count "
            "FLOPs block by block."
        )
    return config, plan, layers, batch_size, _sequence_length_for(config, plan, sequence_length)


def block_flops(
    source, extensions=None, batch_size=1, sequence_length=None, image_size=None, training=False, **params
) -> Dict[str, int]:
    """`{block name: forward FLOPs}` of each block of the model's plan, without allocating (see `count_flops`)."""
    _, plan, layers, batch_size, sequence_length = _flop_plan(
        source, extensions, batch_size, sequence_length, image_size, params
    )
    factor = TRAINING_MULTIPLIER if training else 1
    return {name: factor * flops for name, flops in plan_flops(plan, layers, batch_size, sequence_length).items()}


def count_flops(
    source, extensions=None, batch_size=1, sequence_length=None, image_size=None, training=False, **params
) -> int:
    """Exact analytic FLOPs of one forward pass, without allocating any weight.

    Sums each block's own `flops_for` over the model's plan at a concrete
    input size. FLOPs are 2 x the multiply-adds of matrix products and
    convolutions (attention scores and weighted values included, every
    score counted even under a causal mask); elementwise work (biases,
    norms, activations, softmax, residual additions) and look-ups are not
    counted (`dlzoo.flops` states the convention). PyTorch's
    `FlopCounterMode` gives the same figure (tested for every family).
    Training costs 3 x the forward pass (`training=True`).

    Args:
        source: a name, path, dict or model (see `dlzoo.build`).
        extensions: extensions to apply (ones that change the built model,
            such as LoRA, are refused).
        batch_size: int. Defaults to `1`.
        sequence_length: int. Length of every variable-length input.
            Defaults to the model's `max_sequence_length`.
        image_size: int or `(height, width)`. Image size of an image model
            (its `image_shape` parameter). Defaults to the model's own.
        training: bool. Count forward + backward (3 x forward). Defaults
            to `False`.
        **params: parameter overrides.
    """
    return int(sum(block_flops(source, extensions, batch_size, sequence_length, image_size, training, **params).values()))


DTYPE_BYTES = {
    # dtype policy -> (bytes per weight / gradient / optimizer slot, bytes per activation)
    "float64": (8, 8),
    "float32": (4, 4),
    "float16": (2, 2),
    "bfloat16": (2, 2),
    "mixed_float16": (4, 2),
    "mixed_bfloat16": (4, 2),
}

OPTIMIZER_SLOTS = {
    None: 0,
    "none": 0,
    "sgd": 0,
    "momentum": 1,
    "nesterov": 1,
    "rmsprop": 1,
    "adagrad": 1,
    "lion": 1,
    "adam": 2,
    "adamw": 2,
    "adamax": 2,
    "nadam": 2,
    "lamb": 2,
}


def _activation_elements(config, batch_size, sequence_length) -> Optional[int]:
    plan, layers = unbuilt(config)
    if plan is not None:
        return sum(activation_elements(plan, layers, batch_size, sequence_length).values())
    fn = MODELS.get(config["model"]).metadata.get("activation_elements")
    return None if fn is None else int(fn(batch_size, sequence_length, **copy.deepcopy(config["params"])))


def estimate_memory(
    source,
    dtype: str = "float32",
    optimizer: Optional[str] = "adamw",
    batch_size: int = 1,
    sequence_length: Optional[int] = None,
    extensions=None,
    mesh=None,
    strategy: str = "model",
    **params,
) -> Dict[str, Any]:
    """Estimate training memory: weights, gradients, optimizer state and activations (per device on a mesh).

    Formula (P = parameter count, w = bytes per weight of the dtype policy
    (4 for float32 and the `mixed_*` policies, 2 for float16/bfloat16),
    a = bytes per activation (the compute dtype), k = optimizer slots:
    2 for Adam/AdamW/Nadam/Adamax/LAMB, 1 for momentum SGD/RMSprop/Adagrad/
    Lion, 0 for plain SGD or `optimizer=None`):

    * weights = P * w
    * gradients = P * w (0 when `optimizer=None`, i.e. inference)
    * optimizer_state = k * P * w
    * activations = E * a, where E sums, over the blocks of the model's
      plan, what each keeps for the backward pass: a Transformer layer
      `17*s*b*h + 2.5*n*s^2*b` elements (Korthikanti et al. 2022,
      arXiv:2205.05198: "34sbh + 5as^2b bytes per layer at 16 bits"), a
      Keras layer without weights (add, dropout, ...) nothing, any other
      block its output. It is what the backward pass keeps, so an upper
      bound for inference.
    * total = the sum.

    Framework overhead, temporary buffers and fragmentation are not counted.

    With `mesh=(data, model)` the figures are per device under `strategy`
    (`dlzoo.distribution`): P becomes the weight elements one device holds
    (each weight divided by the sizes of the mesh axes its layout shards
    it on: the model axis for `"model"`, both for `"fsdp-like"`, none for
    `"data"`); gradients and optimizer slots follow the weights' layouts;
    activations are divided by the data axis (each device runs
    `batch_size / data` examples; `batch_size` must be a multiple of it).

    Args:
        source: a name, path, dict or model (see `dlzoo.build`).
        dtype: str. `"float32"`, `"float16"`, `"bfloat16"`, `"mixed_float16"`,
            `"mixed_bfloat16"` or `"float64"`. Defaults to `"float32"`.
        optimizer: str or None. Defaults to `"adamw"`.
        batch_size: int. Defaults to `1`.
        sequence_length: int. Defaults to the model's `max_sequence_length`
            (or 1 when it has none).
        extensions: extensions to apply.
        mesh: `(data, model)` pair of ints, or None (one device). Defaults to `None`.
        strategy: str. `"data"`, `"model"` or `"fsdp-like"` (with `mesh`).
            Defaults to `"model"`.
        **params: parameter overrides.

    Returns:
        dict: `parameters`, the inputs, `bytes` and `gib` per item, `formula`;
        with a mesh also `mesh`, `strategy` and `parameters_per_device`.
    """
    check_choice("dtype", dtype, list(DTYPE_BYTES))
    key = optimizer.lower() if isinstance(optimizer, str) else optimizer
    check_choice("optimizer", key, [k for k in OPTIMIZER_SLOTS if k is not None] + [None])
    batch_size = check_positive_int("batch_size", batch_size)
    sequence_length = check_positive_int("sequence_length", sequence_length, allow_none=True)
    config = config_of(source, extensions=extensions, **params)
    if sequence_length is None:
        seq = config["params"].get("max_sequence_length")
        sequence_length = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else 1
    total_params = count_params(config)
    w, a = DTYPE_BYTES[dtype]
    k = OPTIMIZER_SLOTS[key]
    training = key not in (None, "none")
    held, data_shards = total_params, 1
    if mesh is not None:
        held, data_shards = _per_device(config, mesh, strategy, batch_size)
    elements = _activation_elements(config, batch_size // data_shards, sequence_length)
    items = {
        "weights": held * w,
        "gradients": held * w if training else 0,
        "optimizer_state": k * held * w,
        "activations": None if elements is None else elements * a,
    }
    items["total"] = sum(v for v in items.values() if v is not None)
    per_device = {} if mesh is None else {"mesh": list(mesh), "strategy": strategy, "parameters_per_device": held}
    return {
        **per_device,
        "name": config["name"],
        "parameters": total_params,
        "dtype": dtype,
        "optimizer": optimizer,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "bytes": items,
        "gib": {k2: (None if v is None else round(v / 2**30, 3)) for k2, v in items.items()},
        "formula": "weights=P*w; gradients=P*w; optimizer_state=slots*P*w; activations=sum of each block's "
        "activation elements*a (Korthikanti et al. 2022 for Transformer layers); total=sum",
    }


def _per_device(config, mesh, strategy, batch_size):
    """`(weight elements one device holds, data-axis size)` of a model laid out on `mesh` under `strategy`."""
    from dlzoo.distribution import layout, memory  # lazy: only for a mesh

    data, _ = layout.check_mesh(mesh)
    layout.check_strategy(strategy)
    if batch_size % data:
        raise ValueError(
            f"`batch_size` must be a multiple of the mesh's data axis ({data}): each device runs batch_size / {data} "
            f"examples. Received: batch_size={batch_size}, mesh={tuple(mesh)}."
        )
    held = memory.per_device_weight_elements(layout.variable_specs(config), mesh, strategy)["all"]
    return held, data


def _registered_name(layer) -> Optional[str]:
    name = getattr(type(layer), "registered_name", None)
    return name if name in BLOCKS else None


def blocks_of(config: Dict[str, Any]) -> List[str]:
    """Registered dlzoo blocks a resolved config's model is made of, nested ones included, in first-use order.

    Keras' own layers (`dense`, `add`, ...) are left out.
    """
    plan = plan_of(config)
    if plan is None:
        fn = MODELS.get(config["model"]).metadata.get("blocks")
        return list(fn(**copy.deepcopy(config["params"]))) if fn is not None else []
    found: List[str] = []

    def visit(layer):
        name = _registered_name(layer)
        if name is not None and name not in found:
            found.append(name)
        for child in sublayers(layer):
            visit(child)

    _, layers = unbuilt(config)
    for node in plan.used_nodes():
        visit(layers[node.name])
    return found


def _block_info(name: str) -> Dict[str, Any]:
    entry = BLOCKS.get(name)
    return {"name": name, "paper": entry.paper, "class": f"{entry.obj.__module__}.{entry.obj.__name__}"}


def describe(source, extensions=None, **params) -> Dict[str, Any]:
    """Everything about a model without building it.

    Returns:
        dict: `name`, `model` (family) and its `model_paper`, `reference`,
        `description`, `params` (resolved), `extensions` (with papers),
        `blocks` (name, paper, class), `param_count`, `block_params` (per
        block of the plan) and `memory` (`estimate_memory` with its
        defaults).
    """
    config = config_of(source, extensions=extensions, **params)
    entry = MODELS.get(config["model"])
    exts = []
    for name, kwargs in configs.normalize_extensions(config.get("extensions")):
        exts.append({"name": name, "arguments": kwargs, "paper": EXTENSIONS.get(name).paper})
    plan, layers = unbuilt(config)
    return {
        "name": config["name"],
        "model": config["model"],
        "model_paper": entry.paper,
        "reference": config.get("reference") or config.get("paper"),
        "description": config.get("description"),
        "params": config["params"],
        "extensions": exts,
        "blocks": [_block_info(b) for b in blocks_of(config)],
        "param_count": count_params(config),
        "block_params": None if plan is None else count_plan(plan, layers),
        "memory": estimate_memory(config),
        "config": config,
    }


def output_names(source, extensions=None, **params) -> Optional[List[str]]:
    """The names of a model's outputs when it has several (a dict), from its plan; `None` for one output.

    An older-form assembler has no plan: `None` (its outputs are only known once built).
    """
    plan = plan_of(config_of(source, extensions=extensions, **params))
    if plan is None or not isinstance(plan.outputs, dict):
        return None
    return sorted(plan.outputs)


_MISSING = "<absent>"


def diff(a, b) -> Dict[str, Any]:
    """What differs between two models (names, paths, dicts or `ZooModel`s).

    Returns:
        dict: `a`, `b` (names); `model` (pair of families, or None when
        equal); `params` (dotted name -> `[value in a, value in b]` for each
        differing leaf); `extensions` and `blocks` (`only_in_a`,
        `only_in_b`); `param_count` (`a`, `b`, `delta` = b - a).
    """
    ca, cb = config_of(a), config_of(b)
    fa, fb = configs.flatten(ca["params"]), configs.flatten(cb["params"])
    changed = {}
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
        if va != vb:
            changed[key] = [va, vb]
    ea = [json.dumps(e, sort_keys=True) if not isinstance(e, str) else e for e in ca.get("extensions", [])]
    eb = [json.dumps(e, sort_keys=True) if not isinstance(e, str) else e for e in cb.get("extensions", [])]
    ba, bb = blocks_of(ca), blocks_of(cb)
    na, nb = count_params(ca), count_params(cb)
    return {
        "a": ca["name"],
        "b": cb["name"],
        "model": None if ca["model"] == cb["model"] else [ca["model"], cb["model"]],
        "params": changed,
        "extensions": {"only_in_a": [e for e in ea if e not in eb], "only_in_b": [e for e in eb if e not in ea]},
        "blocks": {"only_in_a": [x for x in ba if x not in bb], "only_in_b": [x for x in bb if x not in ba]},
        "param_count": {"a": na, "b": nb, "delta": nb - na},
    }


__all__ = [
    "DTYPE_BYTES",
    "OPTIMIZER_SLOTS",
    "block_counts",
    "block_flops",
    "blocks_of",
    "config_of",
    "count_flops",
    "count_params",
    "describe",
    "diff",
    "estimate_memory",
    "output_names",
]
