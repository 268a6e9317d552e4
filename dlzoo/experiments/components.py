"""Experiment components by name: dlzoo's registries first, then Keras built-ins by their Keras names.

Kinds: `dataset`, `transform`, `loss`, `metric`, `optimizer`, `schedule`,
`callback`, `regularizer`. A component is written in a composition file as a
name (`"adamw"`) or a mapping `{name: ..., <options>}`; some keys of the
mapping belong to the runner, not to the component (a loss's `weight` and
`output`, a regularizer's `weight` and `variables`, a metric's `output`).

Lookup order for a name:

1. the dlzoo component registry of that kind
   (`dlzoo.registry.component_registry(kind)`, filled by
   `@dlzoo.register_component(kind, name)` in dlzoo, in plugins, or in a
   `--plugins` module);
2. Keras, by class name (`"SparseCategoricalCrossentropy"`), by its
   snake_case form (`"sparse_categorical_crossentropy"`, `"early_stopping"`,
   `"reduce_lr_on_plateau"`), by the lower-case class name (`"adamw"`), or by
   a Keras function name or alias (`"mse"`) when no options are given.
"""

import inspect
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from dlzoo.registry import (
    accepts_any_keyword,
    component_registry,
    did_you_mean,
    signature_parameters,
    unknown_name_error,
)

KINDS = ("dataset", "transform", "augmentation", "loss", "metric", "optimizer", "schedule", "callback", "regularizer")

#: Keys of a component mapping that the runner consumes (not passed to the component).
RESERVED = {
    "loss": ("name", "weight", "output"),
    "metric": ("name", "output"),
    "regularizer": ("name", "weight", "variables"),
}

#: Keras classes that are base classes or runner-managed, never chosen by name.
_KERAS_EXCLUDED = {
    "Loss", "Metric", "Optimizer", "LearningRateSchedule", "Callback", "CallbackList", "Regularizer",
    "History", "ProgbarLogger", "BackupAndRestore", "MeanMetricWrapper", "LossScaleOptimizer",
    "MultiOptimizer", "OptimizerMap",
}

_LOADED = False


