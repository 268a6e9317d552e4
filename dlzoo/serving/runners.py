"""What `/predict` runs: an ONNX export (onnxruntime), a SavedModel export, or a Keras model.

`open_runner(target, backend)` picks one. The ONNX and SavedModel runners
import neither dlzoo nor Keras; only `KerasRunner` does (lazily), after
choosing the Keras backend when it is not imported yet.
"""

import json
import os
import sys
import threading
from typing import Any, Dict, List, Optional

import numpy as np

MANIFEST_NAME = "manifest.json"
EXPORT_RUNTIMES = ("onnxruntime", "saved_model")
KERAS_BACKENDS = ("tensorflow", "torch", "jax")
# Batch sizes a served Keras model is compiled for (`dlzoo.compile_forward`); larger requests run in chunks of 64.
SERVING_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
_ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(bfloat16)": "bfloat16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def _read_manifest(directory: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


class Runner:
    """Base: `inputs`/`outputs` specs (manifest style), `run(feeds) -> outputs`, `describe()`."""

    kind = "runner"

    def __init__(self):
        self.inputs: List[Dict[str, Any]] = []
        self.outputs: List[Dict[str, Any]] = []
        self.manifest: Optional[Dict[str, Any]] = None
        self.model_name = "model"
        self.config: Optional[Dict[str, Any]] = None
        self.artifact: Optional[str] = None

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    def runtime(self) -> Dict[str, Any]:
        return {"kind": self.kind}

    def model_info(self) -> Dict[str, Any]:
        info: Dict[str, Any] = {"name": self.model_name, "config": self.config}
        if self.manifest:
            model = self.manifest.get("model", {})
            info.update(
                graph=model.get("graph"),
                num_params=model.get("num_params"),
                weights_sha256=model.get("weights_sha256"),
            )
        return info

    def _from_manifest(self, manifest: Optional[Dict[str, Any]]) -> None:
        self.manifest = manifest
        if manifest:
            self.inputs = manifest["inputs"]
            self.outputs = manifest["outputs"]
            self.model_name = manifest.get("model", {}).get("name", self.model_name)
            self.config = manifest.get("model", {}).get("config")


class OnnxRunner(Runner):
    """An ONNX model on onnxruntime (CPU). Thread-safe; no Keras, no backend."""

    kind = "onnxruntime"

    def __init__(self, path: str, manifest: Optional[Dict[str, Any]] = None):
        super().__init__()
        try:
            import onnxruntime as ort  # lazy: optional dependency (onnxruntime)
        except ImportError:
            raise ImportError("Serving an ONNX model needs onnxruntime: `pip install onnxruntime`.") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.artifact = path
        self.version = ort.__version__
        self.model_name = os.path.splitext(os.path.basename(path))[0]
        self._from_manifest(manifest)
        session_inputs = {i.name: i for i in self.session.get_inputs()}
        if not self.inputs:
            self.inputs = [self._spec(i) for i in self.session.get_inputs()]
            self.outputs = [self._spec(o) for o in self.session.get_outputs()]
        elif sorted(session_inputs) != sorted(s["name"] for s in self.inputs):
            raise ValueError(
                f"The ONNX model's inputs {sorted(session_inputs)} differ from the manifest's "
                f"{sorted(s['name'] for s in self.inputs)}."
            )
        self.output_names = [s["name"] for s in self.outputs]

    @staticmethod
    def _spec(value_info) -> Dict[str, Any]:
        shape, dims = [], {}
        for axis, dim in enumerate(value_info.shape):
            if isinstance(dim, int):
                shape.append(dim)
            else:
                shape.append(None)
                dims[str(axis)] = dim if isinstance(dim, str) and dim else ("batch" if axis == 0 else f"{value_info.name}_{axis}")
        return {"name": value_info.name, "shape": shape, "dtype": _ONNX_TYPES.get(value_info.type, "float32"), "dynamic_axes": dims}

    def run(self, feeds):
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))

    def runtime(self):
        return {"kind": self.kind, "version": self.version, "artifact": os.path.basename(self.artifact)}


