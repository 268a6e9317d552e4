"""A family's parameters: defaults, sections routed to one block, and the checks of names and types.

A family declares its parameters once, with defaults (`register_model(...,
params={...})`). Scalars and lists are checked against their default's type.
A nested group of parameters is a `Section`: its keys are the constructor
arguments of one block, so the block's own names are the vocabulary
(`attention.use_qkv_bias` is `GroupedQueryAttention(use_qkv_bias=...)`) and
the block's constructor checks the values. A section chosen by role picks
its block with `type` (`feedforward.type: swiglu`); changing `type` drops the
previous block's settings that the new one does not take.
"""

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import dlzoo.blocks  # noqa: F401  (sections check keys against the registered blocks)
from dlzoo.compat.legacy import renamed_hint
from dlzoo.registry import BLOCKS, check_block_role, did_you_mean, get_block, init_arguments, required_arguments

# Accepted everywhere a family has `hidden_dim` (documented in guides/naming.md).
ALIASES = {"model_dim": "hidden_dim"}


@dataclass(frozen=True)
class Section:
    """Defaults of a nested parameter group whose keys are one block's constructor arguments.

    Args:
        defaults: the group's default values.
        block: registered name of the block the keys belong to (fixed), or
        role: the role (`"feedforward"`, `"normalization"`) of the block that
            the group's `type` key names.
        reserved: arguments of that block the family sets itself.
    """

    defaults: Mapping[str, Any] = field(default_factory=dict)
    block: Optional[str] = None
    role: Optional[str] = None
    reserved: Tuple[str, ...] = ()

    def block_of(self, value: Mapping[str, Any]) -> str:
        return value.get("type") if self.role else self.block

    def accepted(self, block: str) -> List[str]:
        """The keys this section accepts when it routes to `block`."""
        keys = [a for a in init_arguments(get_block(block)) if a not in self.reserved]
        return (["type"] + keys) if self.role else keys


def routed_to(block: str, reserved: Iterable[str] = (), **defaults) -> Section:
    """A section whose keys are the arguments of the block registered as `block`."""
    return Section(defaults=dict(defaults), block=block, reserved=tuple(reserved))


def chosen_by_type(role: str, reserved: Iterable[str] = (), **defaults) -> Section:
    """A section whose `type` names a block of `role`; its other keys are that block's arguments."""
    if "type" not in defaults:
        raise ValueError(f"A section chosen by type needs a default `type`. Received: defaults={defaults!r}.")
    return Section(defaults=dict(defaults), role=role, reserved=tuple(reserved))


