"""Registries of named things: blocks, models, extensions, checkpoint converters and experiment components.

Every public name in dlzoo resolves through one of these registries, so an
unknown name always fails the same way: a `ValueError` that names the kind,
the value, and the closest registered names ("did you mean ...").

Pure Python: Keras is imported only inside `register_block` (when a block
module is imported), so the CLI's argument parsing and `dlzoo list` stay
cheap. Blocks register when `dlzoo.blocks` is imported, families when
`dlzoo.families` is, extensions when `dlzoo.extensions` is, checkpoint
converters when `dlzoo.checkpoints` is.
"""

import dataclasses
import difflib
import fnmatch
import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclasses.dataclass
class Entry:
    """One registered object and its metadata."""

    name: str
    obj: Any
    kind: str
    paper: Optional[str] = None
    category: Optional[str] = None
    example: Optional[Dict[str, Any]] = None
    metadata: Dict[str, Any] = dataclasses.field(default_factory=dict)


class Registry:
    """A name -> `Entry` table with "did you mean" errors.

    Args:
        kind: str. What the registry holds, used in error messages
            (e.g. `"block"`, `"model"`).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Entry] = {}

    def add(self, entry: Entry, overwrite: bool = False) -> None:
        existing = self._entries.get(entry.name)
        if existing is not None and existing.obj is not entry.obj and not overwrite:
            raise ValueError(
                f"A {self.kind} named '{entry.name}' is already registered "
                f"({_qualname(existing.obj)}). Choose another name. "
                f"Received: name={entry.name!r} for {_qualname(entry.obj)}."
            )
        self._entries[entry.name] = entry

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> Entry:
        if not isinstance(name, str):
            raise TypeError(
                f"A {self.kind} name must be a string. "
                f"Received: {self.kind}={name!r} of type {type(name).__name__}."
            )
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name_error(self.kind, name, self._entries) from None

    def names(self, pattern: Optional[str] = None) -> List[str]:
        names = sorted(self._entries)
        if pattern:
            if not any(ch in pattern for ch in "*?["):
                pattern = f"*{pattern}*"
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        return names

    def entries(self) -> List[Entry]:
        return [self._entries[n] for n in sorted(self._entries)]


def close_matches(name: str, choices, n: int = 3) -> List[str]:
    """The registered names closest to `name`, best first."""
    choices = list(choices)
    matches = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not matches:
        lowered = name.lower().replace("-", "_")
        matches = [c for c in choices if lowered in c.lower().replace("-", "_")][:n]
    return matches


def did_you_mean(name: Any, choices) -> str:
    """`" Did you mean 'x' or 'y'?"` for the closest `choices`, or `""` (the one hint every message uses)."""
    matches = close_matches(str(name), [c for c in choices if isinstance(c, str)])
    return (" Did you mean " + " or ".join(repr(m) for m in matches) + "?") if matches else ""


def unknown_name_error(kind: str, name: Any, choices, param: Optional[str] = None) -> ValueError:
    """A `ValueError` for an unknown name, with close matches and the valid set."""
    choices = sorted(choices)
    param = param or kind
    shown = ", ".join(repr(c) for c in choices[:40])
    if len(choices) > 40:
        shown += f", ... ({len(choices)} in all)"
    return ValueError(
        f"Unknown {kind} {name!r}.{did_you_mean(name, choices)} Received: {param}={name!r}. Allowed: {shown or '(none)'}."
    )


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


BLOCKS = Registry("block")
MODELS = Registry("model family")
EXTENSIONS = Registry("extension")
CONVERTERS = Registry("checkpoint converter")
COMPONENTS: Dict[str, Registry] = {}


def component_registry(kind: str) -> Registry:
    """The registry for one kind of experiment component (e.g. `"loss"`)."""
    if kind not in COMPONENTS:
        COMPONENTS[kind] = Registry(kind)
    return COMPONENTS[kind]


def _category_from_module(module: str) -> Optional[str]:
    parts = module.split(".")
    if len(parts) >= 3 and parts[0] == "dlzoo" and parts[1] == "blocks":
        return parts[2]
    return None


def register_block(
    name: str,
    paper: Optional[str] = None,
    category: Optional[str] = None,
    example: Optional[Dict[str, Any]] = None,
    **metadata: Any,
) -> Callable:
    """Class decorator: make a Keras layer a named, serializable dlzoo block.

    It does three jobs: registers the class for Keras serialization under the
    package `"dlzoo"`, adds it to the block registry under `name`, and records
    metadata used by `describe_block`, the conformance tests and the
    cross-backend parity tool.

    Args:
        name: str. Registry name, snake_case, equal to the file stem.
        paper: str. The paper the technique comes from (arXiv id or URL).
        category: str. Role of the block (`"attention"`, `"normalization"`,
            ...). Defaults to the sub-package under `dlzoo.blocks`.
        example: dict. A small instance used by the parity tool:
            `{"init_kwargs": {...}, "inputs": <spec>, "call_kwargs": {...}}`
            where an input spec is a shape tuple (float32 normal data), a
            dict `{"shape": ..., "dtype": "int32", "max": N}`, or a dict of
            call-argument name -> spec (first key is the positional input).
        **metadata: Any extra facts (e.g. `parity_tolerance=1e-4`).

    Reference:
        - Keras `register_keras_serializable` (keras.io/api/models/model_saving_apis).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Block name must be a non-empty string. Received: name={name!r}.")

    def decorator(cls):
        import keras

        keras.saving.register_keras_serializable(package="dlzoo", name=cls.__name__)(cls)
        BLOCKS.add(
            Entry(
                name=name,
                obj=cls,
                kind="block",
                paper=paper,
                category=category or _category_from_module(cls.__module__),
                example=example,
                metadata=dict(metadata),
            )
        )
        cls.registered_name = name
        return cls

    return decorator


