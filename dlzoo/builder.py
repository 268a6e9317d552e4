"""The builder: named models from zoo configs, validated, extended, counted and saved.

`dlzoo.build(source, extensions=None, **params)` resolves a config in a
fixed order, each step overriding the previous one:

1. the YAML file of the named model (or a path, preset directory or dict);
2. its `base:` chain (parent first; see `dlzoo.configs`);
3. the assembler's defaults fill every parameter not set;
4. extensions, in order (the config's own, then `extensions=`): each one's
   config transform (`Extension.apply_config`);
5. the user's `**params` (dotted or `__` names reach nested params:
   `attention.num_key_value_heads=2`, `attention__num_key_value_heads=2`,
   or `attention={"num_key_value_heads": 2}`, merged key by key).

Then, before any weight exists: parameter names are checked (unknown ->
`ValueError` listing the valid ones and the closest), types are checked
against the defaults (`TypeError` naming parameter, value and allowed type),
the assembler's `validate(**params)` checks ranges and combinations
(`ValueError` naming both parameters), extensions are checked for conflicts,
and the assembler's `count_params(**params)` instantiates every block
unbuilt, so each block's own argument checks run too. Only then is the
model assembled, each extension's model transform applied, and the result
wrapped in a `ZooModel` whose `get_config()` is the resolved config.

A resolved config (`resolved: true`) already holds the final params: its
extensions' config transforms are not applied again (only their model
transforms run), so `dlzoo.build(model.get_config())` rebuilds the same model.

Model assembler contract (`@dlzoo.register_model`):

    @register_model("family", paper="arXiv:...", count_params=count_fn,
                    validate=validate_fn, blocks=blocks_fn,
                    activation_elements=act_fn, nullable=(...))
    def family(hidden_dim=64, attention={"num_heads": 4}, ...):
        return inputs, outputs     # or a functional keras.Model

* keyword arguments with defaults are the parameters; a non-empty dict
  default is a nested schema (its keys are the valid sub-parameters), an
  empty dict accepts any mapping, a `None` default any value;
* `count_params(**params) -> int`: exact count without building weights
  (without it, `count_params` builds the model);
* `validate(**params)`: cross-parameter checks;
* `nullable=("feedforward.activation", ...)`: dotted names that also accept
  `None` although their default is not `None`;
* `blocks(**params) -> [block names]`: for `describe`;
* `activation_elements(batch_size, sequence_length, **params) -> int`: for
  `estimate_memory`.
"""

import copy
import fnmatch
import inspect
import json
import os
from typing import Any, Dict, List, Optional

import keras

from dlzoo import configs
from dlzoo.registry import BLOCKS, EXTENSIONS, MODELS, unknown_name_error
from dlzoo.zoo_model import ZooModel

_LOADED = False


