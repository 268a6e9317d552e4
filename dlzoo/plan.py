"""A model's plan: the registered blocks it is made of and how they are wired (pure Python).

A family (`dlzoo.families`) turns resolved parameters into a `Plan`. The plan
names every block (registered name + constructor arguments) and records the
calls between them, like Keras' functional API but without Keras: no layer
exists yet. Everything else reads the same plan and nothing restates the
architecture:

* `dlzoo.construction` makes each block once (unbuilt, so every block's own
  argument checks run before anything is allocated), propagates shapes
  through `compute_output_shape` and sums each block's `count_params_for`;
* `dlzoo.zoo_model` wires the blocks into a functional `keras.Model`;
* `describe`, `estimate_memory` and extensions (heads, features) read the
  nodes, outputs and named features.

Example (a two-block plan):

>>> plan = Plan()
>>> ids = plan.input("token_ids", shape=(None,), dtype="int32")
>>> x = plan.block("token_embedding", "token_embedding", vocabulary_size=100, hidden_dim=8)(ids)
>>> plan.set_outputs(x)
>>> [node.name for node in plan.nodes]
['token_embedding']
"""

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from dlzoo.registry import unknown_name_error


@dataclass(frozen=True)
class Tensor:
    """A symbolic tensor of a plan: a model input, or (part of) the result of a call.

    Index it like the Keras result (`hidden[3]`) to address one element of a
    call that returns a tuple.

    Args:
        name: str. Unique name in the plan (`"token_ids"`, `"decoder:0"`).
        call: int or None. Index of the producing call in `Plan.calls`; `None` for inputs.
        index: tuple of int. Path into the call's result (`()` for the whole result).
    """

    name: str
    call: Optional[int] = None
    index: Tuple[int, ...] = ()

    def __getitem__(self, i: int) -> "Tensor":
        if self.call is None:
            raise TypeError(f"Plan input {self.name!r} cannot be indexed.")
        return Tensor(f"{self.name}[{i}]", self.call, self.index + (int(i),))


@dataclass(frozen=True)
class InputSpec:
    """A model input: name, shape without the batch axis, dtype."""

    name: str
    shape: Tuple[Optional[int], ...]
    dtype: str = "float32"


@dataclass
class Node:
    """One block of the model: its layer name, registered block name and constructor arguments."""

    name: str
    block: str
    arguments: Dict[str, Any]


@dataclass
class Call:
    """One call of a node: positional tensor inputs, keyword inputs (tensors or constants), outputs."""

    node: str
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]
    outputs: Union[Tensor, Tuple[Tensor, ...]]


@dataclass(frozen=True)
class Feature:
    """A named intermediate tensor offered to extensions (heads, `features_only`).

    `info` holds plain facts about it (e.g. `{"channels": 64, "stride": 4}`).
    A feature inside a block that can return its intermediate results (a
    `transformer_stack`'s layer outputs) has no tensor yet:
    `info = {"hidden_state_of": <node>, "layer": i}` says how to expose it
    (`Plan.expose_feature`).
    """

    name: str
    tensor: Optional[Tensor]
    info: Dict[str, Any] = field(default_factory=dict)


class NodeHandle:
    """What `Plan.block` returns: call it on plan tensors to record a call of the node."""

    def __init__(self, plan: "Plan", name: str):
        self._plan = plan
        self.name = name

    def __call__(self, *args, num_outputs: Optional[int] = None, **kwargs):
        return self._plan._record_call(self.name, args, kwargs, num_outputs)

    @property
    def node(self) -> Node:
        return self._plan.node(self.name)

    def __repr__(self):
        return f"NodeHandle({self.name!r})"


