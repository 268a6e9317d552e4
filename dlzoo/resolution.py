"""Resolution: a named model plus extensions and overrides -> one complete, checked config, and its plan.

`resolve(source, extensions=None, **params)` applies, in a fixed order,
each step overriding the previous one:

1. the family's declared defaults (`register_model(..., params=...)`);
2. the YAML file of the named model (or a path, preset directory, Hugging
   Face checkpoint directory (`dlzoo.checkpoints`) or dict) and its `base:`
   chain, parent first;
3. extensions, in order (the config's own, then `extensions=`): each one's
   config transform (`Extension.apply_config`);
4. the user's `**params` (dotted or `__` names reach nested params:
   `attention.num_key_value_heads=2`, `attention__num_key_value_heads=2`,
   or `attention={"num_key_value_heads": 2}`, merged key by key).

Names are checked against the family's parameters (unknown -> `ValueError`
with the closest valid names), types against the defaults, and each
section's keys against its block's arguments. `plan_of(config)` then asks
the family for the plan and applies the extensions' plan transforms; the
blocks' own constructors check the values (`dlzoo.construction`). Nothing
is allocated here.

A resolved config (`resolved: true`, what `ZooModel.get_config()` returns)
already holds the final params: its extensions' config transforms are not
applied again. Configs written by dlzoo 0.1 are converted
(`dlzoo.compat.legacy`).
"""

import copy
from typing import Any, Dict, List, Optional

import dlzoo.extensions  # noqa: F401  (registers the built-in extensions)
import dlzoo.families  # noqa: F401  (registers the built-in families)
from dlzoo import checkpoints, configs, plugins
from dlzoo.compat import legacy
from dlzoo.extensions import check_conflicts, make_extension
from dlzoo.parameters import apply_aliases, check_params, defaults_of, merge_params
from dlzoo.plan import Plan
from dlzoo.registry import MODELS, signature_parameters, unknown_name_error

plugins.load_plugins()

_METADATA_KEYS = ("reference", "paper", "description", "metadata")


def family_schema(model: str) -> Dict[str, Any]:
    """Parameter name -> default (or `Section`) of a registered family."""
    entry = MODELS.get(model)
    declared = entry.metadata.get("params")
    if declared is not None:
        return dict(declared)
    return {p.name: (None if p.default is p.empty else copy.deepcopy(p.default)) for p in signature_parameters(entry.obj)}


def is_plan_family(model: str) -> bool:
    """Whether the family returns a plan (else it is an assembler of the older form)."""
    return MODELS.get(model).metadata.get("params") is not None


def _chain_of(source) -> List[Dict[str, Any]]:
    if hasattr(source, "zoo_config") and not isinstance(source, dict):
        return [source.zoo_config]
    if isinstance(source, str) and source not in configs.config_index() and source in MODELS:
        return [{"name": source, "model": source, "params": {}}]  # a bare family name: its defaults
    checkpoint = checkpoints.zoo_config_of(source)  # a Hugging Face checkpoint directory
    if checkpoint is not None:
        return checkpoint
    return configs.load_chain(source)


def _family_params(chain, model, schema) -> Dict[str, Any]:
    """Defaults, then each config of the chain that uses this family, section by section."""
    params = defaults_of(schema)
    converted = []
    for raw in chain:
        if raw.get("model") not in (None, model):
            params = defaults_of(schema)  # an ancestor of another family: its params do not apply
            continue
        layer = raw.get("params") or {}
        if legacy.is_legacy(layer):
            layer = legacy.migrate_params(model, layer)
            converted.append(raw.get("name") or "<config>")
        params = merge_params(schema, params, apply_aliases(layer, schema))
    if converted:
        legacy.warn_migrated(f"Zoo config {converted[-1]!r}")
    return params


