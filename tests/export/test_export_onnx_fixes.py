"""ONNX post-conversion fixes: Erfc rewrite (checked by running onnxruntime), output names, bad-op detection."""

import math

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from dlzoo.export import onnx_fixes
from dlzoo.export.signature import Signature, TensorInfo
from dlzoo.testing import TestCase


def _erfc_graph():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("Identity:0", TensorProto.FLOAT, ["batch", 3])
    nodes = [
        helper.make_node("Erfc", ["x"], ["e"], name="gelu/Erfc"),
        helper.make_node("Identity", ["e"], ["Identity:0"], name="out"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)


def _signature():
    return Signature(
        inputs=[TensorInfo("x", [None, 3], "float32", {0: "batch"})],
        outputs=[TensorInfo("erfc_out", [None, 3], "float32")],
    )


class OnnxFixesTest(TestCase):
    def test_erfc_graph_is_rejected_before_the_fix(self):
        self.assertEqual(onnx_fixes.nonstandard_ops(_erfc_graph()), ["Erfc"])

    def test_erfc_rewrite_matches_erfc(self):
        model = _erfc_graph()
        self.assertEqual(onnx_fixes.replace_erfc(model), 1)
        self.assertEqual(onnx_fixes.nonstandard_ops(model), [])
        ops = [n.op_type for n in model.graph.node]
        self.assertNotIn("Erfc", ops)
        self.assertIn("Erf", ops)
        onnx.checker.check_model(model)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = np.array([[-3.0, -0.5, 0.0], [0.25, 1.0, 4.0]], dtype="float32")
        (got,) = session.run(None, {"x": x})
        expected = np.vectorize(math.erfc)(x.astype("float64"))
        np.testing.assert_allclose(got, expected, atol=1e-6)

    def test_finalize_names_outputs_and_dims(self):
        path = self.get_temp_path("m.onnx")
        onnx.save(_erfc_graph(), path)
        info = onnx_fixes.finalize(path, _signature())
        self.assertEqual(info["opset"], 15)
        self.assertEqual(len(info["fixes"]), 2)
        self.assertIn("Erfc(x) -> 1 - Erf(x) (1 node)", info["fixes"])
        model = onnx.load(path)
        self.assertEqual([o.name for o in model.graph.output], ["erfc_out"])
        self.assertEqual(model.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "batch")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.assertEqual([o.name for o in session.get_outputs()], ["erfc_out"])

    def test_unknown_operator_raises(self):
        model = _erfc_graph()
        model.graph.node[0].op_type = "StatelessRandomNormalV2"
        path = self.get_temp_path("bad.onnx")
        onnx.save(model, path)
        with self.assertRaisesNamed(RuntimeError, "StatelessRandomNormalV2", "not part of the ONNX standard"):
            onnx_fixes.finalize(path, _signature())

    def get_temp_path(self, name):
        import tempfile

        directory = tempfile.mkdtemp(prefix="dlzoo-onnx-fixes-")
        self.addCleanup(__import__("shutil").rmtree, directory, True)
        return f"{directory}/{name}"

    def test_output_named_like_an_intermediate_tensor(self):
        # tf2onnx keeps TensorFlow op names: an intermediate tensor may already carry the output's name.
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
        y = helper.make_tensor_value_info("Identity:0", TensorProto.FLOAT, ["batch", 3])
        nodes = [
            helper.make_node("Relu", ["x"], ["sequence_output"], name="relu"),
            helper.make_node("Neg", ["sequence_output"], ["n"], name="neg"),
            helper.make_node("Identity", ["n"], ["Identity:0"], name="out"),
        ]
        model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                                  opset_imports=[helper.make_opsetid("", 15)], ir_version=8)
        self.assertEqual(onnx_fixes.name_outputs(model, ["sequence_output"]), 1)
        onnx.checker.check_model(model)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        self.assertEqual([o.name for o in session.get_outputs()], ["sequence_output"])
        data = np.array([[-1.0, 0.5, 2.0]], "float32")
        np.testing.assert_array_equal(session.run(None, {"x": data})[0], -np.maximum(data, 0))
        with self.assertRaisesNamed(ValueError, "'x'"):
            onnx_fixes.name_outputs(model, ["x"])

    def test_outputs_with_the_right_names_in_another_order_are_reordered(self):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3]) for n in ("b", "a")]
        nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"])]
        model = helper.make_model(helper.make_graph(nodes, "g", [x], outs),
                                  opset_imports=[helper.make_opsetid("", 15)], ir_version=8)
        self.assertEqual(onnx_fixes.name_outputs(model, ["a", "b"]), 0)
        self.assertEqual([o.name for o in model.graph.output], ["a", "b"])
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        data = np.array([[-1.0, 0.5, 2.0]], "float32")
        relu, neg = session.run(None, {"x": data})
        np.testing.assert_array_equal(relu, np.maximum(data, 0))
        np.testing.assert_array_equal(neg, -data)
