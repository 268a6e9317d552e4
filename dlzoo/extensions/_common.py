"""Helpers shared by the built-in extensions (private).

Layer paths: a model's top-level layers are named by their `name`
(`"decoder"`); a nested layer's path joins its ancestors' names with `/`
(`"decoder/transformer_layer_0/self_attention/query"`), the same prefix Keras
gives the layer's weights (`".../query/kernel"`). A pattern matches a path,
its last component, or any tail of it that starts at a `/`, so
`"transformer_layer_0/*"` and `"query"` both reach into the stack.
"""

import fnmatch
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import keras

from dlzoo.compat.keras_internals import sublayers

# Names of the heads and of `features_only`: at most one of them shapes a model's output.
OUTPUT_EXTENSIONS = ("classification_head", "regression_head", "language_model_head", "features_only")


def others(name: str, group: Sequence[str] = OUTPUT_EXTENSIONS) -> Tuple[str, ...]:
    """`group` without `name` (for `conflicts_with=`)."""
    return tuple(n for n in group if n != name)


# ------------------------------------------------------------------ arguments
def check_patterns(name: str, value: Any, allow_empty: bool = False) -> List[str]:
    """A wildcard pattern or list of patterns -> list of str; `ValueError`/`TypeError` naming `name`."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) and p for p in value):
        raise TypeError(
            f"`{name}` must be a wildcard pattern or a list of non-empty patterns (fnmatch, e.g. "
            f"'query' or 'transformer_layer_0/*'). Received: {name}={value!r}."
        )
    if not value and not allow_empty:
        raise ValueError(f"`{name}` must hold at least one pattern. Received: {name}={value!r}.")
    return list(value)


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Whether `path`, or a tail of it starting at a `/` component, matches one of the `patterns`."""
    parts = path.split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(tail, p) for p in patterns for tail in tails)


# --------------------------------------------------------------- layer tree
def iter_layers(model) -> Iterator[Tuple[str, Any, Optional[Any]]]:
    """Yield `(path, layer, parent)` for every layer of `model`, parents first.

    Top-level layers (the functional graph's operations, input layers
    excluded) have `parent=None`. A layer reachable twice is yielded once.
    """
    seen = set()

    def walk(layer, path, parent):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        yield path, layer, parent
        for child in sublayers(layer):
            yield from walk(child, f"{path}/{child.name}", layer)

    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        yield from walk(layer, layer.name, None)