def resolve(source, extensions=None, **params) -> Dict[str, Any]:
    """The resolved, checked config of a model, without building anything.

    Args:
        source: a zoo model name, a config path, a preset directory, a
            config dict, a `ZooModel`, or a registered family name (its
            defaults).
        extensions: list of extension names or `{"name": ..., **kwargs}`
            mappings, applied after the config's own.
        **params: parameter overrides (dotted or `__` names for nested ones).

    Returns:
        dict with `name`, `model`, `params` (complete), `extensions`,
        `resolved: True`, and `reference`/`paper`/`description` when known.
    """
    chain = _chain_of(source)
    raw = chain[0]
    for child in chain[1:]:
        raw = configs.merge_configs(raw, child)
    where = raw.get("name") or "<config>"
    model = raw.get("model")
    if model is None:
        raise ValueError(f"Zoo config {where!r} has no `model` (the registered family to use).")
    if not isinstance(model, str):
        raise TypeError(f"`model` must be the name of a model family. Received: model={model!r} in {where!r}.")
    if model not in MODELS:
        raise unknown_name_error("model family", model, MODELS.names(), param="model")
    schema = family_schema(model)
    nullable = tuple(MODELS.get(model).metadata.get("nullable", ()))
    label = f"model {where!r}" if where == model else f"model {where!r} (family {model!r})"

    config: Dict[str, Any] = {"name": where, "model": model}
    for key in _METADATA_KEYS:
        if raw.get(key) is not None:
            config[key] = copy.deepcopy(raw[key])
    config["params"] = _family_params(chain, model, schema)

    already = configs.normalize_extensions(raw.get("extensions"))
    new = configs.normalize_extensions(extensions)
    check_conflicts([name for name, _ in already + new])
    is_resolved = raw.get("resolved") is True
    config["extensions"] = [configs.extension_entry(n, k) for n, k in already] if is_resolved else []
    for name, kwargs in new if is_resolved else already + new:
        extension = make_extension(name, kwargs)
        if extension.changes_config:
            config = _apply_config(extension, name, config, model, schema, label, nullable)
        config["extensions"].append(configs.extension_entry(name, kwargs))

    user = apply_aliases(configs.nest_overrides(params), schema)
    merged = merge_params(schema, config["params"], user)
    config["params"] = check_params(merged, schema, model=label, nullable=nullable)
    missing = [name for name in _required(model) if config["params"].get(name) is None]
    if missing:
        raise ValueError(f"The {label} needs the parameter(s) {', '.join(missing)}. Received: params={params!r}.")
    validate = MODELS.get(model).metadata.get("validate")
    if validate is not None:
        validate(**copy.deepcopy(config["params"]))
    config["resolved"] = True
    plan_of(config)  # the family's own rules (those that span blocks) run here; no block is made
    return config


def _required(model: str) -> List[str]:
    """Parameters without a default (only an older-form assembler can have them)."""
    if is_plan_family(model):
        return []
    return [p.name for p in signature_parameters(MODELS.get(model).obj) if p.default is p.empty]


def _apply_config(extension, name, config, model, schema, label, nullable):
    updated = extension.apply_config(copy.deepcopy(config))
    if not isinstance(updated, dict) or "params" not in updated:
        raise TypeError(f"Extension {name!r}: apply_config must return the config dict.")
    if updated.get("model") != model:
        raise ValueError(
            f"Extension {name!r} changed the model family from {model!r} to {updated.get('model')!r}; "
            "extensions may only change params."
        )
    checked = check_params(updated["params"], schema, model=f"{label} after extension {name!r}", nullable=nullable)
    config = dict(config, params=merge_params(schema, defaults_of(schema), checked))
    for key in _METADATA_KEYS:
        if key in updated:
            config[key] = updated[key]
    return config


def plan_of(config: Dict[str, Any]) -> Optional[Plan]:
    """The plan of a resolved config: the family's, then each extension's plan transform in order.

    `None` for a family of the older assembler form (it builds Keras layers directly).
    """
    model = config["model"]
    if not is_plan_family(model):
        return None
    plan = MODELS.get(model).obj(copy.deepcopy(config["params"]))
    if not isinstance(plan, Plan):
        raise TypeError(f"Family {model!r} must return a dlzoo.plan.Plan. Received: {type(plan).__name__}.")
    for name, kwargs in configs.normalize_extensions(config.get("extensions")):
        extension = make_extension(name, kwargs)
        if extension.changes_plan:
            plan = extension.apply_plan(plan, copy.deepcopy(config))
            if not isinstance(plan, Plan):
                raise TypeError(f"Extension {name!r}: apply_plan must return the plan.")
    return plan


__all__ = ["family_schema", "is_plan_family", "plan_of", "resolve"]