class SavedModelRunner(Runner):
    """A SavedModel's `serving_default` signature on TensorFlow (no Keras needed)."""

    kind = "saved_model"

    def __init__(self, path: str, manifest: Optional[Dict[str, Any]] = None):
        super().__init__()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            import tensorflow as tf  # lazy: optional dependency (tensorflow)
        except ImportError:
            raise ImportError("Serving a SavedModel needs TensorFlow: `pip install tensorflow`.") from None
        self.tf = tf
        self.loaded = tf.saved_model.load(path)
        self.fn = self.loaded.signatures["serving_default"]
        self.artifact = path
        self.version = tf.__version__
        self._from_manifest(manifest)
        if not self.inputs:
            _, kwargs = self.fn.structured_input_signature
            self.inputs = [self._spec(k, v) for k, v in sorted(kwargs.items())]
            self.outputs = [self._spec(k, v) for k, v in sorted(self.fn.structured_outputs.items())]

    @staticmethod
    def _spec(name, tensor_spec) -> Dict[str, Any]:
        shape = tensor_spec.shape.as_list()
        dims = {str(i): ("batch" if i == 0 else f"{name}_{i}") for i, d in enumerate(shape) if d is None}
        return {"name": name, "shape": shape, "dtype": tensor_spec.dtype.name, "dynamic_axes": dims}

    def run(self, feeds):
        out = self.fn(**{k: self.tf.constant(v) for k, v in feeds.items()})
        return {s["name"]: out[s["name"]].numpy() for s in self.outputs}

    def runtime(self):
        return {"kind": self.kind, "version": self.version, "artifact": os.path.basename(self.artifact.rstrip("/"))}


def _use_backend(backend: Optional[str]) -> str:
    """Select the Keras backend before Keras is imported; refuse a switch after."""
    if backend is not None and backend not in KERAS_BACKENDS:
        raise ValueError(f"Unknown Keras backend. Received: backend={backend!r}. Allowed: {list(KERAS_BACKENDS)}.")
    if "keras" in sys.modules:
        import keras  # lazy: keras

        current = keras.backend.backend()
        if backend is not None and backend != current:
            raise ValueError(
                f"This process already runs Keras on {current!r}; Keras cannot switch backends in one process. "
                f"Received: backend={backend!r}. Start a new process with KERAS_BACKEND={backend} "
                f"(or run `dlzoo serve PATH --backend {backend}`)."
            )
        return current
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    import keras  # lazy: keras (after KERAS_BACKEND is set)

    return keras.backend.backend()


class KerasRunner(Runner):
    """A Keras model (object or `.keras` file) on this process's Keras backend."""

    kind = "keras"

    def __init__(self, model_or_path: Any, backend: Optional[str] = None, graph: Optional[str] = None):
        super().__init__()
        self.backend = _use_backend(backend)
        import keras  # lazy: keras

        from dlzoo.export.graphs import select_graph  # lazy: keeps the standalone server free of dlzoo
        from dlzoo.export.signature import signature_from_model  # lazy: keeps the standalone server free of dlzoo

        if isinstance(model_or_path, keras.Model):
            model = model_or_path
        else:
            from dlzoo.export.api import load_model  # lazy: keeps the standalone server free of dlzoo

            model = load_model(os.fspath(model_or_path))
            self.artifact = os.fspath(model_or_path)
        target = select_graph(model, graph)
        self.signature = signature_from_model(target)
        self.model = target
        self.model_name = model.name
        self.graph = graph
        try:
            self.config = json.loads(json.dumps(model.get_config(), default=str))
        except Exception:
            self.config = None
        self.inputs = [t.to_json() for t in self.signature.inputs]
        self.outputs = [t.to_json() for t in self.signature.outputs]
        self.keras_version = keras.__version__
        self._lock = threading.Lock()
        from dlzoo.inference import compile_forward  # lazy: keeps the standalone server free of dlzoo

        # The fast inference path: one compiled program per batch bucket (requests of any batch size reuse them),
        # except for graph models, whose axis 0 counts nodes and edges of one disjoint graph (zero rows would add
        # nodes and self-loops on node 0): one program per shape there.
        rows_independent = "edge_index" not in self.signature.input_names
        buckets = SERVING_BATCH_BUCKETS if rows_independent else None
        self.forward = compile_forward(target, batch_buckets=buckets, max_programs=16)

    def run(self, feeds):
        packed = self.signature.pack_inputs([feeds[n] for n in self.signature.input_names])
        with self._lock:  # one call at a time: Keras models are not documented as thread-safe
            result = self.forward.predict(packed)
        flat = self.signature.flatten_outputs(result)
        return {n: np.asarray(t) for n, t in zip(self.signature.output_names, flat)}

    def runtime(self):
        info = {"kind": self.kind, "backend": self.backend, "keras_version": self.keras_version}
        if self.artifact:
            info["artifact"] = os.path.basename(self.artifact)
        return info

    def model_info(self):
        info = super().model_info()
        info.update(graph=self.graph, num_params=int(self.model.count_params()))
        return info


