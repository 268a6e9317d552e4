"""Route planning: which backend writes which format, and the errors when nothing can."""

import pytest

from dlzoo.export import routes
from dlzoo.export.routes import ExportError


def test_formats_are_validated_and_aliased():
    assert routes.normalize_formats("onnx") == ["onnx"]
    assert routes.normalize_formats(["tf_saved_model", "onnx", "onnx"]) == ["saved_model", "onnx"]
    with pytest.raises(ValueError, match="Unknown export format 'tflite'"):
        routes.normalize_formats(["tflite"])
    with pytest.raises(ValueError, match="non-empty"):
        routes.normalize_formats([])


@pytest.mark.parametrize(
    "fmt, backend, expected",
    [
        ("saved_model", "tensorflow", [("tensorflow", False), ("jax", True)]),
        ("saved_model", "jax", [("jax", False), ("tensorflow", True)]),
        ("saved_model", "torch", [("tensorflow", True), ("jax", True)]),
        ("onnx", "torch", [("torch", False), ("tensorflow", True)]),
        ("onnx", "tensorflow", [("tensorflow", False), ("torch", True)]),
        ("onnx", "jax", [("jax", False), ("torch", True), ("tensorflow", True)]),
    ],
)
def test_plan_orders_routes(fmt, backend, expected):
    plan = routes.plan(fmt, backend)
    assert [(r.backend, r.subprocess) for r in plan] == expected
    assert all(r.format == fmt for r in plan)


def test_torch_saved_model_is_a_tensorflow_rebuild():
    route = routes.plan("saved_model", "torch")[0]
    assert route.subprocess and route.backend == "tensorflow"
    assert "subprocess" in route.describe()


def test_missing_packages_name_what_to_install(monkeypatch):
    monkeypatch.setattr(routes, "is_installed", lambda package: package not in ("tf2onnx", "torch"))
    with pytest.raises(ExportError, match="tf2onnx") as info:
        routes.plan("onnx", "tensorflow")
    assert "torch" in str(info.value) and "pip install" in str(info.value)
    monkeypatch.setattr(routes, "is_installed", lambda package: package != "onnxruntime")
    with pytest.raises(ExportError, match="onnxruntime.*verify=False"):
        routes.check_verify_requirements("onnx")


def test_via_validation():
    assert routes.normalize_via("tensorflow", ["onnx"]) == {"onnx": "tensorflow"}
    assert routes.normalize_via({"tf_saved_model": "jax"}, ["saved_model"]) == {"saved_model": "jax"}
    with pytest.raises(ExportError, match="torch backend cannot write 'saved_model'.*tensorflow"):
        routes.normalize_via({"saved_model": "torch"}, ["saved_model"])
    with pytest.raises(ValueError, match="Unknown backend"):
        routes.normalize_via({"onnx": "mxnet"}, ["onnx"])


def test_capabilities_cover_every_cell():
    table = routes.capabilities()
    assert set(table) == set(routes.FORMATS)
    for fmt in routes.FORMATS:
        assert set(table[fmt]) == set(routes.BACKENDS)
        assert all(not cell.startswith("unavailable") for cell in table[fmt].values())
