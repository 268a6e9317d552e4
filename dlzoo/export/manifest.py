"""The `manifest.json` written beside exported artifacts, and its pieces.

The manifest is what a server or a reviewer reads to know what an export
holds without loading a framework: input/output names, shapes and dtypes,
dynamic axes, the versions that produced it, the resolved model config, a
hash of the weights, how each artifact was produced and its measured parity
per input shape. `read_manifest` is pure Python (no NumPy, no Keras).
"""

import datetime
import hashlib
import importlib.metadata
import json
import math
import os
import platform
from typing import Any, Dict, Optional

import numpy as np

import dlzoo

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
WEIGHTS_HASH_METHOD = (
    "sha256 over model.weights in order: for each, its path, dtype and shape as UTF-8 text, then its values "
    "as little-endian bytes (C order)"
)


def weights_sha256(model: Any) -> str:
    """A backend-independent hash of the model's weights (see `WEIGHTS_HASH_METHOD`)."""
    import keras  # lazy: keras

    digest = hashlib.sha256()
    for w in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(w))
        value = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        digest.update(f"{w.path}|{value.dtype.name}|{list(value.shape)}\n".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(backend: str) -> Dict[str, Optional[str]]:
    import keras  # lazy: keras

    backend_dist = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}.get(backend, backend)
    result = {
        "dlzoo": dlzoo.__version__,
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": package_version(backend_dist) or package_version(backend_dist + "-cpu"),
        "python": platform.python_version(),
    }
    for name in ("numpy", "tensorflow", "torch", "jax", "onnx", "onnxruntime", "tf2onnx", "jax2onnx"):
        version = package_version(name)
        if version:
            result[name] = version
    return result


def json_safe(obj: Any) -> Any:
    """A JSON-serializable copy: NumPy scalars/arrays to Python, tuples to lists, NaN/inf to strings."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "tolist"):
        return json_safe(obj.tolist())
    if hasattr(obj, "item"):
        return json_safe(obj.item())
    return str(obj)


def model_config(model: Any) -> Dict[str, Any]:
    """The model's config as plain JSON (for a `ZooModel`, the resolved zoo config)."""
    try:
        return json_safe(model.get_config())
    except Exception as exc:  # a model without get_config still exports; say why the config is missing
        return {"error": f"get_config() failed: {type(exc).__name__}: {exc}"}


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def write_manifest(directory: str, manifest: Dict[str, Any]) -> str:
    path = os.path.join(directory, MANIFEST_NAME)
    with open(path, "w") as f:
        json.dump(json_safe(manifest), f, indent=2, sort_keys=False)
        f.write("\n")
    return path


def read_manifest(directory: str) -> Dict[str, Any]:
    """Read `manifest.json` of an export directory (pure Python)."""
    path = os.path.join(directory, MANIFEST_NAME)
    with open(path) as f:
        return json.load(f)
