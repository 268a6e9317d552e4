"""Helpers shared by the built-in extensions (private).

Layer paths: a model's top-level layers are named by their `name`
(`"transformer_layer_0"`); a nested layer's path joins its ancestors' names
with `/` (`"transformer_layer_0/self_attention/query"`), the same prefix Keras
gives the layer's weights (`".../query/kernel"`).
"""

import fnmatch
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import keras

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
    """Whether `path` or its last component matches one of the fnmatch `patterns`."""
    leaf = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(leaf, p) for p in patterns)


# --------------------------------------------------------------- layer tree
def child_layers(layer) -> List[Any]:
    """The layers `layer` tracks directly (Keras keeps them in `_layers`)."""
    return list(getattr(layer, "_layers", None) or [])


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
        for child in child_layers(layer):
            yield from walk(child, f"{path}/{child.name}", layer)

    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        yield from walk(layer, layer.name, None)


def attribute_of(parent, child) -> str:
    """The attribute name under which `parent` holds `child` (looks in torch's `_modules` too)."""
    holders = [vars(parent)]
    modules = vars(parent).get("_modules")
    if isinstance(modules, dict):
        holders.append(modules)
    for holder in holders:
        for attr, value in holder.items():
            if value is child and attr != "_layers":
                return attr
    raise ValueError(
        f"Layer {parent.name!r} does not hold its sub-layer {child.name!r} as a plain attribute "
        "(it may sit in a list), so it cannot be replaced."
    )


def replace_layer(parent, child, replacement) -> None:
    """Make `parent` use `replacement` where it used `child`, tracked in `child`'s place."""
    attr = attribute_of(parent, child)
    tracker = getattr(parent, "_tracker", None)
    if tracker is not None and tracker.is_in_store("layers", child):
        # Same slot in the parent's layer list, so its weights keep their order.
        tracker.replace_tracked_value("layers", child, replacement)
    setattr(parent, attr, replacement)


# ---------------------------------------------------------------- the graph
def graph_tensors(model) -> Dict[str, List[Any]]:
    """Layer name -> its output tensors in `model`'s graph, first call first."""
    found: Dict[str, Dict[Tuple[int, int], Any]] = {}
    stack = list(keras.tree.flatten(model.outputs))
    seen = set()
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        operation, node_index, tensor_index = tensor._keras_history
        found.setdefault(operation.name, {})[(node_index, tensor_index)] = tensor
        stack.extend(operation._inbound_nodes[node_index].input_tensors)
    return {name: [t for _, t in sorted(nodes.items(), key=lambda kv: kv[0])] for name, nodes in found.items()}


def producer(tensor):
    """The layer that produced a symbolic tensor."""
    return tensor._keras_history[0]


def is_lm_logits(tensor) -> bool:
    layer = producer(tensor)
    return layer.name == "lm_head" or getattr(layer, "registered_name", None) == "token_embedding"


def sequence_output(model, extension: str):
    """The `(batch, seq, hidden)` hidden states of a model, for a head to read.

    A tensor output, or the `"sequence_output"` entry of a dict output (BERT).
    Raises `ValueError` naming the extension when the model outputs something
    else (e.g. LM logits: build it with `use_lm_head=False`).
    """
    output = model.output
    if isinstance(output, dict):
        if "sequence_output" not in output:
            raise ValueError(
                f"Extension {extension!r} needs the model's hidden states: a tensor output or a dict "
                f"with 'sequence_output'. Received outputs: {sorted(output)}."
            )
        output = output["sequence_output"]
    if isinstance(output, (list, tuple)) or len(output.shape) != 3:
        raise ValueError(
            f"Extension {extension!r} needs hidden states of shape (batch, seq_len, hidden_dim). "
            f"Received: output {output!r}."
        )
    if is_lm_logits(output):
        raise ValueError(
            f"Extension {extension!r} needs the model's hidden states, but the model outputs language-model "
            f"logits (layer {producer(output).name!r}). Build it with use_lm_head=False. "
            f"Received: output shape {tuple(output.shape)}."
        )
    return output


def padding_mask_of(model):
    inputs = model.input
    if isinstance(inputs, dict):
        return inputs.get("padding_mask")
    return None


def top_level_layer(model, name: str):
    for layer in model.layers:
        if layer.name == name:
            return layer
    return None
