"""Post-conversion fixes of ONNX graphs, with the `onnx` package only.

* `Erfc` (emitted by tf2onnx for TensorFlow's exact GELU, `0.5 * x *
  erfc(-x / sqrt(2))`) is not an ONNX operator, so onnxruntime rejects the
  model. It is rewritten as `1 - Erf(x)`, the same function; the model's math
  does not change.
* Outputs get the model's output names (tf2onnx names them `Identity:0`...).
* Inputs' dynamic axes get the signature's symbolic names (`batch`, ...), so
  every exporter's artifact reads the same.
* Any operator left that is not in the ONNX standard raises, so a caller can
  try another route instead of writing an artifact nothing can run.
"""

from typing import Any, Dict, List

import numpy as np

from dlzoo.export.signature import Signature

_ONNX_DTYPE_TO_NUMPY = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}


def _unique(graph_names: set, base: str) -> str:
    name, i = base, 0
    while name in graph_names:
        i += 1
        name = f"{base}_{i}"
    graph_names.add(name)
    return name


def _all_names(graph) -> set:
    names = {v.name for v in list(graph.input) + list(graph.output) + list(graph.value_info)}
    names |= {init.name for init in graph.initializer}
    for node in graph.node:
        names |= set(node.input) | set(node.output)
        if node.name:
            names.add(node.name)
    return names


def _elem_types(model) -> Dict[str, int]:
    import onnx  # lazy: optional dependency (onnx)

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference is only a hint for the constant's dtype
        inferred = model
    graph = inferred.graph
    types = {}
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        if v.type.HasField("tensor_type"):
            types[v.name] = v.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    return types


def replace_erfc(model) -> int:
    """Rewrite every `Erfc(x)` node as `Sub(1, Erf(x))`. Returns the number rewritten."""
    import onnx  # lazy: optional dependency (onnx)
    from onnx import helper, numpy_helper  # lazy: optional dependency (onnx)

    graph = model.graph
    erfc_nodes = [n for n in graph.node if n.op_type == "Erfc" and n.domain in ("", "ai.onnx")]
    if not erfc_nodes:
        return 0
    types = _elem_types(model)
    names = _all_names(graph)
    new_nodes = []
    for node in graph.node:
        if node not in erfc_nodes:
            new_nodes.append(node)
            continue
        (x,), (y,) = node.input, node.output
        np_dtype = _ONNX_DTYPE_TO_NUMPY.get(types.get(x, 1), "float32")
        one_name = _unique(names, f"{node.name or 'erfc'}/one")
        erf_name = _unique(names, f"{node.name or 'erfc'}/erf")
        if np_dtype == "bfloat16":
            one = helper.make_tensor(one_name, onnx.TensorProto.BFLOAT16, [], [1.0])
        else:
            one = numpy_helper.from_array(np.array(1.0, dtype=np_dtype), one_name)
        new_nodes.append(helper.make_node("Constant", [], [one_name], value=one, name=_unique(names, one_name + "_c")))
        new_nodes.append(helper.make_node("Erf", [x], [erf_name], name=_unique(names, erf_name + "_op")))
        new_nodes.append(helper.make_node("Sub", [one_name, erf_name], [y], name=_unique(names, f"{node.name}/sub")))
    del graph.node[:]
    graph.node.extend(new_nodes)
    return len(erfc_nodes)


def onnx_copy(message):
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def _rename_tensor(graph, old: str, new: str) -> None:
    """Rename an intermediate tensor everywhere it appears (node inputs/outputs, value_info, initializers)."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
    for info in graph.value_info:
        if info.name == old:
            info.name = new
    for init in graph.initializer:
        if init.name == old:
            init.name = new


def name_outputs(model, output_names: List[str]) -> int:
    """Give graph outputs the model's names, through Identity nodes. Returns how many were renamed."""
    from onnx import helper  # lazy: optional dependency (onnx)

    graph = model.graph
    if len(graph.output) != len(output_names):
        raise ValueError(
            f"The ONNX graph has {len(graph.output)} outputs but the model has {len(output_names)} "
            f"({output_names})."
        )
    current = [o.name for o in graph.output]
    if current != list(output_names) and sorted(current) == sorted(output_names):
        # The right names in another order (tf2onnx sorts a dict's outputs): put them in the model's order.
        by_name = {o.name: onnx_copy(o) for o in graph.output}
        del graph.output[:]
        graph.output.extend(by_name[name] for name in output_names)
        return 0
    names = _all_names(graph)
    renamed = 0
    for out, wanted in zip(graph.output, output_names):
        if out.name == wanted:
            continue
        if wanted in names:
            if wanted in {v.name for v in graph.input} | {o.name for o in graph.output}:
                raise ValueError(f"Cannot name an ONNX output {wanted!r}: a graph input or output has that name.")
            # An intermediate tensor has the name (tf2onnx keeps TensorFlow's op names): move it aside.
            _rename_tensor(graph, wanted, _unique(names, f"{wanted}/inner"))
        graph.node.append(helper.make_node("Identity", [out.name], [wanted], name=_unique(names, f"{wanted}/identity")))
        names.add(wanted)
        out.name = wanted
        renamed += 1
    return renamed


def name_input_dims(model, signature: Signature) -> None:
    """Write the signature's static sizes and symbolic dynamic-axis names on the graph inputs."""
    by_name = {t.name: t for t in signature.inputs}
    graph_inputs = [v for v in model.graph.input if v.name not in {i.name for i in model.graph.initializer}]
    missing = sorted(set(by_name) - {v.name for v in graph_inputs})
    if missing:
        raise ValueError(
            f"The ONNX graph lacks inputs {missing}; it has {[v.name for v in graph_inputs]}."
        )
    for v in graph_inputs:
        info = by_name.get(v.name)
        if info is None:
            continue
        dims = v.type.tensor_type.shape.dim
        if len(dims) != len(info.shape):
            continue
        for axis, (dim, size) in enumerate(zip(dims, info.shape)):
            if size is None:
                dim.Clear()
                dim.dim_param = info.dim_names.get(axis, f"{info.name}_{axis}")
    # Intermediate shape annotations may carry the converter's own symbols; they are optional hints.
    del model.graph.value_info[:]


def nonstandard_ops(model) -> List[str]:
    """Operators of the default domain that the ONNX standard does not define."""
    import onnx  # lazy: optional dependency (onnx)

    bad = set()

    def visit(graph):
        for node in graph.node:
            if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
                bad.add(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for g in attr.graphs:
                    visit(g)

    visit(model.graph)
    return sorted(bad)


def finalize(path: str, signature: Signature) -> Dict[str, Any]:
    """Apply every fix to the ONNX file at `path` in place; check it; return what was done."""
    import onnx  # lazy: optional dependency (onnx)

    model = onnx.load(path)
    fixes = []
    count = replace_erfc(model)
    if count:
        fixes.append(f"Erfc(x) -> 1 - Erf(x) ({count} node{'s' if count > 1 else ''})")
    if name_outputs(model, signature.output_names):
        fixes.append("outputs named after the model's outputs")
    name_input_dims(model, signature)
    bad = nonstandard_ops(model)
    if bad:
        raise RuntimeError(
            f"The converter left operators that are not part of the ONNX standard: {bad}; onnxruntime cannot run "
            f"this graph."
        )
    onnx.checker.check_model(model)
    large = model.ByteSize() > 1_800_000_000
    onnx.save_model(model, path, save_as_external_data=large, location="model.onnx.data" if large else None)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    return {"fixes": fixes, "opset": opset}