def ensure_builtins() -> None:
    """Register dlzoo's built-in datasets, transforms and components (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from dlzoo.experiments import augmentations, builtins, datasets, search_pruning, transforms  # noqa: F401  (register; lazy: keras)
    from dlzoo.experiments import time_series  # noqa: F401  (registers the `time_series` dataset)

    import dlzoo.lcm.losses  # noqa: F401  (the LCM losses register themselves as components; lazy: keras)


def snake_case(name: str) -> str:
    """`"ReduceLROnPlateau"` -> `"reduce_lr_on_plateau"`; `"KLDivergence"` -> `"kl_divergence"`."""
    name = name.replace("IoU", "Iou")
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.lower()


def _keras_module(kind: str):
    import keras  # lazy: keras

    return {
        "loss": keras.losses,
        "metric": keras.metrics,
        "optimizer": keras.optimizers,
        "schedule": keras.optimizers.schedules,
        "callback": keras.callbacks,
        "regularizer": keras.regularizers,
    }.get(kind)


def keras_table(kind: str) -> Dict[str, Any]:
    """Keras built-ins of a kind: name -> class (CamelCase, snake_case and lower-case names)."""
    module = _keras_module(kind)
    if module is None:
        return {}
    table = {}
    for attr in dir(module):
        obj = getattr(module, attr)
        if attr.startswith("_") or attr in _KERAS_EXCLUDED or not inspect.isclass(obj):
            continue
        for alias in (attr, snake_case(attr), attr.lower()):
            table.setdefault(alias, obj)
    return table


def keras_functions(kind: str) -> Dict[str, Any]:
    """Keras function names of a kind (`mean_squared_error`, ...), usable without options."""
    module = _keras_module(kind)
    if module is None or kind not in ("loss", "metric", "regularizer"):
        return {}
    table = {}
    for attr in dir(module):
        obj = getattr(module, attr)
        if attr.startswith("_") or attr in ("get", "serialize", "deserialize") or not inspect.isfunction(obj):
            continue
        table[attr] = obj
    return table


def known_names(kind: str) -> List[str]:
    """Every name usable for a kind: registered dlzoo components and all Keras aliases."""
    ensure_builtins()
    names = set(component_registry(kind).names())
    names |= set(keras_table(kind)) | set(keras_functions(kind))
    return sorted(names)


def canonical_names(kind: str) -> List[str]:
    """One name per component (for messages and listings): dlzoo names, then Keras' snake_case
    names (lower-case class names for optimizers, as Keras spells them: `adamw`, `rmsprop`)."""
    ensure_builtins()
    names = list(component_registry(kind).names())
    module = _keras_module(kind)
    keras_names = set()
    if module is not None:
        for attr in dir(module):
            obj = getattr(module, attr)
            if attr.startswith("_") or attr in _KERAS_EXCLUDED or not inspect.isclass(obj):
                continue
            keras_names.add(attr.lower() if kind == "optimizer" else snake_case(attr))
    keras_names |= set(keras_functions(kind))
    return names + sorted(keras_names - set(names))


def split_spec(kind: str, spec: Any) -> Tuple[Optional[str], Dict[str, Any], Dict[str, Any]]:
    """`spec` -> `(name, options, reserved)`; raises `TypeError` for a malformed spec."""
    if isinstance(spec, str):
        return spec, {}, {}
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise TypeError(f"A {kind} given as a mapping needs a `name` key. Received: {dict(spec)!r}.")
        name = spec["name"]
        if not isinstance(name, str):
            raise TypeError(f"A {kind} name must be a string. Received: name={name!r}.")
        reserved_keys = RESERVED.get(kind, ("name",))
        reserved = {k: v for k, v in spec.items() if k in reserved_keys and k != "name"}
        options = {k: v for k, v in spec.items() if k not in reserved_keys}
        return name, options, reserved
    raise TypeError(
        f"A {kind} must be a name or a mapping {{name: ..., <options>}}. "
        f"Received: {spec!r} of type {type(spec).__name__}."
    )


def lookup(kind: str, name: str, has_options: bool = False) -> Tuple[str, Any]:
    """`(source, obj)` for a component name: source is `"dlzoo"`, `"keras"` or `"keras-function"`.

    Raises:
        ValueError: unknown name (with the closest names and the allowed set).
    """
    ensure_builtins()
    registry = component_registry(kind)
    if name in registry:
        return "dlzoo", registry.get(name).obj
    table = keras_table(kind)
    if name in table:
        return "keras", table[name]
    functions = keras_functions(kind)
    if name in functions and not has_options:
        return "keras-function", functions[name]
    if not has_options and kind in ("loss", "metric"):
        try:  # Keras aliases such as "mse", "acc", "crossentropy"
            getter = _keras_module(kind).get
            obj = getter(name)
            if obj is not None:
                return "keras-function", obj
        except (ValueError, TypeError):
            pass
    raise unknown_name_error(kind, name, canonical_names(kind), param=kind)


def _parameters(obj) -> Optional[List[inspect.Parameter]]:
    """A component's named parameters (a class's `__init__` ones), or `None` when it has no signature."""
    try:
        return signature_parameters(obj)
    except (TypeError, ValueError):
        return None


def _named_params(target) -> Tuple[List[str], bool]:
    params = _parameters(target)
    if params is None:
        return [], True
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return names, accepts_any_keyword(target)


def accepted_options(obj) -> Tuple[Optional[List[str]], bool]:
    """`(names, accepts_any)`: the keyword arguments a component takes.

    For a class whose `__init__` passes `**kwargs` on, the base classes'
    `__init__` arguments count too (Keras optimizers take `weight_decay`,
    `clipnorm`, ... from their base class); the chain ends at the first
    `__init__` without `**kwargs`, or at `object`.
    """
    if not inspect.isclass(obj):
        names, any_kw = _named_params(obj)
        return names, any_kw
    names: List[str] = []
    for cls in obj.__mro__:
        if cls is object:
            return names, False
        if "__init__" not in cls.__dict__:
            continue
        own, any_kw = _named_params(cls.__dict__["__init__"])
        names += [n for n in own if n not in names]
        if not any_kw:
            return names, False
    return names, False


def required_options(obj) -> List[str]:
    return [
        p.name for p in _parameters(obj) or []
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def is_list_option(obj, option: str) -> bool:
    """Whether a component option takes a list (its default is a list/tuple, or its annotation says so)."""
    p = {p.name: p for p in _parameters(obj) or []}.get(option)
    if p is None:
        return False
    if isinstance(p.default, (list, tuple)):
        return True
    annotation = p.annotation
    if annotation is p.empty:
        return False
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return any(word in text for word in ("List", "list", "Sequence", "Tuple", "tuple"))


def option_problems(kind: str, name: str, options: Mapping[str, Any], provided: Tuple[str, ...] = ()) -> List[str]:
    """Messages for options a component does not accept, or required ones that are missing."""
    try:
        source, obj = lookup(kind, name, has_options=bool(options))
    except ValueError as exc:
        return [str(exc)]
    if source == "keras-function":
        return []
    names, accepts_any = accepted_options(obj)
    problems = []
    if names is not None and not accepts_any:
        for key in options:
            if key not in names:
                problems.append(
                    f"Unknown option {key!r} for {kind} {name!r}.{did_you_mean(key, names)} "
                    f"Allowed: {', '.join(names) or '(none)'}."
                )
    missing = [r for r in required_options(obj) if r not in options and r not in provided]
    if missing:
        problems.append(f"The {kind} {name!r} needs the option(s) {', '.join(missing)}.")
    return problems


def make(kind: str, spec: Any, **extra: Any) -> Any:
    """Instantiate a component from its spec (options + `extra` keyword arguments).

    A Keras function name without options gives the function itself (Keras
    accepts functions as losses and metrics).
    """
    name, options, _ = split_spec(kind, spec)
    options = dict(options, **extra)
    source, obj = lookup(kind, name, has_options=bool(options))
    if source == "keras-function":
        return obj
    if inspect.isclass(obj) or callable(obj):
        return obj(**options)
    return obj


def list_components() -> Dict[str, List[str]]:
    """Every kind -> the names usable for it (dlzoo components and Keras built-ins)."""
    return {kind: canonical_names(kind) for kind in KINDS}