def register_keras_layer(
    name: str, cls, count_params: Callable, category: str = "core", flops: Optional[Callable] = None, **metadata: Any
):
    """Register one of Keras' own layers by name, so plans and configs can use it like a block.

    Keras' class is not touched (it keeps its own serialization name); the
    entry records `count_params(layer, input_shape) -> int`, the exact
    weight count used where the layer has no `count_params_for`, and
    `flops(layer, input_shape) -> int`, its forward FLOPs (`dlzoo.flops`
    states what is counted) in place of a block's `flops_for`.

    Args:
        name: str. Registry name, snake_case (`"dense"`).
        cls: a `keras.layers.Layer` subclass.
        count_params: callable. `(unbuilt layer, input shape(s)) -> int`.
        category: str. Role. Defaults to `"core"`.
        flops: callable. `(unbuilt layer, input shape(s)) -> int`. Defaults
            to `None`: the layer cannot be counted in FLOPs.
    """
    example = metadata.pop("example", None)
    BLOCKS.add(
        Entry(
            name=name,
            obj=cls,
            kind="block",
            category=category,
            example=example,
            metadata=dict(metadata, native=True, count_params=count_params, flops=flops),
        )
    )
    return cls


def register_block_configuration(
    name: str, base, class_name: str, paper: Optional[str] = None, summary: str = "", **fixed: Any
):
    """Register `base` with some constructor arguments fixed as a block of its own.

    `SwiGLU` is `GatedLinearUnit(activation="silu")`: one technique, one
    implementation, two registered names. The generated class takes
    `base`'s arguments except the fixed ones, omits them from `get_config()`,
    and is serializable under `class_name`.

    Args:
        name: str. Registry name (`"swiglu"`).
        base: the block class to configure.
        class_name: str. Name of the generated class (`"SwiGLU"`).
        paper: str. Paper of the configuration.
        summary: str. One-line docstring summary.
        **fixed: the fixed constructor arguments (`activation="silu"`).
    """
    signature = inspect.signature(base.__init__)
    parameters = [p for p in signature.parameters.values() if p.name not in fixed]
    for key in fixed:
        if key not in signature.parameters:
            raise ValueError(f"{base.__name__} has no argument {key!r} to fix. Received: {key}={fixed[key]!r}.")

    def __init__(self, *args, **kwargs):
        for key in fixed:
            if key in kwargs:
                raise TypeError(f"{class_name} fixes `{key}`={fixed[key]!r}; it cannot be set. Received: {key}={kwargs[key]!r}.")
        base.__init__(self, *args, **kwargs, **fixed)

    __init__.__signature__ = signature.replace(parameters=parameters)

    def get_config(self):
        config = base.get_config(self)
        for key in fixed:
            config.pop(key, None)
        return config

    settings = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
    doc = f"{summary or class_name}\n\n`{base.__name__}` with {settings}; see its arguments.\n"
    cls = type(class_name, (base,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                     "__module__": base.__module__, "__qualname__": class_name})
    base_example = BLOCKS.get(base.registered_name).example or {}
    example = dict(base_example, init_kwargs={k: v for k, v in base_example.get("init_kwargs", {}).items() if k not in fixed})
    return register_block(name, paper=paper, example=example, configuration_of=base.registered_name, fixed=dict(fixed))(cls)


