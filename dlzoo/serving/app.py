"""The FastAPI application: `/predict`, `/health`, `/metadata`, the OpenAPI page, and `/generate`.

Every client error is a 4xx with a JSON body `{"error": {"type", "message",
...}}` naming the problem; inference runs in a worker thread so the event
loop keeps serving while a model computes.
"""

import logging
import sys
import threading
from typing import Any, Dict, Optional

from .limits import DEFAULT_MAX_TOKENS, Limits
from .runners import Runner
from .schema import (
    ERROR_SCHEMA,
    ApiError,
    outputs_to_json,
    parse_inputs,
    parse_json,
    predict_request_schema,
    predict_response_schema,
)

logger = logging.getLogger("dlzoo.serving")
FRAMEWORKS = ("dlzoo", "keras", "tensorflow", "torch", "jax")
SWAGGER_CDN = "cdn.jsdelivr.net"
# Shown inside Swagger UI's mount point: Swagger replaces it once its script loads from the CDN.
OFFLINE_NOTE = (
    "<p style='font-family:sans-serif;margin:2em'>This page loads Swagger UI from " + SWAGGER_CDN + ", which "
    "this browser could not reach (offline?). The same API description is served locally: "
    "<a href='/openapi.json'>/openapi.json</a> (OpenAPI schema) and <a href='/metadata'>/metadata</a> "
    "(signature and limits).</p>"
)


async def read_body(request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes (413) before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid_header", f"Content-Length {declared!r} is not a number.") from None
        if size > limit:
            raise ApiError(413, "body_too_large", f"The request body is {size} bytes; this server accepts at most {limit} bytes (max_body_bytes).")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"The request body exceeds {limit} bytes (max_body_bytes).")
        chunks.append(chunk)
    return b"".join(chunks)