def _is_keras_model(obj: Any) -> bool:
    return "keras" in sys.modules and isinstance(obj, sys.modules["keras"].Model)


def open_runner(target: Any, backend: Optional[str] = None, graph: Optional[str] = None) -> Runner:
    """The runner for a model object, a `.keras` file, an `.onnx` file, or an export directory.

    Args:
        target: keras.Model, path to `.keras` / `.onnx`, an export directory
            (from `dlzoo.export`), or a SavedModel directory.
        backend: For an export: `"onnxruntime"` or `"saved_model"` (default:
            ONNX when present). For a Keras model: `"tensorflow"`, `"torch"`
            or `"jax"` (default: the current/`KERAS_BACKEND` one).
        graph: str or None. A named inference graph of a zoo model (Keras only).
    """
    if _is_keras_model(target):
        return KerasRunner(target, backend=backend, graph=graph)
    if not isinstance(target, (str, os.PathLike)):
        raise TypeError(
            "`model_or_export_dir` must be a keras.Model, a `.keras` or `.onnx` file, or an export directory. "
            f"Received: {type(target).__name__}."
        )
    path = os.fspath(target)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Nothing to serve at {path!r}: no such file or directory.")
    if os.path.isdir(path):
        if backend is not None and backend not in EXPORT_RUNTIMES:
            raise ValueError(
                f"An export directory is served with {list(EXPORT_RUNTIMES)}. Received: backend={backend!r}. "
                f"To serve on a Keras backend, pass the `.keras` file instead."
            )
        if graph is not None:
            raise ValueError("`graph` applies to Keras models; an export directory holds one graph already.")
        manifest = _read_manifest(path)
        onnx_path = os.path.join(path, "model.onnx")
        saved_model = os.path.join(path, "saved_model")
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            saved_model = path
        if backend in (None, "onnxruntime") and os.path.isfile(onnx_path):
            return OnnxRunner(onnx_path, manifest)
        if backend in (None, "saved_model") and os.path.isdir(saved_model):
            return SavedModelRunner(saved_model, manifest)
        wanted = {"onnxruntime": "model.onnx", "saved_model": "saved_model/"}.get(backend, "model.onnx or saved_model/")
        raise FileNotFoundError(f"The directory {path!r} has no {wanted} to serve (write one with `dlzoo export`).")
    if path.endswith(".onnx"):
        if backend not in (None, "onnxruntime"):
            raise ValueError(f"An .onnx file is served with onnxruntime. Received: backend={backend!r}.")
        return OnnxRunner(path, _read_manifest(os.path.dirname(os.path.abspath(path))))
    if path.endswith(".keras"):
        return KerasRunner(path, backend=backend, graph=graph)
    raise ValueError(f"Cannot serve {path!r}: expected a .keras or .onnx file or an export directory.")