def _ensure_loaded() -> None:
    """Import the built-in families and extensions and the installed plugins (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import dlzoo.extensions  # noqa: F401
    import dlzoo.models  # noqa: F401
    from dlzoo import plugins

    plugins.load_plugins()


# ------------------------------------------------------------------ schema
def _signature_target(obj):
    return obj.__init__ if inspect.isclass(obj) else obj


def assembler_schema(model: str) -> Dict[str, Any]:
    """Parameter name -> default of a registered assembler (a deep copy)."""
    _ensure_loaded()
    entry = MODELS.get(model)
    schema = {}
    params = list(inspect.signature(_signature_target(entry.obj)).parameters.values())
    if inspect.isclass(entry.obj):
        params = params[1:]
    for p in params:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        schema[p.name] = None if p.default is p.empty else copy.deepcopy(p.default)
    return schema


def _required(model: str) -> List[str]:
    entry = MODELS.get(model)
    params = list(inspect.signature(_signature_target(entry.obj)).parameters.values())
    if inspect.isclass(entry.obj):
        params = params[1:]
    return [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


# ----------------------------------------------------------------- resolve
def _load_source(source) -> Dict[str, Any]:
    if isinstance(source, ZooModel):
        return source.zoo_config
    if isinstance(source, str) and source not in configs.config_index() and source in MODELS:
        # A bare assembler name: its defaults.
        return {"name": source, "model": source, "params": {}}
    try:
        return configs.load_raw(source)
    except ValueError as exc:
        if isinstance(source, str) and str(exc).startswith("Unknown model "):
            raise configs.unknown_model_error(source) from None
        raise


def resolve(source, extensions=None, **params) -> Dict[str, Any]:
    """The resolved, validated config of a model, without building anything.

    Args:
        source: a zoo model name, a config path, a preset directory, a
            config dict or a `ZooModel`.
        extensions: list of extension names or `{"name": ..., **kwargs}`
            mappings, applied after the config's own.
        **params: parameter overrides (dotted or `__` names for nested ones).

    Returns:
        dict with `name`, `model`, `params` (complete), `extensions`,
        `resolved: True`, and `reference`/`paper`/`description` when known.
    """
    _ensure_loaded()
    raw = _load_source(source)
    where = raw.get("name") or "<config>"
    model = raw.get("model")
    if model is None:
        raise ValueError(f"Zoo config {where!r} has no `model` (the registered assembler to use).")
    if not isinstance(model, str):
        raise TypeError(f"`model` must be the name of a model assembler. Received: model={model!r} in {where!r}.")
    if model not in MODELS:
        raise unknown_name_error("model assembler", model, MODELS.names(), param="model")
    schema = assembler_schema(model)
    nullable = tuple(MODELS.get(model).metadata.get("nullable", ()))
    label = f"model {where!r}" if where == model else f"model {where!r} (assembler {model!r})"

    file_params = configs.check_params(raw.get("params") or {}, schema, model=label, nullable=nullable)
    config: Dict[str, Any] = {"name": where, "model": model}
    for key in ("reference", "paper", "description", "metadata"):
        if raw.get(key) is not None:
            config[key] = copy.deepcopy(raw[key])
    config["params"] = configs.deep_merge(schema, file_params)

    from dlzoo.extensions import check_conflicts, make_extension

    already = configs.normalize_extensions(raw.get("extensions"))
    new = configs.normalize_extensions(extensions)
    check_conflicts([name for name, _ in already + new])
    is_resolved = raw.get("resolved") is True
    config["extensions"] = [configs.extension_entry(n, k) for n, k in already] if is_resolved else []
    for name, kwargs in (new if is_resolved else already + new):
        extension = make_extension(name, kwargs)
        if extension.changes_config:
            updated = extension.apply_config(copy.deepcopy(config))
            if not isinstance(updated, dict) or "params" not in updated:
                raise TypeError(f"Extension {name!r}: apply_config must return the config dict.")
            if updated.get("model") != model:
                raise ValueError(
                    f"Extension {name!r} changed the model assembler from {model!r} to "
                    f"{updated.get('model')!r}; extensions may only change params."
                )
            config["params"] = configs.deep_merge(
                schema, configs.check_params(
                    updated["params"], schema, model=f"{label} after extension {name!r}", nullable=nullable
                )
            )
            for key in ("reference", "paper", "description", "metadata"):
                if key in updated:
                    config[key] = updated[key]
        config["extensions"].append(configs.extension_entry(name, kwargs))

    user = configs.check_params(configs.nest_overrides(params), schema, model=label, nullable=nullable)
    config["params"] = configs.check_params(
        configs.deep_merge(config["params"], user), schema, model=label, nullable=nullable
    )
    missing = [name for name in _required(model) if config["params"].get(name) is None]
    if missing:
        raise ValueError(
            f"The {label} needs the parameter(s) {', '.join(missing)}. Received: params={params!r}."
        )
    validate = MODELS.get(model).metadata.get("validate")
    if validate is not None:
        validate(**copy.deepcopy(config["params"]))
    config["resolved"] = True
    return config


# ------------------------------------------------------------------- build
def _graph_of(result, model: str):
    if isinstance(result, tuple) and len(result) == 2:
        return result
    if isinstance(result, keras.Model):
        if not hasattr(result, "_inputs_struct") or not getattr(result, "_is_graph_network", True):
            raise TypeError(
                f"Assembler {model!r} returned a subclassed keras.Model; return a functional model "
                "or an `(inputs, outputs)` pair."
            )
        return result.input, result.output
    raise TypeError(
        f"Assembler {model!r} must return `(inputs, outputs)` or a functional keras.Model. "
        f"Received: {type(result).__name__}."
    )


def _dry_run(config: Dict[str, Any]) -> Optional[int]:
    """Instantiate every block unbuilt (through the count function): argument errors surface here."""
    count_fn = MODELS.get(config["model"]).metadata.get("count_params")
    if count_fn is None:
        return None
    return int(count_fn(**copy.deepcopy(config["params"])))


def build_resolved(config: Dict[str, Any]) -> ZooModel:
    """Assemble a resolved config, apply the extensions' model transforms, wrap in a `ZooModel`."""
    from dlzoo.extensions import make_extension

    _ensure_loaded()
    model_name = config["model"]
    _dry_run(config)
    result = MODELS.get(model_name).obj(**copy.deepcopy(config["params"]))
    inputs, outputs = _graph_of(result, model_name)
    for name, kwargs in configs.normalize_extensions(config.get("extensions")):
        extension = make_extension(name, kwargs)
        if extension.changes_model:
            current = keras.Model(inputs, outputs, name=f"{config['name']}_base")
            inputs, outputs = _graph_of(extension.apply_model(current), f"extension {name}")
    return ZooModel(inputs=inputs, outputs=outputs, zoo_config=config)


