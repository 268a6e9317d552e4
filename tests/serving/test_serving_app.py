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
from serving_models import TABLE, expected_scores, write_onnx_export, write_token_export  # noqa: E402

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
    assert meta["limits"] == {"max_batch_size": 4, "max_body_bytes": 4096, "max_tokens": 4096,
                              "max_sequence_length": None, "id_ranges": {}}
    assert meta["runtime"]["kind"] == "onnxruntime"
    assert "/generate" not in meta["endpoints"]
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["inputs"]["required"] == ["features", "mask"]
    assert client.get("/docs").status_code == 200


def test_docs_page_says_what_to_do_offline(client):
    # Swagger UI's script and CSS come from a CDN (FastAPI ships no copy): offline the page would be blank.
    page = client.get("/docs").text
    assert "cdn.jsdelivr.net" in page and "could not reach" in page
    assert "href='/openapi.json'" in page and "href='/metadata'" in page


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


# ---------------------------------------------------------------- request cost bounded before the model runs (issue 17, item 1)
@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    directory = write_token_export(str(tmp_path_factory.mktemp("tokens")), vocabulary_size=16, max_sequence_length=8)
    return TestClient(dlzoo.to_app(directory, max_batch_size=4, max_tokens=12), raise_server_exceptions=False)


def _ids(client, ids):
    return client.post("/predict", json={"inputs": {"token_ids": ids}})


def test_token_model_limits_come_from_its_config(tokens):
    limits = tokens.get("/metadata").json()["limits"]
    assert limits["max_sequence_length"] == 8 and limits["id_ranges"] == {"token_ids": [0, 16]}
    assert limits["max_tokens"] == 12 and limits["max_batch_size"] == 4
    r = _ids(tokens, [[0, 15, 3, 4, 5, 6, 7, 8]])
    assert r.status_code == 200, r.text
    np.testing.assert_array_equal(r.json()["outputs"]["embedded"], TABLE[[[0, 15, 3, 4, 5, 6, 7, 8]]])


@pytest.mark.parametrize("length", [9, 20000])
def test_sequence_over_the_models_maximum_is_refused(tokens, length):
    r = _ids(tokens, [[1] * length])
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["type"] == "sequence_too_long" and error["input"] == "token_ids"
    assert f"length {length}" in error["message"] and "at most 8 (max_sequence_length" in error["message"]


@pytest.mark.parametrize("bad", [-1, 16, 2**31 - 1])
def test_ids_outside_the_vocabulary_are_refused(tokens, bad):
    r = _ids(tokens, [[1, bad, 2]])
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["type"] == "id_out_of_range"
    assert "outside [0, 16) (params.vocabulary_size" in error["message"] and str(bad) in error["message"]


def test_batch_times_length_over_max_tokens_is_refused(tokens):
    assert _ids(tokens, [[1] * 6] * 2).status_code == 200  # 12 tokens
    r = _ids(tokens, [[1] * 7] * 2)  # 14 tokens
    assert r.status_code == 422 and r.json()["error"]["type"] == "too_many_tokens", r.text
    assert "at most 12 per request (max_tokens)" in r.json()["error"]["message"]


def test_zoo_keras_model_gets_its_limits(tmp_path):
    client = TestClient(dlzoo.to_app(dlzoo.build("llama-tiny")), raise_server_exceptions=False)
    limits = client.get("/metadata").json()["limits"]
    assert limits["max_sequence_length"] == 128 and limits["id_ranges"] == {"token_ids": [0, 512]}
    mask = [[True] * 129]
    r = client.post("/predict", json={"inputs": {"token_ids": [[1] * 129], "padding_mask": mask}})
    assert r.status_code == 422 and r.json()["error"]["type"] == "sequence_too_long", r.text
    r = client.post("/predict", json={"inputs": {"token_ids": [[1, 512]], "padding_mask": [[True, True]]}})
    assert r.status_code == 422 and r.json()["error"]["type"] == "id_out_of_range", r.text
