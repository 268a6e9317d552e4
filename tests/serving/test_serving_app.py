"""`dlzoo.to_app` in-process: predict, metadata, health, OpenAPI, errors, the text hook, Keras models."""

import json
import os
import sys

import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient

import dlzoo
from dlzoo.export import examples
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serving_models import expected_scores, write_onnx_export  # noqa: E402

FEATURES = [[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]]]
MASK = [[True, True, False]]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return write_onnx_export(str(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def client(export_dir):
    return TestClient(dlzoo.to_app(export_dir, max_batch_size=4, max_body_bytes=4096), raise_server_exceptions=False)


def test_predict(client):
    r = client.post("/predict", json={"inputs": {"features": FEATURES, "mask": MASK}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["batch_size"] == 1
    np.testing.assert_allclose(body["outputs"]["scores"], expected_scores(FEATURES, MASK), atol=1e-6)


def test_health_metadata_openapi(client, export_dir):
    assert client.get("/health").json() == {"status": "ok", "model": "tiny-scorer", "runtime": "onnxruntime"}
    meta = client.get("/metadata").json()
    assert meta["model"]["config"] == {"name": "tiny-scorer", "units": 2}
    assert [i["name"] for i in meta["signature"]["inputs"]] == ["features", "mask"]
    assert meta["manifest"]["format_version"] == 1
    assert meta["limits"] == {"max_batch_size": 4, "max_body_bytes": 4096}
    assert meta["runtime"]["kind"] == "onnxruntime"
    assert "/generate" not in meta["endpoints"]
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["inputs"]["required"] == ["features", "mask"]
    assert client.get("/docs").status_code == 200


BAD = [
    (b"not json", 400, "invalid_json"),
    (json.dumps({"inputs": {"features": FEATURES}}).encode(), 422, "missing_input"),
    (json.dumps({"inputs": {"features": FEATURES, "mask": MASK, "other": [1]}}).encode(), 422, "unknown_input"),
    (json.dumps({"inputs": {"features": [[[1, 0, 0]]], "mask": [[True]]}}).encode(), 422, "wrong_shape"),
    (json.dumps({"inputs": {"features": [[["a"] * 4]], "mask": [[True]]}}).encode(), 422, "wrong_dtype"),
    (json.dumps({"inputs": {"features": FEATURES, "mask": [[True, True]]}}).encode(), 422, "dimension_mismatch"),
    (json.dumps({"inputs": {"features": [[[0] * 4]] * 5, "mask": [[True]] * 5}}).encode(), 422, "batch_too_large"),
    (b"[" + b"0, " * 3000 + b"0]", 413, "body_too_large"),
]


@pytest.mark.parametrize("body, status, kind", BAD)
def test_bad_requests_get_4xx_json(client, body, status, kind):
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == kind and error["message"]


def test_unknown_route_and_method(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    r = client.get("/predict")
    assert r.status_code == 405 and r.json()["error"]["type"] == "method_not_allowed"


def test_still_serving_after_bad_requests(client):
    for body, _, _ in BAD:
        client.post("/predict", content=body)
    r = client.post("/predict", json={"inputs": {"features": FEATURES, "mask": MASK}})
    assert r.status_code == 200


class EchoPipeline:
    def __init__(self):
        self.calls = []

    def generate(self, texts, max_sentences=1):
        self.calls.append(list(texts))
        if max_sentences < 1:
            raise ValueError("max_sentences must be >= 1")
        return [[f"next after {t if isinstance(t, str) else t[-1]}"] * max_sentences for t in texts]


def test_generate_hook(export_dir):
    pipeline = EchoPipeline()
    client = TestClient(dlzoo.to_app(export_dir, text_pipeline=pipeline, max_batch_size=2), raise_server_exceptions=False)
    r = client.post("/generate", json={"documents": ["Hello world.", ["A.", "B."]], "options": {"max_sentences": 2}})
    assert r.status_code == 200, r.text
    assert r.json() == {"generations": [["next after Hello world."] * 2, ["next after B."] * 2]}
    assert pipeline.calls == [["Hello world.", ["A.", "B."]]]
    assert "/generate" in client.get("/metadata").json()["endpoints"]
    for body, kind in [
        ({"documents": []}, "invalid_documents"),
        ({"documents": [1]}, "invalid_documents"),
        ({"documents": ["a", "b", "c"]}, "batch_too_large"),
        ({"texts": ["a"]}, "unknown_field"),
        ({"documents": ["a"], "options": {"max_sentences": 0}}, "pipeline_rejected_input"),
        ({"documents": ["a"], "options": {"bogus": 1}}, "pipeline_rejected_input"),
    ]:
        r = client.post("/generate", json=body)
        assert r.status_code == 422 and r.json()["error"]["type"] == kind, (body, r.text)
    assert client.post("/generate", content=b"{").status_code == 400


def test_generate_absent_without_pipeline(client):
    assert client.post("/generate", json={"documents": ["a"]}).status_code == 404


def test_keras_model_on_current_backend(tmp_path):
    model = examples.two_input()
    client = TestClient(dlzoo.to_app(model), raise_server_exceptions=False)
    rng = np.random.default_rng(0)
    feeds = {
        "latents": rng.standard_normal((2, 3, 8)).astype("float32"),
        "timestep": rng.standard_normal((2, 1)).astype("float32"),
        "context": rng.standard_normal((2, 5, 8)).astype("float32"),
    }
    r = client.post("/predict", json={"inputs": {k: v.tolist() for k, v in feeds.items()}})
    assert r.status_code == 200, r.text
    expected = keras.ops.convert_to_numpy(model(feeds, training=False))
    np.testing.assert_allclose(r.json()["outputs"]["denoised"], expected, atol=1e-5)
    meta = client.get("/metadata").json()
    assert meta["runtime"]["kind"] == "keras" and meta["runtime"]["backend"] == keras.backend.backend()
    # a .keras file works the same, and a mismatched backend is refused with advice
    path = tmp_path / "m.keras"
    model.save(path)
    assert TestClient(dlzoo.to_app(str(path))).get("/health").status_code == 200
    other = next(b for b in ("tensorflow", "torch", "jax") if b != keras.backend.backend())
    with pytest.raises(ValueError, match=f"cannot switch backends.*KERAS_BACKEND={other}"):
        dlzoo.to_app(str(path), backend=other)


def test_to_app_argument_errors(export_dir, tmp_path):
    with pytest.raises(ValueError, match="export directory is served with"):
        dlzoo.to_app(export_dir, backend="torch")
    with pytest.raises(FileNotFoundError, match="saved_model"):
        dlzoo.to_app(export_dir, backend="saved_model")
    with pytest.raises(FileNotFoundError, match="no such file"):
        dlzoo.to_app(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="max_batch_size"):
        dlzoo.to_app(export_dir, max_batch_size=0)
    with pytest.raises(TypeError, match="text_pipeline"):
        dlzoo.to_app(export_dir, text_pipeline=object())
    with pytest.raises(TypeError, match="model_or_export_dir"):
        dlzoo.to_app(3)


def test_onnx_without_manifest(tmp_path):
    directory = write_onnx_export(str(tmp_path / "bare"), with_manifest=False)
    client = TestClient(dlzoo.to_app(directory + "/model.onnx"))
    meta = client.get("/metadata").json()
    assert meta["manifest"] is None
    assert meta["signature"]["inputs"][1] == {"name": "mask", "shape": [None, None], "dtype": "bool", "dynamic_axes": {"0": "batch", "1": "seq"}}
    r = client.post("/predict", json={"inputs": {"features": FEATURES, "mask": MASK}})
    np.testing.assert_allclose(r.json()["outputs"]["scores"], expected_scores(FEATURES, MASK), atol=1e-6)