def build(source, extensions=None, **params) -> ZooModel:
    """Build a named model: `dlzoo.build("gpt-tiny", num_layers=4)`.

    Args:
        source: a zoo model name (`dlzoo.list_models()`), a path to a
            `.yaml`/`.json` config, a preset directory (`save_to_preset`;
            its weights are loaded), a config dict (e.g. a
            `model.get_config()`), or a registered assembler name (its
            defaults).
        extensions: list of extension names or `{"name": ..., **kwargs}`
            mappings, applied after those of the config.
        **params: parameter overrides. Nested parameters by dotted name
            (`**{"attention.num_key_value_heads": 2}`), double underscore
            (`attention__num_key_value_heads=2`) or a partial dict
            (`attention={"num_key_value_heads": 2}`).

    Returns:
        A `ZooModel` (functional `keras.Model`).

    Raises:
        ValueError: unknown model, parameter or extension (with the closest
            names), a value out of range, or an invalid combination.
        TypeError: a parameter of the wrong type.
    """
    config = resolve(source, extensions=extensions, **params)
    model = build_resolved(config)
    if isinstance(source, (str, os.PathLike)) and configs.is_preset_dir(source):
        weights = os.path.join(os.fspath(source), configs.PRESET_WEIGHTS_FILE)
        if os.path.exists(weights):
            try:
                model.load_weights(weights)
            except ValueError as exc:
                raise ValueError(
                    f"The weights in {weights!r} do not fit the model built with params={params!r}, "
                    f"extensions={extensions!r}: {str(exc).splitlines()[0] if str(exc) else exc}"
                ) from None
    return model


