"""Serving an ONNX export imports neither dlzoo's package, nor Keras, nor any backend (checked in a subprocess)."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BOOT = os.path.join(ROOT, "dlzoo", "serving", "_boot.py")

SCRIPT = r"""
import json, runpy, sys
boot = runpy.run_path(sys.argv[1])          # loads dlzoo/serving as the standalone package `_dlzoo_serving`
serving = sys.modules["_dlzoo_serving"]
from starlette.testclient import TestClient
client = TestClient(serving.to_app(sys.argv[2]))
features = [[[1, 0, 0, 0], [0, 1, 0, 0]]]
response = client.post("/predict", json={"inputs": {"features": features, "mask": [[True, True]]}})
meta = client.get("/metadata").json()
print(json.dumps({
    "status": response.status_code,
    "scores": response.json()["outputs"]["scores"],
    "loaded": sorted({m.split(".")[0] for m in sys.modules} & {"dlzoo", "keras", "tensorflow", "torch", "jax", "jaxlib"}),
    "reported": meta["loaded_frameworks"],
}))
"""


def test_onnx_app_does_not_import_keras_or_backends(tmp_path):
    sys.path.insert(0, HERE)
    from serving_models import expected_scores, write_onnx_export

    directory = write_onnx_export(str(tmp_path / "tiny"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, BOOT, directory], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    assert result["loaded"] == [] and result["reported"] == []
    expected = expected_scores([[[1, 0, 0, 0], [0, 1, 0, 0]]], [[True, True]])
    assert abs(sum(map(sum, result["scores"][0])) - float(expected.sum())) < 1e-5
