"""Export dlzoo (and any functional Keras) models to SavedModel and ONNX, from every backend.

`dlzoo.export(model_or_path, out_dir, formats=("saved_model", "onnx"))`
writes verified artifacts and a `manifest.json`; `dlzoo export PATH` does
the same from the command line. See `dlzoo.export.api.export`.

Modules:
    api: `export()` and `ExportResult`.
    signature: named inputs/outputs and dynamic axes shared by every exporter.
    routes: which backend writes which format; what each route needs.
    backends: the native exporters of each backend.
    onnx_fixes: post-conversion ONNX rewrites (`Erfc`, output names).
    verify: parity with the Keras model in a clean process.
    manifest: `manifest.json`.
    matrix: the export matrix (model x format on this backend) and its table.
    examples: small reference models used by the matrix and the tests.
"""

from dlzoo.export.api import DEFAULT_TOLERANCE, ExportResult, export
from dlzoo.export.manifest import read_manifest
from dlzoo.export.routes import BACKENDS, FORMATS, ExportError, capabilities

__all__ = [
    "BACKENDS",
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "ExportError",
    "ExportResult",
    "capabilities",
    "export",
    "read_manifest",
]


# `dlzoo.export` names both this package and the function: importing the package binds the package to
# `dlzoo.export`, so the package itself is made callable; `dlzoo.export(model, "out/")` calls `export`.
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
