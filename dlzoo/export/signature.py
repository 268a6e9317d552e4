"""The export signature of a model: named inputs and outputs, dtypes, dynamic axes.

One `Signature` is computed from the Keras model in the caller's process and
sent as JSON to every exporter (in-process or in a subprocess of another
backend) and to the verifier, so every artifact has the same input names,
the same dynamic axes and the same output names, whichever backend wrote it.

Dynamic axes (`dynamic_axes=` of `dlzoo.export`):

* `None` (default): every axis the model declares as `None` is dynamic.
  Axis 0 is named `"batch"`; any other is named `"<input>_<axis>"`, so two
  inputs' lengths are independent, unless the model rejects independent
  lengths on a probe call (e.g. `token_ids` and `padding_mask`): then the
  finest grouping of same-position axes that runs is used, each group
  sharing one name (`"sequence"` when it holds every axis 1).
* `{input_name: spec}` for some inputs, where `spec` is a list of axes
  (`[0, 1]`) or a dict `{axis: name_or_size}`. A string names a dynamic
  axis (inputs that share a name must agree at run time, e.g.
  `{"x": {1: "seq"}, "mask": {1: "seq"}}`); an int pins an axis the model
  leaves open to a static size. Every axis the model leaves open must be
  listed for an input that appears in the dict.

Only NumPy and the standard library at import time; Keras only inside
`signature_from_model`.
"""

import dataclasses
import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
SUPPORTED_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")


@dataclasses.dataclass
class TensorInfo:
    """One named input or output tensor.

    Attributes:
        name: str. The tensor's name in every artifact.
        shape: list of int or None. `None` marks a dynamic axis.
        dtype: str. A NumPy dtype name.
        dim_names: dict int -> str. Symbolic name of each dynamic axis.
    """

    name: str
    shape: List[Optional[int]]
    dtype: str
    dim_names: Dict[int, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "dynamic_axes": {str(k): v for k, v in sorted(self.dim_names.items())},
        }

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "TensorInfo":
        return cls(
            name=data["name"],
            shape=list(data["shape"]),
            dtype=data["dtype"],
            dim_names={int(k): v for k, v in data.get("dynamic_axes", {}).items()},
        )

    def poly_shape(self) -> str:
        """The shape as a jax2tf polymorphic-shape string, e.g. `(batch, x_1, 16)`."""
        dims = [self.dim_names[i] if d is None else str(d) for i, d in enumerate(self.shape)]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@dataclasses.dataclass
