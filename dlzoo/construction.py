"""From a plan to Keras: make each block once, propagate shapes, count, and wire the graph.

`make_layers(plan)` instantiates every block of a plan unbuilt, so each
block's own argument checks run and nothing is allocated. The same layer
objects are then either counted (`count_plan`), measured for activation
memory (`activation_elements`), or wired into a functional graph
(`wire`); a model is never made twice.
"""

import math
from typing import Any, Dict, Optional

import keras

import dlzoo.blocks  # noqa: F401  (registers the built-in blocks)
from dlzoo.plan import Plan, Tensor, map_tensors
from dlzoo.registry import BLOCKS, accepted_keywords, count_layer_flops, count_weights, make_block


def make_layers(plan: Plan) -> Dict[str, Any]:
    """Instantiate every block the plan's outputs depend on (unbuilt), by node name.

    Raises:
        ValueError, TypeError: a block rejected its arguments; the message
            names the block (layer name and registered name) and the argument.
    """
    layers = {}
    # dlzoo's blocks first: their checks name the model's own parameters (`dropout`), Keras' name theirs (`rate`).
    nodes = sorted(plan.used_nodes(), key=lambda n: bool(BLOCKS.get(n.block).metadata.get("native")))
    for node in nodes:
        try:
            layers[node.name] = make_block(node.block, name=node.name, **node.arguments)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"Block {node.name!r} ({node.block}): {exc}") from None
    return {node.name: layers[node.name] for node in plan.used_nodes()}


# ----------------------------------------------------------------- shapes
def _accepted(method, names):
    """The keyword names `method` accepts among `names` (all of them if it takes **kwargs)."""
    return set(accepted_keywords(method, names))


def _call_shapes(call, shape_of):
    """Positional input shapes, and keyword shapes (`<name>_shape`) and constants, of one call."""
    args = map_tensors(call.args, shape_of)
    tensor_kwargs, constants = {}, {}
    for key, value in call.kwargs.items():
        if _holds_tensor(value):
            tensor_kwargs[f"{key}_shape"] = map_tensors(value, shape_of)
        else:
            constants[key] = value
    return args, tensor_kwargs, constants


def _holds_tensor(value):
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor(v) for v in value.values())
    return False


def input_shapes(plan: Plan, batch_size: Optional[int] = None, sequence_length: Optional[int] = None):
    """`{input name: (batch, ...)}`, unknown sizes replaced by `sequence_length` when given."""
    return {
        name: (batch_size,) + tuple(sequence_length if d is None else d for d in spec.shape)
        for name, spec in plan.inputs.items()
    }


class Shapes:
    """Shapes of a plan's tensors: each call's result shape, from its inputs' (`compute_output_shape`)."""

    def __init__(self, plan: Plan, layers, batch_size=None, sequence_length=None):
        self.inputs = input_shapes(plan, batch_size, sequence_length)
        self.results: Dict[int, Any] = {}
        for index in plan.used_calls():
            call = plan.calls[index]
            method = layers[call.node].compute_output_shape
            args, tensor_kwargs, constants = _call_shapes(call, self)
            keep = _accepted(method, list(tensor_kwargs) + list(constants))
            kwargs = {k: v for k, v in {**tensor_kwargs, **constants}.items() if k in keep}
            self.results[index] = method(*args, **kwargs)

    def __call__(self, tensor: Tensor):
        if tensor.call is None:
            return self.inputs[tensor.name]
        value = self.results[tensor.call]
        for i in tensor.index:
            value = value[i]
        return tuple(value) if _is_shape(value) else value


def propagate_shapes(plan: Plan, layers, batch_size=None, sequence_length=None) -> Shapes:
    """Every plan tensor's shape, from the inputs through each block's `compute_output_shape`."""
    return Shapes(plan, layers, batch_size, sequence_length)


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) for d in value)


# ----------------------------------------------------------------- counts
def first_calls(plan: Plan):
    """`{node name: index of its first call}` for the used nodes."""
    first = {}
    for index in plan.used_calls():
        first.setdefault(plan.calls[index].node, index)
    return first


def count_block(node_block: str, layer, args, tensor_kwargs, trainable_only: bool = False) -> int:
    """Exact weights of one unbuilt block for its input shapes (`dlzoo.registry.count_weights`)."""
    return count_weights(layer, *args, trainable_only=trainable_only, **tensor_kwargs)


