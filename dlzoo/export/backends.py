"""Native exporters: write one format from the Keras backend of this process.

`export_native(model, fmt, path, signature)` is called either in the
caller's process (when its backend can write the format) or in a
`dlzoo.export._worker` subprocess of another backend. Every exporter takes
the same `Signature`, so the artifacts have the same named inputs, dynamic
axes and named outputs.
"""

import contextlib
import inspect
import keyword
import logging
import os
import re
import sys
import tempfile
import warnings
from typing import Any, Dict, Optional

import numpy as np

from dlzoo.export.onnx_fixes import finalize
from dlzoo.export.routes import EXPORTER
from dlzoo.export.signature import Signature, make_inputs


def _identifier(name: str, used: set) -> str:
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "x_" + ident
    base, i = ident, 0
    while ident in used:
        i += 1
        ident = f"{base}_{i}"
    used.add(ident)
    return ident


def _sample_sizes(signature: Signature) -> Dict[str, int]:
    # Distinct sizes > 1 so no tracer can mistake a dynamic axis for a broadcast or a constant.
    return {name: 2 if name == "batch" else 3 + i for i, name in enumerate(signature.dynamic_names())}


def call_once(model: Any, signature: Signature) -> None:
    """Call the model on small sample inputs (JAX export needs a called model)."""
    data = make_inputs(signature, _sample_sizes(signature))
    model(signature.pack_inputs([data[n] for n in signature.input_names]), training=False)


def _serving_fn(model: Any, signature: Signature):
    """`serve(<one argument per input>) -> {output_name: tensor}` with real parameter names."""

    def serve(*args):
        outputs = model(signature.pack_inputs(list(args)), training=False)
        return dict(zip(signature.output_names, signature.flatten_outputs(outputs)))

    used: set = set()
    serve.__signature__ = inspect.Signature(
        [inspect.Parameter(_identifier(n, used), inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in signature.input_names]
    )
    return serve


def _tf_specs(signature: Signature):
    import tensorflow as tf  # lazy: backend (tensorflow)

    return [tf.TensorSpec(t.shape, tf.as_dtype(t.dtype), name=t.name) for t in signature.inputs]


def export_saved_model(model: Any, path: str, signature: Signature) -> Dict[str, Any]:
    """SavedModel with a `serve` endpoint and a `serving_default` signature (tensorflow or jax backend)."""
    import keras  # lazy: keras

    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise RuntimeError(f"SavedModel cannot be written natively from the {backend} backend.")
    call_once(model, signature)
    archive = keras.export.ExportArchive()
    archive.track(model)
    kwargs = {}
    if backend == "jax":
        kwargs["jax2tf_kwargs"] = {"polymorphic_shapes": [t.poly_shape() for t in signature.inputs]}
    archive.add_endpoint("serve", _serving_fn(model, signature), input_signature=_tf_specs(signature), **kwargs)
    archive.write_out(path, verbose=False)
    return {"signature_keys": ["serving_default", "serve"]}


def export_onnx_tensorflow(model: Any, path: str, signature: Signature, opset: Optional[int]) -> Dict[str, Any]:
    import tensorflow as tf  # lazy: backend (tensorflow)
    import tf2onnx  # lazy: optional dependency (tf2onnx)

    try:  # keras' own numpy>=2 compatibility patch for tf2onnx
        from keras.src.export.tf2onnx_lib import patch_tf2onnx  # lazy: keras

        patch_tf2onnx()
    except ImportError:  # pragma: no cover - older or newer keras
        pass
    specs = _tf_specs(signature)
    fn = tf.function(_serving_fn(model, signature), input_signature=specs, autograph=False)
    logging.getLogger("tf2onnx").setLevel(logging.CRITICAL)  # unsupported-op errors are fixed afterwards
    tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset, output_path=path)
    return {"exporter_version": tf2onnx.__version__}


@contextlib.contextmanager
def _generic_torch_norms():
    """Route Keras' layer/RMS normalization through plain ops while tracing for ONNX.

    On torch, `keras.ops.layer_normalization` and `rms_normalization` call
    `F.layer_norm`/`F.rms_norm` with `normalized_shape` read from the traced
    tensor, which the TorchScript ONNX exporter rejects as "not constant"
    once axes are dynamic. Keras takes its generic path (mean/variance ops,
    the same math) when the axis is not "continuous"; this makes it do so
    for the duration of the export only.
    """
    try:
        from keras.src.ops import nn as keras_nn  # lazy: keras
    except ImportError:  # pragma: no cover - keras layout changed; export as is
        yield
        return
    original = getattr(keras_nn, "is_continuous_axis", None)
    if original is None:
        yield
        return
    keras_nn.is_continuous_axis = lambda axis: False
    try:
        yield
    finally:
        keras_nn.is_continuous_axis = original