class Signature:
    """Inputs and outputs of an exported model.

    Attributes:
        inputs: list of `TensorInfo`, in the model's input order.
        outputs: list of `TensorInfo`, in the model's output order.
        input_structure: str. How the Keras model takes its inputs:
            `"single"`, `"list"` or `"dict"` (keyed by input name).
        output_structure: str. `"single"`, `"list"` or `"dict"`.
        output_keys: list of str. The model's own output keys (a dict
            output's keys), when they differ from the artifact-safe names.
    """

    inputs: List[TensorInfo]
    outputs: List[TensorInfo]
    input_structure: str = "single"
    output_structure: str = "single"
    output_keys: Optional[List[str]] = None

    @property
    def input_names(self) -> List[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> List[str]:
        return [t.name for t in self.outputs]

    def to_json(self) -> Dict[str, Any]:
        return {
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "input_structure": self.input_structure,
            "output_structure": self.output_structure,
            "output_keys": self.output_keys,
        }

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Signature":
        return cls(
            inputs=[TensorInfo.from_json(t) for t in data["inputs"]],
            outputs=[TensorInfo.from_json(t) for t in data["outputs"]],
            input_structure=data.get("input_structure", "single"),
            output_structure=data.get("output_structure", "single"),
            output_keys=data.get("output_keys"),
        )

    def dynamic_names(self) -> List[str]:
        """Every symbolic dimension name, in first-seen order."""
        names: List[str] = []
        for t in self.inputs:
            for axis in sorted(t.dim_names):
                if t.dim_names[axis] not in names:
                    names.append(t.dim_names[axis])
        return names

    def pack_inputs(self, flat: Sequence[Any]) -> Any:
        """Arrange flat tensors (in input order) the way the Keras model takes them."""
        if self.input_structure == "dict":
            return dict(zip(self.input_names, flat))
        if self.input_structure == "list":
            return list(flat)
        return flat[0]

    def flatten_outputs(self, outputs: Any) -> List[Any]:
        """The model's outputs as a list in `output_names` order."""
        if isinstance(outputs, dict):
            return [outputs[key] for key in (self.output_keys or self.output_names)]
        if isinstance(outputs, (list, tuple)):
            return list(outputs)
        return [outputs]

    def concrete_shapes(self, sizes: Dict[str, int]) -> Dict[str, tuple]:
        """Input shapes with each dynamic axis set from `sizes` (by symbolic name)."""
        shapes = {}
        for t in self.inputs:
            shapes[t.name] = tuple(sizes[t.dim_names[i]] if d is None else d for i, d in enumerate(t.shape))
        return shapes


def _shape_list(shape: Any) -> List[Optional[int]]:
    return [None if d is None else int(d) for d in tuple(shape)]


def _standardize_dtype(dtype: Any) -> str:
    name = getattr(dtype, "name", None) or str(dtype)
    name = name.replace("torch.", "").replace("tf.", "")
    if name not in SUPPORTED_DTYPES:
        raise ValueError(
            f"Cannot export a tensor of dtype {name!r}. Supported dtypes: {', '.join(SUPPORTED_DTYPES)}."
        )
    return name


def _sanitize(name: str, used: set) -> str:
    """An artifact-safe output name (outputs are named by Keras layers, e.g. `__noise`), unique among `used`."""
    clean = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name)).lstrip("_.-0123456789") or "output"
    base, i = clean, 0
    while clean in used:
        i += 1
        clean = f"{base}_{i}"
    used.add(clean)
    return clean


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"Every exported {kind} needs a name that starts with a letter and uses only letters, digits, "
            f"'_', '.' or '-' (SavedModel signatures require it). Received: {kind} name={name!r}. "
            f"Rename the `keras.Input(name=...)` or the output layer."
        )
    return name


def signature_from_model(model: Any, dynamic_axes: Optional[Dict[str, Any]] = None) -> Signature:
    """Compute the export signature of a built functional Keras model.

    Args:
        model: keras.Model. A functional model (including `dlzoo.ZooModel`)
            or a built Sequential model.
        dynamic_axes: dict or None. See the module docstring.

    Returns:
        A `Signature`.
    """
    import keras  # lazy: keras

    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            "dlzoo.export needs a functional Keras model (or a built Sequential model) whose inputs are known. "
            f"Received: model of type {type(model).__name__} with no `inputs`. Build it with `keras.Input`s."
        )
    struct = model.input  # the structure the model was made with: a dict, a list or one tensor
    if isinstance(struct, dict):
        input_structure = "dict"
        named = list(struct.items())
    elif isinstance(struct, (list, tuple)) or len(inputs) > 1:
        input_structure = "list"
        named = [(t.name, t) for t in inputs]
    else:
        input_structure = "single"
        named = [(inputs[0].name, inputs[0])]
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"Input names must be unique for export. Received: input names={names}.")

    dynamic_axes = dict(dynamic_axes or {})
    unknown = sorted(set(dynamic_axes) - set(names))
    if unknown:
        raise ValueError(
            f"`dynamic_axes` names unknown inputs {unknown}. Received: dynamic_axes={dynamic_axes!r}. "
            f"Allowed input names: {names}."
        )
    infos = []
    for name, tensor in named:
        _check_name("input", name)
        shape = list(_shape_list(tensor.shape))
        if not shape or shape[0] is not None:
            if shape:
                shape[0] = None  # the batch axis is always dynamic
        info = TensorInfo(name=name, shape=shape, dtype=_standardize_dtype(tensor.dtype))
        spec = dynamic_axes.get(name)
        if spec is None:
            for axis, dim in enumerate(shape):
                if dim is None:
                    info.dim_names[axis] = "batch" if axis == 0 else f"{name}_{axis}"
        else:
            _apply_axes_spec(info, spec, dynamic_axes)
        infos.append(info)

    outputs_struct = getattr(model, "_outputs_struct", None)
    outputs = list(getattr(model, "outputs", None) or [])
    if isinstance(outputs_struct, dict):
        output_structure = "dict"
        out_named = list(outputs_struct.items())
    else:
        output_structure = "list" if isinstance(outputs_struct, (list, tuple)) or len(outputs) > 1 else "single"
        out_names = list(getattr(model, "output_names", None) or [])
        if len(out_names) != len(outputs) or len(set(out_names)) != len(out_names):
            out_names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
        out_named = list(zip(out_names, outputs))
    out_infos, output_keys, used = [], [], set(names)
    for key, tensor in out_named:
        name = _sanitize(key, used)  # outputs are named by layers; inputs and outputs must not share a name
        shape = _shape_list(tensor.shape)
        out_infos.append(TensorInfo(name=name, shape=shape, dtype=_standardize_dtype(tensor.dtype)))
        output_keys.append(key)
    signature = Signature(infos, out_infos, input_structure, output_structure, output_keys)
    if not dynamic_axes:
        signature = _tie_axes_if_needed(model, signature)
    return signature