def _plain(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise TypeError(
            f"Block arguments must be plain JSON values (str, number, bool, None, list, dict). "
            f"Received in {where}: {value!r}."
        ) from None


class Plan:
    """The blocks of a model and the calls that wire them.

    Build one with `input`, `block` (then call the handle), `set_outputs` and
    `add_feature`. Node names are the Keras layer names of the built model, so
    they must be unique.
    """

    def __init__(self):
        self.inputs: Dict[str, InputSpec] = {}
        self._nodes: Dict[str, Node] = {}
        self.calls: List[Call] = []
        self.outputs: Any = None
        self.features: Dict[str, Feature] = {}

    # ------------------------------------------------------------ recording
    def input(self, name: str, shape, dtype: str = "float32") -> Tensor:
        """Declare a model input (shape without the batch axis; `None` = any size)."""
        if name in self.inputs:
            raise ValueError(f"The plan already has an input named {name!r}.")
        self.inputs[name] = InputSpec(name, tuple(shape), dtype)
        return Tensor(name)

    def block(self, name: str, block: str, **arguments) -> NodeHandle:
        """Add a node: a block registered as `block`, made with `arguments`, named `name`."""
        if name in self._nodes:
            raise ValueError(f"The plan already has a block named {name!r}; layer names must be unique.")
        self._nodes[name] = Node(name, block, _plain(arguments, f"block {name!r}"))
        return NodeHandle(self, name)

    def handle(self, name: str) -> NodeHandle:
        """A handle on an existing node (to call it again, e.g. a tied embedding)."""
        self.node(name)
        return NodeHandle(self, name)

    def _record_call(self, node_name, args, kwargs, num_outputs):
        index = len(self.calls)
        base = node_name if not any(c.node == node_name for c in self.calls) else f"{node_name}#{index}"
        if num_outputs is None:
            outputs = Tensor(f"{base}:0", index, ())
        else:
            outputs = tuple(Tensor(f"{base}:{i}", index, (i,)) for i in range(num_outputs))
        self.calls.append(Call(node_name, tuple(args), dict(kwargs), outputs))
        return outputs

    def set_outputs(self, outputs, name: Optional[str] = None) -> None:
        """The model's outputs: a tensor or a dict of name -> tensor.

        `name` names a single output (Keras names an output after the layer
        that made it); when that layer has another name, an `identity`
        layer called `name` is added.
        """
        if name is not None:
            if not isinstance(outputs, Tensor):
                raise TypeError(f"`name` names a single output tensor. Received: outputs={outputs!r}, name={name!r}.")
            if self._producer(outputs) != name:
                outputs = self.block(name, "identity")(outputs)
        self.outputs = outputs

    def add_feature(self, name: str, tensor: Optional[Tensor], **info) -> None:
        """Offer an intermediate tensor under `name` (to heads and `features_only`)."""
        self.features[name] = Feature(name, tensor, _plain(info, f"feature {name!r}"))

    # ------------------------------------------------------------ editing
    def replace_tensor(self, old: Tensor, new: Tensor) -> None:
        """Make every call, output and feature that reads `old` read `new`."""

        def swap(t):
            return new if t == old else t

        for call in self.calls:
            call.args = map_tensors(call.args, swap)
            call.kwargs = map_tensors(call.kwargs, swap)
        self.outputs = map_tensors(self.outputs, swap)
        self.features = {
            k: Feature(f.name, None if f.tensor is None else swap(f.tensor), f.info) for k, f in self.features.items()
        }

    def expose_feature(self, name: str) -> Tensor:
        """The tensor of feature `name`, switching its block to return its intermediate results if needed."""
        feature = self.feature(name)
        if feature.tensor is not None:
            return feature.tensor
        node_name, layer = feature.info["hidden_state_of"], feature.info["layer"]
        node = self.node(node_name)
        (index,) = [i for i, c in enumerate(self.calls) if c.node == node_name][:1]
        call = self.calls[index]
        if not node.arguments.get("return_hidden_states"):
            node.arguments["return_hidden_states"] = True
            old = call.outputs
            main, hidden = Tensor(old.name, index, (0,)), Tensor(f"{old.name}/hidden_states", index, (1,))
            self.replace_tensor(old, main)
            call.outputs = (main, hidden)
        return call.outputs[1][layer]

    def _producer(self, tensor: Tensor) -> str:
        return tensor.name if tensor.call is None else self.calls[tensor.call].node

    # -------------------------------------------------------------- reading
    @property
    def nodes(self) -> List[Node]:
        return list(self._nodes.values())

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise unknown_name_error("plan block", name, self._nodes, param="name") from None

    def has_node(self, name: str) -> bool:
        return name in self._nodes

    def feature(self, name: str) -> Feature:
        try:
            return self.features[name]
        except KeyError:
            raise unknown_name_error("feature", name, self.features, param="feature") from None

    def level_features(self) -> List[Feature]:
        """Features that are levels of the model (layer or stage outputs), in depth order."""
        return [f for f in self.features.values() if f.info.get("level", "hidden_state_of" in f.info)]

    def tensors_read_by(self, call: Call) -> List[Tensor]:
        return _tensors_in((call.args, call.kwargs))

    def output_tensors(self) -> List[Tensor]:
        return _tensors_in(self.outputs)

    def used_calls(self) -> List[int]:
        """Indices of the calls the outputs depend on (in call order)."""
        needed, stack = set(), [t for t in self.output_tensors() if t.call is not None]
        while stack:
            tensor = stack.pop()
            if tensor.call in needed:
                continue
            needed.add(tensor.call)
            call = self.calls[tensor.call]
            stack.extend(t for t in _tensors_in((call.args, call.kwargs)) if t.call is not None)
        return sorted(needed)

    def used_nodes(self) -> List[Node]:
        """Nodes the outputs depend on, in first-call order (unused ones are not part of the model)."""
        names = []
        for index in self.used_calls():
            name = self.calls[index].node
            if name not in names:
                names.append(name)
        return [self._nodes[n] for n in names]

    def copy(self) -> "Plan":
        return copy.deepcopy(self)


def _tensors_in(structure) -> List[Tensor]:
    found = []
    if isinstance(structure, Tensor):
        found.append(structure)
    elif isinstance(structure, dict):
        for value in structure.values():
            found.extend(_tensors_in(value))
    elif isinstance(structure, (list, tuple)):
        for value in structure:
            found.extend(_tensors_in(value))
    return found


def map_tensors(structure, fn):
    """`structure` (tensors in nested lists/tuples/dicts, or constants) with every `Tensor` replaced by `fn(t)`."""
    if isinstance(structure, Tensor):
        return fn(structure)
    if isinstance(structure, dict):
        return {k: map_tensors(v, fn) for k, v in structure.items()}
    if isinstance(structure, tuple):
        return tuple(map_tensors(v, fn) for v in structure)
    if isinstance(structure, list):
        return [map_tensors(v, fn) for v in structure]
    return structure


__all__ = ["Call", "Feature", "InputSpec", "Node", "NodeHandle", "Plan", "Tensor", "map_tensors"]