def load(path) -> keras.Model:
    """Load a model saved by `model.save("x.keras")` (safe mode) or `model.save_to_preset(dir)`."""
    _ensure_loaded()
    path = os.fspath(path)
    if configs.is_preset_dir(path):
        return build(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No saved model at {path!r}.")
    return keras.saving.load_model(path, safe_mode=True)


# --------------------------------------------------------------- discover
def list_models(pattern: Optional[str] = None) -> List[str]:
    """Names of the named models (zoo configs), optionally filtered.

    Args:
        pattern: str. `fnmatch` wildcard (`"llama-*"`); a plain word matches
            as a substring. Defaults to all.
    """
    _ensure_loaded()
    names = configs.config_names()
    if pattern:
        if not any(ch in pattern for ch in "*?["):
            pattern = f"*{pattern}*"
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def list_extensions(pattern: Optional[str] = None) -> List[str]:
    """Names of registered extensions, optionally filtered by a wildcard pattern."""
    _ensure_loaded()
    return EXTENSIONS.names(pattern)


def _config_of(source, extensions=None, **params) -> Dict[str, Any]:
    if isinstance(source, ZooModel) and not extensions and not params:
        return source.zoo_config
    return resolve(source, extensions=extensions, **params)


def count_params(source, extensions=None, **params) -> int:
    """Exact parameter count without allocating any weight.

    Uses the assembler's `count_params` (unbuilt blocks' `count_params_for`
    or closed forms), so a 7B model answers in milliseconds. When the
    assembler has no count function, or an extension that changes the
    built model cannot count itself, the model is built and counted.

    Args:
        source: a name, path, dict or model (see `build`).
        extensions: extensions to apply.
        **params: parameter overrides.
    """
    from dlzoo.extensions import make_extension

    if isinstance(source, keras.Model) and not isinstance(source, ZooModel):
        return int(source.count_params())
    config = _config_of(source, extensions=extensions, **params)
    total = _dry_run(config)
    if total is None:
        return int(build_resolved(config).count_params())
    for name, kwargs in configs.normalize_extensions(config.get("extensions")):
        extension = make_extension(name, kwargs)
        if extension.changes_model:
            counted = extension.count_params(copy.deepcopy(config), total)
            if counted is None:
                return int(build_resolved(config).count_params())
            total = int(counted)
    return int(total)


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


def estimate_memory(
    source,
    dtype: str = "float32",
    optimizer: Optional[str] = "adamw",
    batch_size: int = 1,
    sequence_length: Optional[int] = None,
    extensions=None,
    **params,
) -> Dict[str, Any]:
    """Estimate training memory: weights, gradients, optimizer state and activations.

    Formula (P = parameter count, w = bytes per weight of the dtype policy
    (4 for float32 and the `mixed_*` policies, 2 for float16/bfloat16),
    a = bytes per activation (the compute dtype), k = optimizer slots:
    2 for Adam/AdamW/Nadam/Adamax/LAMB, 1 for momentum SGD/RMSprop/Adagrad/
    Lion, 0 for plain SGD or `optimizer=None`):

    * weights = P * w
    * gradients = P * w (0 when `optimizer=None`, i.e. inference)
    * optimizer_state = k * P * w
    * activations = E * a, where E is the assembler's
      `activation_elements(batch_size, sequence_length, **params)`; for the
      Transformer families E = L * (17*s*b*h + 2.5*n*s^2*b) + s*b*h (+ s*b*V
      logits), i.e. Korthikanti et al. 2022 (arXiv:2205.05198), "34sbh +
      5as^2b bytes per layer at 16 bits", in elements. It is what the
      backward pass keeps, so an upper bound for inference. `None` when the
      assembler gives no formula.
    * total = the sum.

    Framework overhead, temporary buffers and fragmentation are not counted.

    Args:
        source: a name, path, dict or model (see `build`).
        dtype: str. `"float32"`, `"float16"`, `"bfloat16"`, `"mixed_float16"`,
            `"mixed_bfloat16"` or `"float64"`. Defaults to `"float32"`.
        optimizer: str or None. Defaults to `"adamw"`.
        batch_size: int. Defaults to `1`.
        sequence_length: int. Defaults to the model's `max_sequence_length`
            (or 1 when it has none).
        extensions: extensions to apply.
        **params: parameter overrides.

    Returns:
        dict: `parameters`, the inputs, `bytes` and `gib` per item, `formula`.
    """
    from dlzoo.validation import check_choice, check_positive_int

    check_choice("dtype", dtype, list(DTYPE_BYTES))
    key = optimizer.lower() if isinstance(optimizer, str) else optimizer
    check_choice("optimizer", key, [k for k in OPTIMIZER_SLOTS if k is not None] + [None])
    batch_size = check_positive_int("batch_size", batch_size)
    sequence_length = check_positive_int("sequence_length", sequence_length, allow_none=True)
    config = _config_of(source, extensions=extensions, **params)
    p = config["params"]
    if sequence_length is None:
        seq = p.get("max_sequence_length")
        sequence_length = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else 1
    total_params = count_params(config)
    w, a = DTYPE_BYTES[dtype]
    k = OPTIMIZER_SLOTS[key]
    training = key not in (None, "none")
    act_fn = MODELS.get(config["model"]).metadata.get("activation_elements")
    activations = None
    if act_fn is not None:
        activations = int(act_fn(batch_size, sequence_length, **copy.deepcopy(p))) * a
    items = {
        "weights": total_params * w,
        "gradients": total_params * w if training else 0,
        "optimizer_state": k * total_params * w,
        "activations": activations,
    }
    items["total"] = sum(v for v in items.values() if v is not None)
    return {
        "name": config["name"],
        "parameters": total_params,
        "dtype": dtype,
        "optimizer": optimizer,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "bytes": items,
        "gib": {k2: (None if v is None else round(v / 2**30, 3)) for k2, v in items.items()},
        "formula": "weights=P*w; gradients=P*w; optimizer_state=slots*P*w; activations=E*a "
        "(Korthikanti et al. 2022); total=sum",
    }


def _block_info(name: str) -> Dict[str, Any]:
    if name in BLOCKS:
        entry = BLOCKS.get(name)
        return {"name": name, "paper": entry.paper, "class": f"{entry.obj.__module__}.{entry.obj.__name__}"}
    return {"name": name, "paper": None, "class": None}


def blocks_of(config: Dict[str, Any]) -> List[str]:
    """Registered block names a resolved config's model is made of."""
    fn = MODELS.get(config["model"]).metadata.get("blocks")
    return list(fn(**copy.deepcopy(config["params"]))) if fn is not None else []


def describe(source, extensions=None, **params) -> Dict[str, Any]:
    """Everything about a model without building it.

    Returns:
        dict: `name`, `model` (assembler) and its `model_paper`,
        `reference`, `description`, `params` (resolved), `extensions` (with
        papers), `blocks` (name, paper, class), `param_count` and `memory`
        (`estimate_memory` with its defaults).
    """
    config = _config_of(source, extensions=extensions, **params)
    entry = MODELS.get(config["model"])
    exts = []
    for name, kwargs in configs.normalize_extensions(config.get("extensions")):
        exts.append({"name": name, "arguments": kwargs, "paper": EXTENSIONS.get(name).paper})
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
        "memory": estimate_memory(config),
        "config": config,
    }