def _probe(model: Any, signature: Signature) -> Optional[str]:
    """Call the model eagerly with a distinct length per dynamic axis name; the error text, or None."""
    sizes = {name: 2 if name == "batch" else 3 + i for i, name in enumerate(signature.dynamic_names())}
    data = make_inputs(signature, sizes)
    try:
        model(signature.pack_inputs([data[n] for n in signature.input_names]), training=False)
    except Exception as exc:  # any failure means the lengths are not independent
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return None


def _set_partitions(items: List[Any]):
    """Every partition of `items` into blocks (lists), finest first within the recursion order."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _set_partitions(rest):
        yield [[first]] + partition
        for i in range(len(partition)):
            yield partition[:i] + [[first] + partition[i]] + partition[i + 1:]


def _name_blocks(signature: Signature, blocks: List[List[tuple]]) -> None:
    by_input = {t.name: t for t in signature.inputs}
    all_at_one = [(n, a) for t in signature.inputs for a in t.dim_names if a == 1 for n in [t.name]]
    for block in blocks:
        name0, axis0 = block[0]
        if len(block) > 1 and axis0 == 1 and sorted(block) == sorted(all_at_one):
            dim = "sequence"
        else:
            dim = f"{name0}_{axis0}"
        for name, axis in block:
            by_input[name].dim_names[axis] = dim


_MAX_PROBED_AXES = 6


def _tie_axes_if_needed(model: Any, signature: Signature) -> Signature:
    """Find which dynamic axes the model needs equal, by calling it on sample inputs.

    By default each input's non-batch dynamic axis is independent. When the
    model rejects that (e.g. `token_ids` and `padding_mask` share the
    sequence length), the finest grouping of same-position axes under which
    the model runs is chosen, and each group shares one name (`"sequence"`
    when it holds every axis 1), which every exporter and the server then
    treat as one dimension.
    """
    axes = [(t.name, a) for t in signature.inputs for a in sorted(t.dim_names) if a != 0]
    if len(axes) < 2:
        return signature
    first_error = _probe(model, signature)
    if first_error is None:
        return signature
    positions = sorted({a for _, a in axes})
    if len(axes) > _MAX_PROBED_AXES:
        candidates = [[[x for x in axes if x[1] == p] for p in positions]]
    else:
        per_position = [list(_set_partitions([x for x in axes if x[1] == p])) for p in positions]
        candidates = [[]]
        for options in per_position:
            candidates = [c + option for c in candidates for option in options]
        candidates = sorted(candidates, key=len, reverse=True)[1:]  # the finest (all independent) already failed
    for blocks in candidates:
        _name_blocks(signature, blocks)
        if _probe(model, signature) is None:
            return signature
    raise ValueError(
        "Could not call the model on sample inputs to find its dynamic axes: with independent lengths it raised "
        f"{first_error!r}, and no grouping of same-position axes made it run. Pass `dynamic_axes=` to name the "
        "axes that must agree."
    )


def _apply_axes_spec(info: TensorInfo, spec: Any, all_specs: Dict[str, Any]) -> None:
    rank = len(info.shape)
    if isinstance(spec, (list, tuple)):
        spec = {axis: None for axis in spec}
    if not isinstance(spec, dict):
        raise TypeError(
            f"`dynamic_axes[{info.name!r}]` must be a list of axes or a dict axis -> name or size. "
            f"Received: dynamic_axes={all_specs!r}."
        )
    resolved = {}
    for axis, value in spec.items():
        if isinstance(axis, str) and axis.lstrip("-").isdigit():
            axis = int(axis)
        if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
            raise ValueError(
                f"`dynamic_axes[{info.name!r}]` has axis {axis!r}, but input {info.name!r} has rank {rank}. "
                f"Received: dynamic_axes={all_specs!r}."
            )
        resolved[axis % rank] = value
    for axis in range(rank):
        value = resolved.get(axis, "__unlisted__")
        if value == "__unlisted__":
            if axis == 0:
                info.dim_names[0] = "batch"
            elif info.shape[axis] is None:
                raise ValueError(
                    f"Input {info.name!r} axis {axis} is dynamic in the model but not listed in "
                    f"`dynamic_axes[{info.name!r}]`: list it (as a name to keep it dynamic, or an int to pin its "
                    f"size). Received: dynamic_axes={all_specs!r}."
                )
            continue
        if value is None or isinstance(value, str):
            info.shape[axis] = None
            info.dim_names[axis] = value or ("batch" if axis == 0 else f"{info.name}_{axis}")
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            if axis == 0:
                raise ValueError(
                    f"The batch axis (0) of input {info.name!r} is always dynamic; it cannot be pinned. "
                    f"Received: dynamic_axes={all_specs!r}."
                )
            if info.shape[axis] is not None and info.shape[axis] != value:
                raise ValueError(
                    f"Input {info.name!r} axis {axis} has static size {info.shape[axis]} in the model; it cannot "
                    f"be pinned to {value}. Received: dynamic_axes={all_specs!r}."
                )
            info.shape[axis] = value
        else:
            raise ValueError(
                f"`dynamic_axes[{info.name!r}][{axis}]` must be a dimension name (str), None, or a positive size. "
                f"Received: {value!r}."
            )


def make_inputs(signature: Signature, sizes: Dict[str, int], seed: int = 0) -> Dict[str, np.ndarray]:
    """Deterministic sample inputs for a signature: normal floats, ints in {0, 1}, masks keeping position 0."""
    rng = np.random.default_rng(seed)
    shapes = signature.concrete_shapes(sizes)
    data = {}
    for info in signature.inputs:
        shape = shapes[info.name]
        if info.dtype == "bool":
            mask = rng.random(shape) > 0.3
            if mask.ndim:
                mask[..., 0] = True
            data[info.name] = mask
        elif "int" in info.dtype:
            # {0, 1}: valid for any vocabulary; {0} when the batch axis has one row, so that an index into it
            # (a graph's edge list or node graph ids, whose batch axis counts nodes) stays in range.
            high = 1 if shape and shape[0] == 1 else 2
            data[info.name] = rng.integers(0, high, size=shape).astype(info.dtype)
        else:
            data[info.name] = rng.standard_normal(shape).astype(info.dtype if info.dtype != "bfloat16" else "float32")
    return data


def verification_sizes(signature: Signature, max_size: Optional[int] = None) -> List[Dict[str, int]]:
    """Three size assignments for the dynamic axes: small, a length-one edge case, and larger."""
    plan = [(1, 6), (3, 1), (2, 9)]
    cases = []
    for batch, other in plan:
        sizes = {}
        for j, name in enumerate(n for n in signature.dynamic_names() if n != "batch"):
            # independent axes get different lengths, so a swapped or tied axis would show
            size = other + j if other > 1 else 1
            sizes[name] = min(size, max_size) if max_size else size
        sizes["batch"] = batch
        cases.append(sizes)
    return cases
