"""The uvicorn factory of `dlzoo serve`: builds the app from `DLZOO_SERVE_CONFIG` (JSON) in each worker.

Config keys: `target` (path), `backend`, `graph`, `max_batch_size`,
`max_body_bytes`, `max_tokens`, `text_pipeline` (`"module:factory"` or `"module:Class.factory"`, called with the
target path; it returns the pipeline object).
"""

import importlib
import json
import os

from . import DEFAULT_MAX_TOKENS, to_app

CONFIG_ENV = "DLZOO_SERVE_CONFIG"


def _load_factory(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"`text_pipeline` must look like 'package.module:factory'. Received: {spec!r}.")
    target = importlib.import_module(module_name)
    for part in attr.split("."):  # "module:Class.factory" too
        target = getattr(target, part)
    return target


def create_app():
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start the server with `dlzoo serve PATH`.")
    config = json.loads(raw)
    pipeline = None
    if config.get("text_pipeline"):
        pipeline = _load_factory(config["text_pipeline"])(config["target"])
    return to_app(
        config["target"],
        backend=config.get("backend"),
        max_batch_size=config.get("max_batch_size", 64),
        max_body_bytes=config.get("max_body_bytes", 8 * 1024 * 1024),
        text_pipeline=pipeline,
        graph=config.get("graph"),
        max_tokens=config.get("max_tokens", DEFAULT_MAX_TOKENS),
    )
