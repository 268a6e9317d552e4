"""`dlzoo.export` end to end on the current backend: artifacts, manifest, parity, atomicity, errors, CLI."""

import glob
import json
import os
import subprocess
import sys

import keras
import numpy as np
import onnx
import pytest

import dlzoo
from dlzoo.export import ExportError, examples, manifest as manifest_lib, verify as verify_lib
from dlzoo.export.routes import BACKENDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def two_input_export(tmp_path_factory):
    model = examples.two_input()
    out = tmp_path_factory.mktemp("exports") / "two_input"
    result = dlzoo.export(model, out)  # both formats, verified
    return model, result


def test_dlzoo_export_is_callable_and_the_package():
    import dlzoo.export as package

    assert callable(dlzoo.export) and callable(package)
    assert package.export.__name__ == "export"


def test_both_formats_with_named_inputs(two_input_export):
    model, result = two_input_export
    assert sorted(os.listdir(result.path)) == ["manifest.json", "model.onnx", "saved_model"]
    assert set(result.artifacts) == {"saved_model", "onnx"}
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest))
    assert [i["name"] for i in manifest["inputs"]] == ["latents", "timestep", "context"]
    assert [i["dtype"] for i in manifest["inputs"]] == ["float32"] * 3
    assert manifest["inputs"][0]["shape"] == [None, None, 8]
    assert manifest["inputs"][0]["dynamic_axes"] == {"0": "batch", "1": "latents_1"}
    assert manifest["outputs"] == [
        {"name": "denoised", "shape": [None, None, 8], "dtype": "float32", "dynamic_axes": {}}
    ]
    versions = manifest["versions"]
    assert versions["backend"] == keras.backend.backend() and versions["keras"] == keras.__version__
    assert versions["dlzoo"] == dlzoo.__version__ and versions["backend_version"]
    assert manifest["model"]["weights_sha256"] == manifest_lib.weights_sha256(model)
    assert manifest["model"]["num_params"] == model.count_params()
    assert manifest["model"]["config"]["name"] == "example_two_input"
    for fmt in ("saved_model", "onnx"):
        check = manifest["verification"][fmt]
        assert check["passed"] and check["max_abs_diff"] <= 1e-4
        assert check["forbidden_modules_loaded"] == []
        assert len(check["cases"]) == 3
        shapes = [c["input_shapes"]["context"] for c in check["cases"]]
        assert shapes == [[1, 7, 8], [3, 1, 8], [2, 10, 8]]
        route = manifest["artifacts"][fmt]["route"]
        assert route["backend"] in BACKENDS and route["process"] in ("in-process", "subprocess")
    # torch cannot write a SavedModel natively: it must have been re-built in another backend's subprocess
    if keras.backend.backend() == "torch":
        assert manifest["artifacts"]["saved_model"]["route"]["process"] == "subprocess"
    graph = onnx.load(str(result.path / "model.onnx")).graph
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims == {"latents": ["batch", "latents_1", 8], "timestep": ["batch", 1], "context": ["batch", "context_1", 8]}
    assert [o.name for o in graph.output] == ["denoised"]


