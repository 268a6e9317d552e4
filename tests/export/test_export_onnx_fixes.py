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
