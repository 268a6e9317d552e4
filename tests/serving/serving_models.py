"""A tiny hand-made ONNX model (no exporter, no backend) for the serving tests.

`features (batch, seq, 4) float32`, `mask (batch, seq) bool` ->
`scores (batch, seq, 2) = (features @ W) * mask` with a fixed `W`; the two
inputs share the dimension names `batch` and `seq`.
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WEIGHTS = np.arange(8, dtype="float32").reshape(4, 2) / 10.0


def expected_scores(features, mask):
    return (np.asarray(features, "float32") @ WEIGHTS) * np.asarray(mask, "float32")[..., None]


def write_onnx_export(directory, with_manifest=True):
    os.makedirs(directory, exist_ok=True)
    features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "seq", 4])
    mask = helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", "seq"])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "seq", 2])
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["proj"]),
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axes"], ["mask3"]),
        helper.make_node("Mul", ["proj", "mask3"], ["scores"]),
    ]
    inits = [numpy_helper.from_array(WEIGHTS, "W"), numpy_helper.from_array(np.array([-1], dtype="int64"), "axes")]
    graph = helper.make_graph(nodes, "tiny", [features, mask], [scores], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(directory, "model.onnx"))
    if with_manifest:
        manifest = {
            "format_version": 1,
            "model": {"name": "tiny-scorer", "graph": None, "num_params": 8, "config": {"name": "tiny-scorer", "units": 2}},
            "inputs": [
                {"name": "features", "shape": [None, None, 4], "dtype": "float32", "dynamic_axes": {"0": "batch", "1": "seq"}},
                {"name": "mask", "shape": [None, None], "dtype": "bool", "dynamic_axes": {"0": "batch", "1": "seq"}},
            ],
            "outputs": [{"name": "scores", "shape": [None, None, 2], "dtype": "float32", "dynamic_axes": {}}],
            "artifacts": {"onnx": {"path": "model.onnx"}},
            "verification": None,
        }
        with open(os.path.join(directory, "manifest.json"), "w") as f:
            json.dump(manifest, f)
    return directory


TABLE = np.arange(32, dtype="float32").reshape(16, 2)


def write_token_export(directory, vocabulary_size=16, max_sequence_length=8):
    """`token_ids (batch, sequence) int32` -> `embedded = TABLE[token_ids]`, with a zoo-style config in the manifest.

    ONNX `Gather` wraps negative ids (-1 is the last row): without a range check a client gets wrong rows silently.
    """
    os.makedirs(directory, exist_ok=True)
    token_ids = helper.make_tensor_value_info("token_ids", TensorProto.INT32, ["batch", "sequence"])
    embedded = helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["batch", "sequence", 2])
    nodes = [helper.make_node("Gather", ["table", "token_ids"], ["embedded"], axis=0)]
    graph = helper.make_graph(nodes, "tokens", [token_ids], [embedded], initializer=[numpy_helper.from_array(TABLE[:vocabulary_size], "table")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(directory, "model.onnx"))
    config = {"name": "tiny-tokens", "model": "toy", "params": {"vocabulary_size": vocabulary_size,
              "max_sequence_length": max_sequence_length}, "extensions": []}
    manifest = {
        "format_version": 1,
        "model": {"name": "tiny-tokens", "graph": None, "num_params": int(TABLE[:vocabulary_size].size), "config": config},
        "inputs": [{"name": "token_ids", "shape": [None, None], "dtype": "int32", "dynamic_axes": {"0": "batch", "1": "sequence"}}],
        "outputs": [{"name": "embedded", "shape": [None, None, 2], "dtype": "float32", "dynamic_axes": {}}],
        "artifacts": {"onnx": {"path": "model.onnx"}},
        "verification": None,
    }
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return directory