def count_plan(plan: Plan, layers, trainable_only: bool = False) -> Dict[str, int]:
    """`{node name: exact weight count}` of every used node (a node called twice counts once).

    `trainable_only` leaves out the weights no gradient updates (BatchNorm's
    moving statistics, fixed tables): what PyTorch calls the parameters.
    """
    shapes = propagate_shapes(plan, layers)
    counts = {}
    for name, index in first_calls(plan).items():
        args, tensor_kwargs, _ = _call_shapes(plan.calls[index], shapes)
        try:
            counts[name] = count_block(plan.node(name).block, layers[name], args, tensor_kwargs, trainable_only)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"Block {name!r} ({plan.node(name).block}): {exc}") from None
    return counts


# ----------------------------------------------------------------- FLOPs
def plan_flops(plan: Plan, layers, batch_size: int, sequence_length: Optional[int] = None) -> Dict[str, int]:
    """`{node name: forward FLOPs}` of every used node at a concrete input size (`dlzoo.flops` convention).

    Each block reports its own (`flops_for`, or the closed form a Keras
    layer was registered with), from the shapes its call receives and the
    constants it is called with (`reverse=True`). Unlike weights, FLOPs are
    per call: a block called twice counts twice.
    """
    shapes = propagate_shapes(plan, layers, batch_size, sequence_length)
    found: Dict[str, int] = {}
    for index in plan.used_calls():
        call = plan.calls[index]
        args, tensor_kwargs, constants = _call_shapes(call, shapes)
        try:
            flops = count_layer_flops(layers[call.node], *args, **tensor_kwargs, **constants)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"Block {call.node!r} ({plan.node(call.node).block}): {exc}") from None
        found[call.node] = found.get(call.node, 0) + flops
    return found


# ----------------------------------------------------------------- memory
def activation_elements(plan: Plan, layers, batch_size: int, sequence_length: int) -> Dict[str, int]:
    """`{node name: activation elements kept for the backward pass}` at a concrete input size.

    A block that knows better reports `activation_elements_for(input shapes)`
    (e.g. a Transformer layer: Korthikanti et al., 2022); Keras layers without
    weights (add, dropout, reshape, ...) keep nothing of their own; any other
    block keeps its output.
    """
    shapes = propagate_shapes(plan, layers, batch_size, sequence_length)
    found = {}
    for index in plan.used_calls():
        call = plan.calls[index]
        layer, entry = layers[call.node], BLOCKS.get(plan.node(call.node).block)
        args, tensor_kwargs, _ = _call_shapes(call, shapes)
        method = getattr(layer, "activation_elements_for", None)
        if method is not None:
            keep = _accepted(method, tensor_kwargs)
            elements = int(method(*args, **{k: v for k, v in tensor_kwargs.items() if k in keep}))
        elif entry.metadata.get("native") and entry.metadata.get("count_params") is not None and _weightless(entry):
            elements = 0
        else:
            elements = sum(math.prod(int(d) for d in shape) for shape in _leaf_shapes(_output_shapes(call, shapes)))
        found[call.node] = found.get(call.node, 0) + elements
    return found


def _weightless(entry):
    return entry.metadata["count_params"].__name__ == "_no_weights"


def _output_shapes(call, shapes):
    return map_tensors(call.outputs, shapes)


def _leaf_shapes(structure):
    if _is_shape(structure):
        return [structure]
    found = []
    for item in structure:
        found.extend(_leaf_shapes(item))
    return found


# ------------------------------------------------------------------ graph
def keras_inputs(plan: Plan) -> Dict[str, Any]:
    """One `keras.Input` per plan input."""
    return {name: keras.Input(shape=spec.shape, dtype=spec.dtype, name=name) for name, spec in plan.inputs.items()}


def wire(plan: Plan, layers, inputs=None):
    """Call the layers as the plan says: `(inputs, outputs)` of a functional graph."""
    inputs = keras_inputs(plan) if inputs is None else inputs
    results: Dict[int, Any] = {}

    def resolve(tensor: Tensor):
        if tensor.call is None:
            return inputs[tensor.name]
        value = results[tensor.call]
        for i in tensor.index or ():
            value = value[i]
        return value

    for index in plan.used_calls():
        call = plan.calls[index]
        args = map_tensors(call.args, resolve)
        kwargs = map_tensors(call.kwargs, resolve)
        results[index] = layers[call.node](*args, **kwargs)
    outputs = map_tensors(plan.outputs, resolve)
    return inputs, outputs


__all__ = [
    "activation_elements",
    "count_block",
    "count_plan",
    "input_shapes",
    "keras_inputs",
    "make_layers",
    "plan_flops",
    "propagate_shapes",
    "wire",
]