_MISSING = "<absent>"


def diff(a, b) -> Dict[str, Any]:
    """What differs between two models (names, paths, dicts or `ZooModel`s).

    Returns:
        dict: `a`, `b` (names); `model` (pair of assemblers, or None when
        equal); `params` (dotted name -> `[value in a, value in b]` for each
        differing leaf); `extensions` and `blocks` (`only_in_a`,
        `only_in_b`); `param_count` (`a`, `b`, `delta` = b - a).
    """
    ca, cb = _config_of(a), _config_of(b)
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


# -------------------------------------------------------------- extensions
def apply_extension(model: keras.Model, name: str, **kwargs) -> keras.Model:
    """Apply a registered extension to a built model.

    For a `ZooModel`, the extension is checked against the model's own
    extensions (conflicts raise), its config transform (if any) is applied;
    when that changes the params the model is rebuilt and every weight whose
    path and shape still fit is copied over (the report is in
    `new_model.extension_report`). Then its model transform runs and the
    result is a new `ZooModel` whose config lists the extension, so it saves
    and loads like any other. Layers are shared with `model` (weights are
    not copied) unless the model had to be rebuilt.

    Args:
        model: a `ZooModel` (or any functional `keras.Model`: then only the
            model transform applies and a plain `keras.Model` is returned).
        name: str. Registered extension name (`dlzoo.list_extensions()`).
        **kwargs: the extension's arguments.
    """
    from dlzoo.extensions import check_conflicts, make_extension, transfer_weights

    _ensure_loaded()
    extension = make_extension(name, kwargs)
    if not isinstance(model, ZooModel):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model. Received: model={type(model).__name__}.")
        if extension.changes_config:
            raise ValueError(
                f"Extension {name!r} transforms the zoo config; apply it to a model built by dlzoo.build. "
                f"Received: model of type {type(model).__name__}."
            )
        inputs, outputs = _graph_of(extension.apply_model(model), f"extension {name}")
        return keras.Model(inputs, outputs, name=model.name)

    config = model.zoo_config
    existing = [n for n, _ in configs.normalize_extensions(config.get("extensions"))]
    check_conflicts(existing + [name])
    new_config = resolve(config, extensions=[configs.extension_entry(name, kwargs)])
    report = None
    base = model
    if new_config["params"] != config["params"]:
        rebuilt = build_resolved(dict(config, params=new_config["params"]))
        report = transfer_weights(model, rebuilt)
        base = rebuilt
    inputs, outputs = base.input, base.output
    if extension.changes_model:
        current = keras.Model(inputs, outputs, name=f"{config['name']}_base")
        inputs, outputs = _graph_of(extension.apply_model(current), f"extension {name}")
    result = ZooModel(inputs=inputs, outputs=outputs, zoo_config=new_config)
    result.extension_report = report
    return result


__all__ = [
    "apply_extension",
    "build",
    "build_resolved",
    "count_params",
    "describe",
    "diff",
    "estimate_memory",
    "list_extensions",
    "list_models",
    "load",
    "resolve",
]
