"""Serve a model or an export over HTTP: `dlzoo.to_app(...)` returns a FastAPI (ASGI) app.

    app = dlzoo.to_app("out/")                 # an export directory: ONNX on onnxruntime
    app = dlzoo.to_app("model.keras", backend="torch")
    uvicorn.run(app, host="127.0.0.1", port=8000)

or `dlzoo serve PATH --host 127.0.0.1 --port 8000 [--workers N]`.

Endpoints: `POST /predict` (`{"inputs": {name: nested list}}`, checked
against the signature: names, rank, static sizes, shared dynamic sizes,
dtype, and the limits: `max_body_bytes` before the body is read, then
`max_batch_size`, `max_tokens`, and the model's `max_sequence_length` and
id ranges such as `token_ids` in `[0, vocabulary_size)`, see `limits.py`),
`GET /health`, `GET /metadata`
(model config, signature, export manifest, runtime, limits), the OpenAPI
page (`/docs`, `/openapi.json`), and with a `text_pipeline`, `POST
/generate` (documents in, next sentences out). Bad requests get a 4xx JSON
error naming the problem, never a 5xx.

This package imports nothing from dlzoo outside itself and never imports
Keras to serve an ONNX or SavedModel export, so `dlzoo serve` can load it
standalone (see `_boot.py`) in a process that has only onnxruntime,
FastAPI and uvicorn.
"""

from typing import Any, Optional

from .app import create_app
from .limits import DEFAULT_MAX_TOKENS, Limits
from .runners import KerasRunner, OnnxRunner, Runner, SavedModelRunner, open_runner
from .schema import ApiError

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def to_app(
    model_or_export_dir: Any,
    backend: Optional[str] = None,
    max_batch_size: int = 64,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    text_pipeline: Any = None,
    graph: Optional[str] = None,
    title: Optional[str] = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
):
    """Build an ASGI application (FastAPI) that serves a model.

    Args:
        model_or_export_dir: A directory written by `dlzoo.export` (served
            from `model.onnx` with onnxruntime, or `saved_model/` with
            TensorFlow), an `.onnx` file, a `.keras` file, or a
            `keras.Model`.
        backend: str or None. For an export: `"onnxruntime"` or
            `"saved_model"` (default: ONNX when present). For a Keras model:
            `"tensorflow"`, `"torch"` or `"jax"`; it must match this process's
            Keras backend if Keras is already imported. Defaults to `None`.
        max_batch_size: int. Most rows one `/predict` (or documents one
            `/generate`) may carry. Defaults to `64`.
        max_body_bytes: int. Largest request body accepted (413 above it,
            from the `Content-Length` header before reading). Defaults to 8 MiB.
        text_pipeline: object or None. With a `generate(texts) -> list`
            method (or callable on one text), adds `POST /generate`:
            `{"documents": [...], "options": {...}}` ->
            `{"generations": [...]}`, e.g. an LCM concept pipeline (encode ->
            model -> decode by retrieval). Defaults to `None`.
        graph: str or None. For a zoo model whose forward pass is a training
            graph, the inference graph to serve (e.g. `"denoiser"`).
        title: str or None. OpenAPI title.
        max_tokens: int. Most elements one input may have along its
            dynamic axes (batch x sequence for token ids); 422 above it.
            Defaults to `4096`. The model's config adds its own bounds:
            `max_sequence_length` and the id range of `token_ids` /
            `segment_ids` (422 outside them).

    Returns:
        A `fastapi.FastAPI` application.
    """
    runner = open_runner(model_or_export_dir, backend=backend, graph=graph)
    return create_app(runner, max_batch_size=max_batch_size, max_body_bytes=max_body_bytes, text_pipeline=text_pipeline,
                      title=title, max_tokens=max_tokens)


__all__ = [
    "ApiError",
    "KerasRunner",
    "Limits",
    "OnnxRunner",
    "Runner",
    "SavedModelRunner",
    "create_app",
    "open_runner",
    "to_app",
]