def test_onnx_runs_with_onnxruntime_on_new_shapes(two_input_export):
    import onnxruntime as ort

    model, result = two_input_export
    session = ort.InferenceSession(str(result.artifacts["onnx"]), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    feeds = {
        "latents": rng.standard_normal((4, 3, 8)).astype("float32"),
        "timestep": rng.standard_normal((4, 1)).astype("float32"),
        "context": rng.standard_normal((4, 11, 8)).astype("float32"),
    }
    (got,) = session.run(["denoised"], feeds)
    expected = keras.ops.convert_to_numpy(model(feeds, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_exact_gelu_transformer_onnx(tmp_path):
    result = dlzoo.export(examples.transformer(), tmp_path / "t", formats="onnx")
    art = result.manifest["artifacts"]["onnx"]
    ops = {n.op_type for n in onnx.load(str(result.artifacts["onnx"])).graph.node}
    assert "Erfc" not in ops
    if art["route"]["exporter"] == "tf2onnx":
        assert any(f.startswith("Erfc(x) -> 1 - Erf(x)") for f in art["fixes"])
    assert result.manifest["verification"]["onnx"]["max_abs_diff"] <= 1e-4
    assert [c["input_shapes"]["tokens"] for c in result.manifest["verification"]["onnx"]["cases"]] == [
        [1, 6, 16], [3, 1, 16], [2, 9, 16],
    ]  # fmt: skip


def _leftovers(parent, name):
    return sorted(glob.glob(os.path.join(parent, f".{name}.*")))


def test_failed_verification_leaves_no_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(verify_lib, "judge", lambda report, atol: "max abs diff 1 > tolerance 0.0001 (forced)")
    out = tmp_path / "never"
    with pytest.raises(ExportError, match="verification failed: max abs diff 1"):
        dlzoo.export(examples.mlp(), out, formats=["onnx"], via=keras.backend.backend())  # one route only
    assert not out.exists()
    assert _leftovers(tmp_path, "never") == []


def test_missing_package_is_named_and_leaves_nothing(tmp_path, monkeypatch):
    from dlzoo.export import routes

    monkeypatch.setattr(routes, "is_installed", lambda package: package != "tensorflow")
    out = tmp_path / "nosm"
    with pytest.raises(ExportError, match="needs .*tensorflow") as info:
        dlzoo.export(examples.mlp(), out, formats=["onnx", "saved_model"])
    assert "pip install" in str(info.value)
    assert not out.exists() and _leftovers(tmp_path, "nosm") == []


def test_out_dir_rules_and_overwrite(tmp_path):
    out = tmp_path / "mlp"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        dlzoo.export(examples.mlp(), out, formats=["onnx"], verify=False)
    assert (out / "keep.txt").exists()
    result = dlzoo.export(examples.mlp(), out, formats=["onnx"], verify=False, overwrite=True)
    assert sorted(os.listdir(out)) == ["manifest.json", "model.onnx"]
    assert result.manifest["verification"] is None
    assert _leftovers(tmp_path, "mlp") == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown export format"):
        dlzoo.export(examples.mlp(), tmp_path / "a", formats=["pb"])
    with pytest.raises(ValueError, match="opset"):
        dlzoo.export(examples.mlp(), tmp_path / "a", opset=3)
    with pytest.raises(TypeError, match="model_or_path"):
        dlzoo.export(42, tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="no-such"):
        dlzoo.export(str(tmp_path / "no-such.keras"), tmp_path / "a")
    assert not (tmp_path / "a").exists()


class _Noise(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, x):
        return x + keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)


def test_random_forward_pass_is_refused(tmp_path):
    x = keras.Input((4,), name="x")
    model = keras.Model(x, _Noise()(x))
    with pytest.raises(ExportError, match="not deterministic"):
        dlzoo.export(model, tmp_path / "noise", formats=["onnx"])
    assert not (tmp_path / "noise").exists()


def test_two_tower_lcm_exports_inference_graphs_only(tmp_path):
    model = dlzoo.build("lcm-two-tower-tiny")
    with pytest.raises(ValueError, match="training graph.*denoiser"):
        dlzoo.export(model, tmp_path / "tt", formats=["onnx"])
    with pytest.raises(ValueError, match="Unknown inference graph"):
        dlzoo.export(model, tmp_path / "tt", formats=["onnx"], graph="nope")
    result = dlzoo.export(model, tmp_path / "tt", formats=["onnx"], graph="denoiser")
    names = [i["name"] for i in result.manifest["inputs"]]
    assert names == ["noisy_latents", "timesteps", "context", "context_padding_mask"]
    dims = {i["name"]: i["dynamic_axes"]["1"] for i in result.manifest["inputs"]}
    assert dims["noisy_latents"] == dims["timesteps"] != dims["context"] == dims["context_padding_mask"]
    assert result.manifest["model"]["graph"] == "denoiser"
    assert result.manifest["verification"]["onnx"]["max_abs_diff"] <= 1e-4


def test_cli_export(tmp_path):
    path = tmp_path / "mlp.keras"
    examples.mlp().save(path)
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "dlzoo", "export", str(path), "--format", "onnx", "--no-verify"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "mlp-export"
    assert sorted(os.listdir(out)) == ["manifest.json", "model.onnx"]
    assert "model.onnx" in proc.stdout
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "pass --overwrite" in again.stderr and "overwrite=True" not in again.stderr


# ------------------------------------------------------------ no debris after a kill (issue 17, item 7)
KILLED_EXPORT = r"""
import sys, time
import dlzoo
from dlzoo.export import api, examples

def stuck(self, route, path):
    open(path, "w").write("half an artifact")
    print("READY", flush=True)
    time.sleep(120)

api._Exporter.produce = stuck
dlzoo.export(examples.mlp(), sys.argv[1], formats=["onnx"], verify=False)
"""


@pytest.mark.slow
def test_sigterm_during_export_leaves_no_debris(tmp_path):
    import signal

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "exports" / "mlp"
    env = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=str(tmp), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()[-2000:]
        assert _leftovers(out.parent, "mlp") and list(tmp.glob("dlzoo-export-*"))  # the export is under way
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    assert not out.exists() and _leftovers(out.parent, "mlp") == []
    assert list(tmp.iterdir()) == []


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_next_export_removes_what_a_killed_export_left(tmp_path, monkeypatch):
    import tempfile

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    dead, alive = _dead_pid(), os.getppid()
    stale = [tmp_path / f".mlp.partial-{dead}-abc", tmp / f"dlzoo-export-{dead}-def"]
    kept = [tmp_path / f".mlp.partial-{alive}-ghi", tmp / f"dlzoo-export-{alive}-jkl", tmp_path / f".other.partial-{dead}-x"]
    for path in stale + kept:
        path.mkdir()
        (path / "model.keras").write_bytes(b"x" * 1000)
    dlzoo.export(examples.mlp(), tmp_path / "mlp", formats=["onnx"], verify=False)
    assert [p for p in stale if p.exists()] == []
    assert all(p.exists() for p in kept), "a live process's export and another target's debris stay"
    assert sorted(os.listdir(tmp_path / "mlp")) == ["manifest.json", "model.onnx"]
