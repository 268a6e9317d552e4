"""The real server: `dlzoo serve` on loopback in a subprocess, spoken to over HTTP; plus a short load run."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

import dlzoo
from dlzoo.export import examples

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serving_models import write_token_export  # noqa: E402


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = examples.two_input()
    out = tmp_path_factory.mktemp("serve") / "two_input"
    dlzoo.export(model, out, formats=["onnx"], verify=False)
    return model, str(out)


@pytest.fixture(scope="module")
def server(exported):
    _, directory = exported
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "dlzoo", "serve", directory, "--host", "127.0.0.1", "--port", str(port),
           "--workers", "2", "--max-batch-size", "8", "--max-body-bytes", "65536", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}: {proc.stderr.read()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("server did not become healthy in 240 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_predict_over_http_matches_the_model(exported, server):
    import keras

    model, _ = exported
    rng = np.random.default_rng(3)
    feeds = {
        "latents": rng.standard_normal((3, 4, 8)).astype("float32"),
        "timestep": rng.standard_normal((3, 1)).astype("float32"),
        "context": rng.standard_normal((3, 2, 8)).astype("float32"),
    }
    r = httpx.post(server + "/predict", json={"inputs": {k: v.tolist() for k, v in feeds.items()}}, timeout=60)
    assert r.status_code == 200, r.text
    expected = keras.ops.convert_to_numpy(model(feeds, training=False))
    np.testing.assert_allclose(np.array(r.json()["outputs"]["denoised"]), expected, atol=1e-4)


@pytest.mark.slow
def test_metadata_health_openapi_and_no_keras(server):
    meta = httpx.get(server + "/metadata", timeout=30).json()
    assert meta["runtime"]["kind"] == "onnxruntime"
    assert meta["loaded_frameworks"] == []  # the server process has neither dlzoo's package nor Keras nor a backend
    assert meta["limits"] == {"max_batch_size": 8, "max_body_bytes": 65536, "max_tokens": 4096,
                              "max_sequence_length": None, "id_ranges": {}}
    assert [i["name"] for i in meta["signature"]["inputs"]] == ["latents", "timestep", "context"]
    assert meta["manifest"]["model"]["name"] == "example_two_input"
    assert httpx.get(server + "/health", timeout=30).json()["status"] == "ok"
    assert "/predict" in httpx.get(server + "/openapi.json", timeout=30).json()["paths"]
    assert httpx.get(server + "/docs", timeout=30).status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize(
    "body, status, kind",
    [
        (b"{not json", 400, "invalid_json"),
        (json.dumps({"inputs": {"latents": [[[0] * 8]], "timestep": [[0]]}}).encode(), 422, "missing_input"),
        (json.dumps({"inputs": {"latents": [[[0] * 7]], "timestep": [[0]], "context": [[[0] * 8]]}}).encode(), 422, "wrong_shape"),
        (json.dumps({"inputs": {"latents": [[["x"] * 8]], "timestep": [[0]], "context": [[[0] * 8]]}}).encode(), 422, "wrong_dtype"),
        (json.dumps({"inputs": {"latents": [[[0] * 8]] * 9, "timestep": [[0]] * 9, "context": [[[0] * 8]] * 9}}).encode(), 422, "batch_too_large"),
        (b" " * 70000, 413, "body_too_large"),
    ],
)
def test_bad_requests_over_http(server, body, status, kind):
    r = httpx.post(server + "/predict", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == kind


@pytest.mark.slow
def test_short_load_run_has_no_5xx(server):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "load_test.py"), "--url", server, "--requests", "200", "--concurrency", "8", "--json"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["requests"] == 200 and result["server_errors_5xx"] == 0 and result["unexpected"] == 0
    assert result["status_histogram"]["200"] == 180
    assert set(result["by_kind"]) >= {"valid", "not_json", "missing_input", "wrong_shape", "wrong_dtype", "body_too_large"}


@pytest.mark.slow
def test_costly_requests_are_refused_and_server_memory_stays_flat(tmp_path):
    """Over-long, 20,000-token, out-of-vocabulary and over-max-tokens requests: 422, and no memory growth (issue 17, item 1)."""
    directory = write_token_export(str(tmp_path / "tokens"), vocabulary_size=16, max_sequence_length=8)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "load_test.py"), "--serve", directory, "--requests", "330",
         "--concurrency", "8", "--malformed", "0.5", "--max-tokens", "64", "--json"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["target"]["limits"]["max_sequence_length"] == 8
    for kind in ("sequence_too_long", "oversized_sequence", "id_out_of_range", "too_many_tokens"):
        assert set(result["by_kind"][kind]) == {"422"}, (kind, result["by_kind"])
    memory = result["server_memory"]
    assert memory["after"]["rss_mib"] - memory["before"]["rss_mib"] < 100, memory


def test_serve_help_documents_every_option(capsys):
    from dlzoo.cli import main

    assert main(["serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--log-level" in text and "uvicorn's log level" in text
    assert "--max-tokens" in text and "--max-batch" in text and "Content-Length" in text
    assert main(["serve", ROOT, "--max-tokens", "0"]) == 2
    assert "--max-tokens must be >= 1. Received: --max-tokens 0." in capsys.readouterr().err