def register_model(name: str, paper: Optional[str] = None, **metadata: Any) -> Callable:
    """Decorator: register a model family by name (the `model:` key of zoo configs).

    A family is a function whose keyword arguments (with defaults) are the
    model's parameters. It returns a `dlzoo.plan.Plan` (see
    `guides/adding_a_model.md`), from which dlzoo builds, counts and
    describes the model. The older assembler form, a function returning
    `(inputs, outputs)` or a functional `keras.Model` (with optional
    `count_params=`, `validate=`, `blocks=`, `activation_elements=`
    metadata), still works.

    Args:
        name: str. Family name used by the `model:` key of zoo configs.
        paper: str. Paper of the architecture.
        **metadata: Extra facts recorded with the entry.
    """

    def decorator(obj):
        MODELS.add(Entry(name=name, obj=obj, kind="model", paper=paper, metadata=dict(metadata)))
        return obj

    return decorator


def register_extension(
    name: str,
    paper: Optional[str] = None,
    conflicts_with: Tuple[str, ...] = (),
    **metadata: Any,
) -> Callable:
    """Decorator: register an extension (a config transform or model transform).

    Args:
        name: str. Extension name used in `extensions=[...]`.
        paper: str. Paper it comes from, if any.
        conflicts_with: tuple of str. Extensions that cannot be combined with it.
        **metadata: Extra facts recorded with the entry.
    """

    def decorator(obj):
        meta = dict(metadata)
        meta["conflicts_with"] = tuple(conflicts_with)
        EXTENSIONS.add(Entry(name=name, obj=obj, kind="extension", paper=paper, metadata=meta))
        return obj

    return decorator


def register_converter(model_type: str, family: str, reference: Optional[str] = None, **metadata: Any) -> Callable:
    """Class decorator: register a checkpoint converter for one Hugging Face `model_type`.

    A converter (`dlzoo.checkpoints.Converter`) maps a `config.json` of that
    `model_type` to the params of a dlzoo family and checkpoint tensors to the
    model's weights, both ways (see `guides/checkpoints.md`).

    Args:
        model_type: str. The `model_type` of `config.json` (`"llama"`).
        family: str. The dlzoo family it builds (`"llama"`).
        reference: str. Where the architecture is documented.
        **metadata: Extra facts recorded with the entry.
    """

    def decorator(cls):
        CONVERTERS.add(Entry(name=model_type, obj=cls, kind="checkpoint converter", paper=reference,
                             metadata=dict(metadata, family=family)))
        cls.model_type = model_type
        cls.family = family
        return cls

    return decorator


def register_component(kind: str, name: str, **metadata: Any) -> Callable:
    """Decorator: register an experiment component (loss, metric, dataset, ...)."""

    def decorator(obj):
        component_registry(kind).add(Entry(name=name, obj=obj, kind=kind, metadata=dict(metadata)))
        return obj

    return decorator


def get_block(name: str):
    """The block class registered under `name`."""
    return BLOCKS.get(name).obj


def list_blocks(pattern: Optional[str] = None) -> List[str]:
    """Names of registered blocks, optionally filtered by a wildcard pattern.

    Args:
        pattern: str. `fnmatch` pattern (`"*attention*"`); a plain word
            matches as a substring. Defaults to all blocks.
    """
    return BLOCKS.names(pattern)


