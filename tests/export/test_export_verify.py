"""Export verification catches an artifact that really differs from the model, names the difference, leaves nothing.

Each artifact is tampered with after the exporter wrote it and before verification runs (the real `run_clean`
and `judge`, nothing mocked in the comparison): weights perturbed, two outputs swapped, an output narrowed to
float16. Issue 17, item 10: a `judge` that never fails must turn these tests red.
"""

import glob
import os
import tempfile

import keras
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import dlzoo
from dlzoo.export import ExportError, api, verify as verify_lib


def two_outputs():
    x = keras.Input((4,), name="x")
    a = keras.layers.Dense(3, name="a")(x)
    b = keras.layers.Dense(3, name="b", bias_initializer="ones")(x)
    return keras.Model(x, {"a": a, "b": b}, name="two_outputs")


def _rename_outputs(graph, mapping):
    for node in graph.node:
        node.output[:] = [mapping.get(n, n) for n in node.output]
        node.input[:] = [mapping.get(n, n) for n in node.input]
    for info in list(graph.value_info):
        if info.name in mapping:
            graph.value_info.remove(info)


def perturb_weights(model):
    kernel = max((i for i in model.graph.initializer if i.data_type == TensorProto.FLOAT), key=lambda i: len(i.dims) * 100 + 1)
    array = numpy_helper.to_array(kernel) + np.float32(0.05)
    kernel.CopyFrom(numpy_helper.from_array(array.astype("float32"), kernel.name))


def swap_outputs(model):
    _rename_outputs(model.graph, {"a": "a_raw", "b": "b_raw"})
    model.graph.node.extend([helper.make_node("Identity", ["b_raw"], ["a"]), helper.make_node("Identity", ["a_raw"], ["b"])])


def narrow_output(model):
    _rename_outputs(model.graph, {"a": "a_raw"})
    model.graph.node.append(helper.make_node("Cast", ["a_raw"], ["a"], to=TensorProto.FLOAT16))
    next(o for o in model.graph.output if o.name == "a").type.tensor_type.elem_type = TensorProto.FLOAT16


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (perturb_weights, r"verification failed: max abs diff \S+ > tolerance 0.0001: output '[ab]' differs by \S+ \(at input shapes"),
        (swap_outputs, r"output 'a' differs by .*; output 'b' differs by"),
        (narrow_output, r"verification failed: output 'a': artifact dtype float16 != model dtype float32"),
    ],
    ids=["weights_perturbed", "outputs_swapped", "wrong_dtype"],
)
def test_a_wrong_artifact_fails_verification_and_leaves_nothing(tmp_path, monkeypatch, tamper, expected):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    produce = api._Exporter.produce

    def produce_then_tamper(self, route, path):
        info = produce(self, route, path)
        model = onnx.load(path)
        tamper(model)
        onnx.checker.check_model(model)
        onnx.save(model, path)
        return info

    monkeypatch.setattr(api._Exporter, "produce", produce_then_tamper)
    out = tmp_path / "wrong"
    with pytest.raises(ExportError, match=expected):
        dlzoo.export(two_outputs(), out, formats=["onnx"], via=keras.backend.backend())  # one route: no fallback
    assert not out.exists()
    assert glob.glob(str(tmp_path / ".wrong.*")) == [] and os.listdir(scratch) == []


def test_the_untampered_artifact_passes(tmp_path):
    result = dlzoo.export(two_outputs(), tmp_path / "right", formats=["onnx"], via=keras.backend.backend())
    check = result.manifest["verification"]["onnx"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4 and "dtype_errors" not in check


@pytest.mark.parametrize(
    "model_dtype, artifact_dtype, bad",
    [("float32", "float32", False), ("int32", "int64", False), ("float32", "float64", False),
     ("float32", "float16", True), ("float32", "int32", True), ("bool", "int64", True)],
)
def test_dtype_problem(model_dtype, artifact_dtype, bad):
    problem = verify_lib.dtype_problem(np.dtype(model_dtype), np.dtype(artifact_dtype))
    assert (problem is not None) == bad
    if bad:
        assert problem == f"artifact dtype {artifact_dtype} != model dtype {model_dtype}"