_TORCH_SYMBOLICS_REGISTERED = False


def _register_torch_symbolics() -> None:
    """ONNX symbolics the TorchScript exporter lacks for ops Keras emits on torch.

    `aten::ravel` (from `keras.ops.ravel`/flatten-to-1D reshapes) is a
    `Reshape` to `[-1]`.
    """
    global _TORCH_SYMBOLICS_REGISTERED
    if _TORCH_SYMBOLICS_REGISTERED:
        return
    import torch  # lazy: backend (torch)
    from torch.onnx import register_custom_op_symbolic  # lazy: backend (torch)

    def ravel(g, x):
        return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor([-1], dtype=torch.int64)))

    register_custom_op_symbolic("aten::ravel", ravel, 9)
    _TORCH_SYMBOLICS_REGISTERED = True


@contextlib.contextmanager
def _captured_fd_output():
    """Capture what C++/Python code prints on stdout and stderr (the TorchScript exporter dumps whole graphs)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        captured = {"text": ""}
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured["text"] = sink.read()[-4000:].decode("utf-8", "replace")


def export_onnx_torch(model: Any, path: str, signature: Signature, opset: Optional[int]) -> Dict[str, Any]:
    import torch  # lazy: backend (torch)

    _register_torch_symbolics()

    class _FlatModule(torch.nn.Module):
        def __init__(self, wrapped):
            super().__init__()
            self.wrapped = wrapped

        def forward(self, *flat):
            outputs = self.wrapped(signature.pack_inputs(list(flat)), training=False)
            return tuple(signature.flatten_outputs(outputs))

    data = make_inputs(signature, _sample_sizes(signature))
    samples = tuple(torch.from_numpy(np.ascontiguousarray(data[n])) for n in signature.input_names)
    dynamic_axes = {t.name: dict(t.dim_names) for t in signature.inputs if t.dim_names}
    for t in signature.outputs:
        axes = {i: ("batch" if i == 0 else f"{t.name}_{i}") for i, d in enumerate(t.shape) if d is None}
        if axes:
            dynamic_axes[t.name] = axes
    module = _FlatModule(model).eval()
    kwargs = {"opset_version": opset} if opset else {}
    with warnings.catch_warnings(), torch.no_grad(), _generic_torch_norms(), _captured_fd_output():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            samples,
            path,
            input_names=signature.input_names,
            output_names=signature.output_names,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
            dynamo=False,
            **kwargs,
        )
    return {"exporter_version": torch.__version__}


def export_onnx_jax(model: Any, path: str, signature: Signature, opset: Optional[int]) -> Dict[str, Any]:
    import jax  # lazy: backend (jax)
    import jax2onnx  # lazy: optional dependency (jax2onnx)

    def predict(*flat):
        outputs = model(signature.pack_inputs(list(flat)), training=False)
        return tuple(signature.flatten_outputs(outputs))

    inputs = [
        jax.ShapeDtypeStruct(tuple(t.dim_names[i] if d is None else d for i, d in enumerate(t.shape)), np.dtype(t.dtype))
        for t in signature.inputs
    ]
    kwargs = {"opset": opset} if opset else {}
    call_once(model, signature)
    jax2onnx.to_onnx(
        predict, inputs=inputs, input_names=signature.input_names, return_mode="file", output_path=path, **kwargs
    )
    return {"exporter_version": getattr(jax2onnx, "__version__", "unknown")}


def export_native(model: Any, fmt: str, path: str, signature: Signature, opset: Optional[int] = None) -> Dict[str, Any]:
    """Write `fmt` at `path` from this process's backend; return what the exporter reports.

    For ONNX, the graph is then finalized (`onnx_fixes.finalize`): `Erfc`
    rewritten, outputs and dynamic axes named, non-standard operators
    rejected.
    """
    import keras  # lazy: keras

    backend = keras.backend.backend()
    if (fmt, backend) not in EXPORTER:
        raise RuntimeError(f"No native {fmt!r} exporter on the {backend} backend.")
    info: Dict[str, Any] = {"exporter": EXPORTER[(fmt, backend)], "backend": backend}
    if fmt == "saved_model":
        info.update(export_saved_model(model, path, signature))
        return info
    exporters = {"tensorflow": export_onnx_tensorflow, "torch": export_onnx_torch, "jax": export_onnx_jax}
    info.update(exporters[backend](model, path, signature, opset))
    if not os.path.exists(path):
        raise RuntimeError(f"The {info['exporter']} exporter reported success but wrote no file at {path}.")
    info.update(finalize(path, signature))
    return info