def signature_parameters(fn) -> List[inspect.Parameter]:
    """Named parameters of a function, or of a class's `__init__` (without self, *args, **kwargs)."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    params = list(inspect.signature(target).parameters.values())
    if inspect.isclass(fn) or (params and params[0].name == "self"):
        params = params[1:]
    return [p for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def accepts_any_keyword(fn) -> bool:
    """Whether a function (or a class's `__init__`) takes `**kwargs`."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return True


def accepted_keywords(fn, names) -> List[str]:
    """The `names` a function (or method) takes as keyword arguments; all of them if it takes `**kwargs`."""
    if accepts_any_keyword(fn):
        return list(names)
    taken = {p.name for p in signature_parameters(fn)}
    return [n for n in names if n in taken]


def init_arguments(cls) -> Dict[str, Any]:
    """`__init__` arguments of a class (without self/**kwargs) and their defaults (`None` if required)."""
    return {p.name: (None if p.default is p.empty else p.default) for p in signature_parameters(cls)}


def required_arguments(cls) -> List[str]:
    """`__init__` arguments of a class that have no default."""
    return [p.name for p in signature_parameters(cls) if p.default is p.empty]


def check_block_role(param: str, value: Any, role: str) -> str:
    """Check that `value` names a registered block of the given role (category), e.g. a normalization."""
    if not isinstance(value, str):
        raise TypeError(
            f"`{param}` must be the registered name of a {role} block (a string). "
            f"Received: {param}={value!r} of type {type(value).__name__}."
        )
    allowed = [e.name for e in BLOCKS.entries() if e.category == role]
    if value not in allowed:
        actual = f" ({value!r} is a {BLOCKS.get(value).category} block)" if value in BLOCKS else ""
        raise ValueError(
            f"`{param}` must name a registered {role} block{actual}.{did_you_mean(value, allowed)} "
            f"Received: {param}={value!r}. Allowed: {', '.join(repr(a) for a in allowed)}."
        )
    return value


def count_weights(layer, *input_shapes: Any, trainable_only: bool = False, **other_shapes: Any) -> int:
    """Exact weights of an unbuilt layer for its input shapes, without building it.

    A dlzoo block answers with its `count_params_for` (and, for
    `trainable_only`, subtracts its `non_trainable_params_for`, 0 when it has
    none); one of Keras' layers registered by name with the closed forms it
    was registered with (BatchNormalization's moving mean and variance are
    its non-trainable weights).

    Raises:
        TypeError: the layer can be counted neither way.
    """
    method = getattr(layer, "count_params_for", None)
    if method is not None:
        kwargs = {k: v for k, v in other_shapes.items() if k in accepted_keywords(method, other_shapes)}
        total = int(method(*input_shapes, **kwargs))
        fixed = getattr(layer, "non_trainable_params_for", None)
        return total - (int(fixed(*input_shapes)) if trainable_only and fixed is not None else 0)
    entry = next((e for e in BLOCKS.entries() if e.obj is type(layer)), None)
    if entry is None or "count_params" not in entry.metadata:
        raise TypeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) cannot be counted without allocating: it has no "
            "`count_params_for(input_shape, ...)` and is not a Keras layer registered with a count."
        )
    total = int(entry.metadata["count_params"](layer, *input_shapes, **other_shapes))
    fixed = entry.metadata.get("non_trainable_params")
    return total - (int(fixed(layer, *input_shapes)) if trainable_only and fixed is not None else 0)


def count_layer_flops(layer, *input_shapes: Any, **other_shapes: Any) -> int:
    """Forward FLOPs of an unbuilt layer for concrete input shapes, without building it.

    A dlzoo block answers with its `flops_for`; one of Keras' layers
    registered by name with the closed form it was registered with
    (`flops=`). Keywords the method does not take are dropped, as in
    `count_weights`. See `dlzoo.flops` for what is counted.

    Raises:
        TypeError: the layer can be counted neither way.
    """
    method = getattr(layer, "flops_for", None)
    if method is not None:
        kwargs = {k: v for k, v in other_shapes.items() if k in accepted_keywords(method, other_shapes)}
        return int(method(*input_shapes, **kwargs))
    entry = next((e for e in BLOCKS.entries() if e.obj is type(layer)), None)
    if entry is None or entry.metadata.get("flops") is None:
        raise TypeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) cannot be counted in FLOPs: it has no "
            "`flops_for(input_shape, ...)` and is not a Keras layer registered with `flops=`."
        )
    return int(entry.metadata["flops"](layer, *input_shapes, **other_shapes))


def make_block(block: str, optional: Optional[Dict[str, Any]] = None, **arguments: Any):
    """Instantiate the block registered as `block` (unbuilt).

    Args:
        block: str. Registered block name.
        optional: dict. Arguments passed only if the block's constructor
            takes them (e.g. `{"epsilon": 1e-5}` for any norm).
        **arguments: Arguments always passed (`name`, `dtype` included).
    """
    cls = get_block(block)
    accepted = init_arguments(cls)
    extra = {k: v for k, v in (optional or {}).items() if k in accepted and k not in arguments}
    return cls(**arguments, **extra)


def docstring_summary(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def describe_block(name: str) -> Dict[str, Any]:
    """Facts about a block: class, paper, category, arguments with defaults, summary."""
    entry = BLOCKS.get(name)
    cls = entry.obj
    return {
        "name": entry.name,
        "class": f"{cls.__module__}.{cls.__name__}",
        "paper": entry.paper,
        "category": entry.category,
        "arguments": init_arguments(cls),
        "summary": docstring_summary(cls),
    }
