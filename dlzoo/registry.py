"""Registries of named things: blocks, models, extensions and experiment components.

Every public name in dlzoo resolves through one of these registries, so an
unknown name always fails the same way: a `ValueError` that names the kind,
the value, and the closest registered names ("did you mean ...").

This module imports Keras only inside `register_block` so that pure-Python
parts (config resolution, the CLI's argument parsing) stay cheap.
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


def unknown_name_error(kind: str, name: Any, choices, param: Optional[str] = None) -> ValueError:
    """A `ValueError` for an unknown name, with close matches and the valid set."""
    choices = sorted(choices)
    param = param or kind
    hint = ""
    matches = close_matches(str(name), choices)
    if matches:
        hint = " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
    shown = ", ".join(repr(c) for c in choices[:40])
    if len(choices) > 40:
        shown += f", ... ({len(choices)} in all)"
    return ValueError(
        f"Unknown {kind} {name!r}.{hint} Received: {param}={name!r}. Allowed: {shown}."
    )


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


BLOCKS = Registry("block")
MODELS = Registry("model assembler")
EXTENSIONS = Registry("extension")
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


def register_model(name: str, paper: Optional[str] = None, **metadata: Any) -> Callable:
    """Decorator: register a model assembler (a function or class) by name.

    An assembler takes the model's parameters as keyword arguments and
    returns a `keras.Model` (see `dlzoo.builder`). Its signature defines the
    parameters a zoo config may set.

    Args:
        name: str. Assembler name used by the `model:` key of zoo configs.
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


def register_component(kind: str, name: str, **metadata: Any) -> Callable:
    """Decorator: register an experiment component (loss, metric, dataset, ...)."""

    def decorator(obj):
        component_registry(kind).add(Entry(name=name, obj=obj, kind=kind, metadata=dict(metadata)))
        return obj

    return decorator


def _ensure_blocks_loaded() -> None:
    import dlzoo.blocks  # noqa: F401  (registers every built-in block)


def get_block(name: str):
    """The block class registered under `name`."""
    _ensure_blocks_loaded()
    return BLOCKS.get(name).obj


def list_blocks(pattern: Optional[str] = None) -> List[str]:
    """Names of registered blocks, optionally filtered by a wildcard pattern.

    Args:
        pattern: str. `fnmatch` pattern (`"*attention*"`); a plain word
            matches as a substring. Defaults to all blocks.
    """
    _ensure_blocks_loaded()
    return BLOCKS.names(pattern)


def init_arguments(cls) -> Dict[str, Any]:
    """`__init__` arguments of a class (without self/**kwargs) and their defaults."""
    args = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        args[p.name] = None if p.default is inspect.Parameter.empty else p.default
    return args


def docstring_summary(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def describe_block(name: str) -> Dict[str, Any]:
    """Facts about a block: class, paper, category, arguments with defaults, summary."""
    _ensure_blocks_loaded()
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