def plain(value: Any, where: str) -> Any:
    """A deep copy of `value` that is plain JSON (tuples become lists)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Parameters must be plain JSON values (str, number, bool, None, list, dict). Received in {where}: {exc}."
        ) from None


def defaults_of(schema: Mapping[str, Any]) -> Dict[str, Any]:
    """The default value of every parameter (a section's defaults as a dict)."""
    return {k: dict(v.defaults) if isinstance(v, Section) else copy.deepcopy(v) for k, v in schema.items()}


def apply_aliases(params: Mapping[str, Any], schema: Mapping[str, Any]) -> Dict[str, Any]:
    """`model_dim=512` -> `hidden_dim=512` for a family with `hidden_dim` (both at once is an error)."""
    params = dict(params)
    for alias, name in ALIASES.items():
        if alias in params and name in schema and alias not in schema:
            if name in params and params[name] != params[alias]:
                raise ValueError(
                    f"`{alias}` is another name for `{name}`; give one of them. "
                    f"Received: {alias}={params[alias]!r}, {name}={params[name]!r}."
                )
            params[name] = params.pop(alias)
    return params


# ------------------------------------------------------------------- merge
def merge_section(section: Section, current: Mapping[str, Any], new: Mapping[str, Any]) -> Dict[str, Any]:
    """`current` updated by `new`; a new `type` first drops settings its block does not take."""
    merged = dict(current)
    if section.role and "type" in new and new["type"] != merged.get("type") and isinstance(new["type"], str):
        try:
            check_block_role("type", new["type"], section.role)
        except (TypeError, ValueError):
            pass  # reported by `check_params` with the full parameter name
        else:
            accepted = set(section.accepted(new["type"]))
            merged = {k: v for k, v in merged.items() if k in accepted}
    merged.update(copy.deepcopy(dict(new)))
    return merged


def merge_params(schema: Mapping[str, Any], current: Mapping[str, Any], new: Mapping[str, Any]) -> Dict[str, Any]:
    """`current` updated by `new`, section by section; unknown keys are kept for `check_params` to report."""
    merged = copy.deepcopy(dict(current))
    for key, value in new.items():
        default = schema.get(key)
        if isinstance(default, Section) and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_section(default, merged[key], value)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_params(default if isinstance(default, Mapping) else {}, merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# ------------------------------------------------------------------- check
def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "True or False"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, (list, tuple)):
        return "a list"
    if isinstance(default, (dict, Section)):
        return "a mapping"
    return "any value"


def check_params(
    params: Mapping[str, Any],
    schema: Mapping[str, Any],
    model: str = "the model",
    prefix: str = "",
    nullable: Iterable[str] = (),
) -> Dict[str, Any]:
    """Check parameter names and types against a schema of defaults; return a checked copy.

    A scalar default's type is the allowed type (`float` accepts ints); a
    `Section` accepts the arguments of its block (the block checks values);
    a non-empty dict default is a nested schema (the older assembler form),
    an empty dict accepts any mapping, a `None` default any value. Dotted
    names in `nullable` also accept `None`.

    Raises:
        ValueError: an unknown name, with the closest valid names (and the
            new name of a parameter renamed since dlzoo 0.1).
        TypeError: a value of the wrong type, naming the parameter, the
            value and the allowed type.
    """
    if not isinstance(params, Mapping):
        name = prefix[:-1] if prefix else "params"
        raise TypeError(
            f"`{name}` must be a mapping of parameter names to values. "
            f"Received: {name}={params!r} of type {type(params).__name__}."
        )
    checked: Dict[str, Any] = {}
    for key, value in params.items():
        full = f"{prefix}{key}"
        if key not in schema:
            valid = [f"{prefix}{k}" for k in schema]
            raise ValueError(
                f"Unknown parameter {full!r} for {model}.{renamed_hint(full) or did_you_mean(full, valid)} "
                f"Received: {full}={value!r}. Valid parameters: {', '.join(valid)}."
            )
        checked[key] = _check_value(full, value, schema[key], model, tuple(nullable))
    return checked


def _check_value(name: str, value: Any, default: Any, model: str, nullable: Tuple[str, ...] = ()) -> Any:
    def wrong():
        allowed = _type_name(default) + (" or None" if name in nullable else "")
        return TypeError(
            f"Parameter `{name}` of {model} must be {allowed}. "
            f"Received: {name}={value!r} of type {type(value).__name__}."
        )

    if default is None or (value is None and name in nullable):
        return copy.deepcopy(value)
    if isinstance(default, Section):
        if not isinstance(value, Mapping):
            raise wrong()
        return check_section(name, value, default, model)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise wrong()
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise wrong()
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise wrong()
        return plain(list(value), where=name)
    if isinstance(default, dict):
        if not isinstance(value, Mapping):
            raise wrong()
        if not default:
            return plain(dict(value), where=name)
        return check_params(value, default, model=model, prefix=name + ".", nullable=nullable)
    return copy.deepcopy(value)


def check_section(name: str, value: Mapping[str, Any], section: Section, model: str) -> Dict[str, Any]:
    """Check a section's keys against its block's arguments (values are checked by the block)."""
    if section.role:
        check_block_role(f"{name}.type", value.get("type"), section.role)
    block = section.block_of(value)
    accepted = section.accepted(block)
    for key in value:
        if key in accepted:
            continue
        full = f"{name}.{key}"
        if key in section.reserved:
            raise ValueError(
                f"Parameter {full!r} of {model} is set by the model itself and cannot be given. Received: {full}={value[key]!r}."
            )
        hint = renamed_hint(full) or did_you_mean(key, accepted)
        raise ValueError(
            f"Unknown parameter {full!r} for {model}: `{name}` holds arguments of the block {block!r}.{hint} "
            f"Received: {full}={value[key]!r}. Valid: {', '.join(f'{name}.{a}' for a in accepted)}."
        )
    needed = [a for a in required_arguments(get_block(block)) if a not in value and a not in section.reserved]
    if section.role and needed:
        usable = [
            entry.name for entry in BLOCKS.entries()
            if entry.category == section.role
            and all(a in section.reserved for a in required_arguments(get_block(entry.name)))
        ]
        raise ValueError(
            f"`{name}.type`={block!r} cannot be used by {model}: that block needs {', '.join(needed)}, which the "
            f"model does not set. Received: {name}.type={block!r}. Usable: {', '.join(repr(u) for u in usable)}."
        )
    checked = plain(dict(value), where=name)
    _let_the_block_check(name, block, {k: v for k, v in checked.items() if k != "type"}, model)
    return checked


def _let_the_block_check(name: str, block: str, arguments: Dict[str, Any], model: str) -> None:
    """Make the section's block from its values (unbuilt) so its own checks run; name the section in errors."""
    cls = get_block(block)
    if any(arg not in arguments for arg in required_arguments(cls)):
        return  # the family adds the rest; the block checks everything when the model is made
    try:
        cls(**arguments)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{model}: {in_section_terms(str(exc), name, arguments)}") from None


def in_section_terms(message: str, section: str, arguments: Mapping[str, Any]) -> str:
    """A block's error message with its argument names written as the section's dotted names."""
    for key in sorted(arguments, key=len, reverse=True):
        message = re.sub(rf"(?<![\w.`])`{key}`", f"`{section}.{key}`", message)
        message = re.sub(rf"(?<![\w.]){key}=", f"{section}.{key}=", message)
    return message


__all__ = [
    "ALIASES",
    "Section",
    "apply_aliases",
    "check_params",
    "check_section",
    "chosen_by_type",
    "defaults_of",
    "merge_params",
    "merge_section",
    "routed_to",
]