class TextPipelineAdapter:
    """Wrap a text pipeline: an object with `generate(texts) -> list`, or a callable `pipeline(text) -> list`."""

    def __init__(self, pipeline: Any):
        if callable(getattr(pipeline, "generate", None)):
            self._generate = pipeline.generate
        elif callable(pipeline):
            self._generate = lambda documents, **options: [pipeline(d, **options) for d in documents]
        else:
            raise TypeError(
                "`text_pipeline` must have a `generate(texts) -> list` method or be callable. "
                f"Received: {type(pipeline).__name__}."
            )
        self.name = type(pipeline).__name__
        self.lock = threading.Lock()

    def generate(self, documents, options):
        with self.lock:
            return self._generate(documents, **options)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def create_app(
    runner: Runner,
    max_batch_size: int = 64,
    max_body_bytes: int = 8 * 1024 * 1024,
    text_pipeline: Any = None,
    title: Optional[str] = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
):
    """Build the FastAPI app around a runner (see `dlzoo.serving.to_app`)."""
    from fastapi import FastAPI, Request  # lazy: optional dependency (fastapi)
    from fastapi.exceptions import RequestValidationError  # lazy: optional dependency (fastapi)
    from fastapi.openapi.docs import get_swagger_ui_html  # lazy: optional dependency (fastapi)
    from fastapi.responses import HTMLResponse, JSONResponse  # lazy: optional dependency (fastapi)
    from starlette.concurrency import run_in_threadpool  # lazy: optional dependency (fastapi)
    from starlette.exceptions import HTTPException as StarletteHTTPException  # lazy: optional dependency (fastapi)

    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ValueError(f"`max_batch_size` must be an integer >= 1. Received: max_batch_size={max_batch_size!r}.")
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ValueError(f"`max_body_bytes` must be an integer >= 1. Received: max_body_bytes={max_body_bytes!r}.")
    limits = Limits.for_model(runner.config, runner.inputs, max_batch_size=max_batch_size, max_tokens=max_tokens)
    pipeline = TextPipelineAdapter(text_pipeline) if text_pipeline is not None else None

    app = FastAPI(
        title=title or f"dlzoo: {runner.model_name}",
        description=(
            f"Serves `{runner.model_name}` with {runner.kind}. POST named inputs as nested lists to `/predict`; "
            "see `/metadata` for the signature. Errors are 4xx JSON bodies `{\"error\": {\"type\", \"message\"}}`."
        ),
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runner = runner
    error_responses = {
        code: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for code, text in (
            (400, "Body is not JSON"),
            (413, "Body over max_body_bytes (refused before it is read)"),
            (422, "Inputs do not match the signature (names, shape, dtype) or exceed a limit (batch, tokens, "
                  "sequence length, id range)"),
        )
    }

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": {"type": kind, "message": str(exc.detail)}}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        return JSONResponse({"error": {"type": "invalid_request", "message": str(exc.errors())[:1000]}}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        logger.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": {"type": "internal_error", "message": f"{type(exc).__name__}: {exc}"[:500]}}, status_code=500)

    @app.get("/docs", include_in_schema=False)
    def docs():
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs").body.decode()
        mount = '<div id="swagger-ui">'
        page = page.replace(mount, mount + OFFLINE_NOTE, 1) if mount in page else page.replace("<body>", "<body>" + OFFLINE_NOTE, 1)
        return HTMLResponse(page)

    @app.get("/health", summary="Liveness: the model is loaded")
    def health():
        return {"status": "ok", "model": runner.model_name, "runtime": runner.kind}

    @app.get("/metadata", summary="Model config, signature, export manifest and limits")
    def metadata():
        endpoints = ["/predict", "/health", "/metadata", "/docs", "/openapi.json"] + (["/generate"] if pipeline else [])
        return {
            "model": runner.model_info(),
            "signature": {"inputs": runner.inputs, "outputs": runner.outputs},
            "manifest": runner.manifest,
            "runtime": runner.runtime(),
            "limits": dict(limits.to_json(), max_body_bytes=max_body_bytes),
            "endpoints": endpoints,
            "text_pipeline": pipeline.name if pipeline else None,
            "loaded_frameworks": [name for name in FRAMEWORKS if name in sys.modules],
        }

    @app.post(
        "/predict",
        summary="Run the model on a batch of named inputs",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": predict_request_schema(runner.inputs)}},
            }
        },
        responses={200: {"content": {"application/json": {"schema": predict_response_schema(runner.outputs)}}}, **error_responses},
    )
    async def predict(request: Request):
        payload = parse_json(await read_body(request, max_body_bytes))
        feeds = parse_inputs(payload, runner.inputs, max_batch_size, limits)
        try:
            outputs = await run_in_threadpool(runner.run, feeds)
        except Exception as exc:  # the inputs passed the signature checks; the model itself refused them
            logger.warning("model rejected a request: %s", exc)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ApiError(422, "model_rejected_input", f"The model could not run on these inputs: {first[:400]}") from None
        batch = next(iter(feeds.values())).shape[0]
        return {"outputs": outputs_to_json(outputs), "batch_size": int(batch)}

    if pipeline is not None:
        generate_schema = {
            "type": "object",
            "required": ["documents"],
            "properties": {
                "documents": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": max_batch_size,
                    "items": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    "description": "Each document as text, or as a list of sentences.",
                },
                "options": {"type": "object", "description": "Keyword arguments passed to the pipeline."},
            },
        }

        @app.post(
            "/generate",
            summary="Documents in, next sentences out (text pipeline)",
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": generate_schema}}}},
            responses=error_responses,
        )
        async def generate(request: Request):
            payload = parse_json(await read_body(request, max_body_bytes))
            documents, options = _parse_generate(payload, max_batch_size)
            try:
                result = await run_in_threadpool(pipeline.generate, documents, options)
            except (ValueError, TypeError) as exc:
                raise ApiError(422, "pipeline_rejected_input", f"The text pipeline refused the request: {exc}"[:500]) from None
            return {"generations": _jsonable(result)}

    return app


def _parse_generate(payload: Any, max_batch_size: int):
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_body", 'The body must be a JSON object like {"documents": ["text", ...]}.')
    extra = sorted(set(payload) - {"documents", "options"})
    if extra:
        raise ApiError(422, "unknown_field", f"Unknown field(s) {extra}; expected 'documents' and optional 'options'.")
    documents = payload.get("documents")
    if documents is None:
        raise ApiError(422, "missing_field", "The body has no 'documents' field (a list of texts).")
    if not isinstance(documents, list) or not documents:
        raise ApiError(422, "invalid_documents", "'documents' must be a non-empty list of texts or of sentence lists.")
    if len(documents) > max_batch_size:
        raise ApiError(422, "batch_too_large", f"{len(documents)} documents; this server accepts at most {max_batch_size} (max_batch_size).")
    for i, doc in enumerate(documents):
        ok = isinstance(doc, str) and doc.strip() or (
            isinstance(doc, list) and doc and all(isinstance(s, str) for s in doc)
        )
        if not ok:
            raise ApiError(422, "invalid_documents", f"Document {i} must be a non-empty string or a non-empty list of strings.")
    options = payload.get("options", {})
    if not isinstance(options, dict):
        raise ApiError(422, "invalid_options", "'options' must be an object of keyword arguments.")
    return documents, options
