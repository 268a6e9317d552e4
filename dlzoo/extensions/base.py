"""The extension contract: the `Extension` base class, instantiation by name, conflicts, weight transfer."""

import inspect
from typing import Any, Dict, List, Mapping, Optional, Sequence

from dlzoo.registry import EXTENSIONS, accepts_any_keyword, did_you_mean, init_arguments, signature_parameters


class Extension:
    """Base class of dlzoo extensions.

    Subclasses take their arguments as keyword arguments with defaults,
    store each under the same name (so `get_config()` works unchanged) and
    validate them in `__init__` with `dlzoo.validation` helpers, then
    override `apply_config` and/or `apply_model`.

    Call arguments:
        apply_config(config): `config` is a deep copy of the zoo config being
            built: `{"name", "model", "params", "extensions", ...}` with
            every parameter of the assembler present. Return the new config
            (usually with some `params` changed). Raise `ValueError` naming
            the parameter when the model cannot take this extension.
        apply_model(model): `model` is the functional `keras.Model` built so
            far (dict inputs such as `{"token_ids", "padding_mask"}`). Return
            a `keras.Model` or an `(inputs, outputs)` pair; layers may be
            changed in place (the builder wraps the result in a `ZooModel`).
        apply_plan(plan, config): `plan` is the model's `dlzoo.plan.Plan`
            before any layer exists (`config` the resolved config). Add
            blocks, read named features (`plan.feature("sequence_output")`),
            set the outputs; return the plan. Blocks added here are counted,
            described and built like the family's own.

    Example:

    >>> @dlzoo.register_extension("deeper", paper=None)
    ... class Deeper(dlzoo.extensions.Extension):
    ...     def __init__(self, extra_layers=1):
    ...         self.extra_layers = extra_layers
    ...     def apply_config(self, config):
    ...         config["params"]["num_layers"] += self.extra_layers
    ...         return config
    """

    #: Set by `register_extension` through the registry entry; informative.
    registered_name: Optional[str] = None

    def get_config(self) -> Dict[str, Any]:
        """The extension's arguments (plain JSON)."""
        return {name: getattr(self, name) for name in init_arguments(type(self)) if hasattr(self, name)}

    def apply_config(self, config: Dict[str, Any]) -> Dict[str, Any]:
        return config

    def apply_model(self, model):
        return model

    def apply_plan(self, plan, config):
        return plan

    def count_params(self, config: Dict[str, Any], base_count: int) -> Optional[int]:
        """Parameter count of the extended model without building it, or `None` if unknown.

        Only needed when `apply_model` adds or removes weights; the builder
        falls back to building the model otherwise.
        """
        return None if self.changes_model else base_count

    @property
    def changes_config(self) -> bool:
        return type(self).apply_config is not Extension.apply_config

    @property
    def changes_model(self) -> bool:
        return type(self).apply_model is not Extension.apply_model

    @property
    def changes_plan(self) -> bool:
        return type(self).apply_plan is not Extension.apply_plan

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class FunctionExtension(Extension):
    """Adapter for an extension registered as a plain `fn(config, **kwargs) -> config`."""

    def __init__(self, fn, **kwargs):
        self.fn = fn
        self.kwargs = dict(kwargs)

    def get_config(self):
        return dict(self.kwargs)

    def apply_config(self, config):
        result = self.fn(config, **self.kwargs)
        if not isinstance(result, dict):
            raise TypeError(
                f"Extension function {getattr(self.fn, '__name__', self.fn)!r} must return the config dict. "
                f"Received: {type(result).__name__}."
            )
        return result

    def __repr__(self):
        return f"FunctionExtension({getattr(self.fn, '__name__', self.fn)!r}, {self.kwargs!r})"


def _arguments(obj):
    """An extension's own parameters: a class's `__init__` ones, or a function's after its config argument."""
    params = signature_parameters(obj)
    return params if inspect.isclass(obj) else params[1:]


def extension_arguments(name: str) -> Dict[str, Any]:
    """Arguments of a registered extension with their defaults."""
    return {p.name: (None if p.default is p.empty else p.default) for p in _arguments(EXTENSIONS.get(name).obj)}


def make_extension(name: str, kwargs: Optional[Mapping[str, Any]] = None) -> Extension:
    """Instantiate a registered extension with its arguments (unknown arguments raise)."""
    entry = EXTENSIONS.get(name)
    kwargs = dict(kwargs or {})
    obj = entry.obj
    valid = extension_arguments(name)
    if not accepts_any_keyword(obj):
        for key in kwargs:
            if key not in valid:
                raise ValueError(
                    f"Unknown argument {key!r} for extension {name!r}.{did_you_mean(key, valid)} "
                    f"Received: {key}={kwargs[key]!r}. Valid arguments: {', '.join(valid) or '(none)'}."
                )
    missing = [p.name for p in _arguments(obj) if p.default is p.empty and p.name not in kwargs]
    if missing:
        raise ValueError(
            f"Extension {name!r} needs the argument(s) {', '.join(missing)}. Received: {kwargs!r}."
        )
    if inspect.isclass(obj):
        instance = obj(**kwargs)
        if not isinstance(instance, Extension):
            raise TypeError(
                f"Extension {name!r} must subclass dlzoo.extensions.Extension or be a function "
                f"fn(config, **kwargs). Received: {type(instance).__name__}."
            )
    else:
        instance = FunctionExtension(obj, **kwargs)
    instance.registered_name = name
    return instance


def check_conflicts(names: Sequence[str]) -> None:
    """Raise `ValueError` naming both extensions when two cannot be combined.

    An extension may appear only once unless it was registered with
    `repeatable=True`.
    """
    seen: List[str] = []
    for name in names:
        entry = EXTENSIONS.get(name)
        if name in seen and not entry.metadata.get("repeatable", False):
            raise ValueError(
                f"Extension {name!r} is applied twice. Received: extensions={list(names)!r}."
            )
        for other in seen:
            other_entry = EXTENSIONS.get(other)
            if other in entry.metadata.get("conflicts_with", ()) or name in other_entry.metadata.get(
                "conflicts_with", ()
            ):
                raise ValueError(
                    f"Extension {name!r} conflicts with extension {other!r}: they cannot be combined. "
                    f"Received: extensions={list(names)!r}."
                )
        seen.append(name)


def transfer_weights(source, target) -> Dict[str, List[str]]:
    """Copy every weight of `source` into `target` whose path and shape match.

    Returns:
        `{"kept": [...], "reinitialized": [...], "dropped": [...]}`: the paths
        of `target`'s weights that were copied and of those left at their
        initial values, and the paths of `source`'s weights that have no
        place (no weight at that path) in `target`.
    """
    by_path = {w.path: w for w in source.weights}
    kept, fresh = [], []
    for weight in target.weights:
        old = by_path.get(weight.path)
        if old is not None and tuple(old.shape) == tuple(weight.shape):
            weight.assign(old.value)
            kept.append(weight.path)
        else:
            fresh.append(weight.path)
    target_paths = {w.path for w in target.weights}
    dropped = [w.path for w in source.weights if w.path not in target_paths]
    return {"kept": kept, "reinitialized": fresh, "dropped": dropped}



__all__ = [
    "Extension",
    "FunctionExtension",
    "check_conflicts",
    "extension_arguments",
    "make_extension",
    "transfer_weights",
]
