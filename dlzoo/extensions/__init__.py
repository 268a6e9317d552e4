"""Extensions: named, cited transforms of a model's config and/or of a built model.

An extension is one file in this package plus one test. It is registered by
name with `@dlzoo.register_extension(name, paper=..., conflicts_with=(...))`
and used either at build time, `dlzoo.build(name, extensions=["lora"])` or
`extensions=[{"name": "lora", "rank": 8}]`, or on a built model,
`dlzoo.apply_extension(model, "lora", rank=8)`.

Two forms are accepted:

* a subclass of `Extension` (below): its `__init__` keyword arguments (plain
  JSON values, with defaults) are the extension's arguments; it overrides
  `apply_config` (transform the resolved zoo config before the model is
  assembled), `apply_model` (transform the assembled functional model), or
  both;
* a plain function `fn(config, **kwargs) -> config`: a config transform.

How the builder uses them (`dlzoo.builder`): the config is resolved (YAML,
then the `base:` chain); each extension, in order, gets `apply_config` on the
complete params; then the user's params are applied and everything is
validated; the model is assembled; then each extension's `apply_model` runs
in order on the functional model; the result is wrapped in a `ZooModel`
whose config lists the extensions, so saving and loading re-applies them
(that is how LoRA weights or frozen flags come back after `dlzoo.load`).

Every module of this package is imported when the package is imported, so a
new extension needs no edit here.
"""

import importlib
import inspect
import pkgutil
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from dlzoo.registry import EXTENSIONS, close_matches, init_arguments, register_extension


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


def extension_arguments(name: str) -> Dict[str, Any]:
    """Arguments of a registered extension with their defaults."""
    obj = EXTENSIONS.get(name).obj
    if inspect.isclass(obj):
        return init_arguments(obj)
    args = {}
    for i, p in enumerate(inspect.signature(obj).parameters.values()):
        if i == 0 or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue  # the config argument
        args[p.name] = None if p.default is p.empty else p.default
    return args


def _accepts_any_kwargs(obj) -> bool:
    target = obj.__init__ if inspect.isclass(obj) else obj
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())


def make_extension(name: str, kwargs: Optional[Mapping[str, Any]] = None) -> Extension:
    """Instantiate a registered extension with its arguments (unknown arguments raise)."""
    load_builtin_extensions()
    entry = EXTENSIONS.get(name)
    kwargs = dict(kwargs or {})
    obj = entry.obj
    valid = extension_arguments(name)
    if not _accepts_any_kwargs(obj):
        for key in kwargs:
            if key not in valid:
                matches = close_matches(str(key), list(valid))
                hint = (" Did you mean " + " or ".join(repr(m) for m in matches) + "?") if matches else ""
                raise ValueError(
                    f"Unknown argument {key!r} for extension {name!r}.{hint} "
                    f"Received: {key}={kwargs[key]!r}. Valid arguments: {', '.join(valid) or '(none)'}."
                )
    missing = [
        k
        for k, p in _required_parameters(obj).items()
        if k not in kwargs
    ]
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


def _required_parameters(obj) -> Dict[str, Any]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = list(inspect.signature(target).parameters.values())
    params = params[1:]  # self, or the config argument of a function
    return {
        p.name: p
        for p in params
        if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def check_conflicts(names: Sequence[str]) -> None:
    """Raise `ValueError` naming both extensions when two cannot be combined.

    An extension may appear only once unless it was registered with
    `repeatable=True`.
    """
    load_builtin_extensions()
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


def list_extensions(pattern: Optional[str] = None) -> List[str]:
    """Names of registered extensions, optionally filtered by a wildcard pattern."""
    load_builtin_extensions()
    return EXTENSIONS.names(pattern)


def transfer_weights(source, target) -> Dict[str, List[str]]:
    """Copy every weight of `source` into `target` whose path and shape match.

    Returns:
        `{"kept": [...], "reinitialized": [...]}`: the paths of `target`'s
        weights that were copied, and those left at their initial values.
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
    return {"kept": kept, "reinitialized": fresh}


_LOADED = False


def load_builtin_extensions() -> None:
    """Import every module of this package once (each registers its extensions)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = f"{__name__}.{info.name}"
        try:
            importlib.import_module(module)
        except Exception as exc:  # keep the zoo usable if one extension is broken
            warnings.warn(f"dlzoo: could not import extension module {module}: {exc!r}", stacklevel=2)


__all__ = [
    "Extension",
    "FunctionExtension",
    "check_conflicts",
    "extension_arguments",
    "list_extensions",
    "load_builtin_extensions",
    "make_extension",
    "register_extension",
    "transfer_weights",
]

load_builtin_extensions()
