"""Run the server with `dlzoo.serving` loaded standalone, without importing the `dlzoo` package.

`import dlzoo` imports Keras (it registers the blocks), which an ONNX or
SavedModel server does not need. `dlzoo serve` therefore replaces itself
with `python .../dlzoo/serving/_boot.py --host H --port P --workers N`,
which loads this folder as the top-level package `_dlzoo_serving` (its
modules use only relative imports) and runs uvicorn with the factory
`_dlzoo_serving.asgi:create_app`; the target and limits come in the
`DLZOO_SERVE_CONFIG` environment variable. Worker processes (spawned) run
this file again as their main module, so they load the package the same way.
"""

import argparse
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "_dlzoo_serving"


def load_standalone():
    """Import this folder as the package `_dlzoo_serving` (idempotent) and return it."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, os.path.join(_HERE, "__init__.py"), submodule_search_locations=[_HERE]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    return module


if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.pop(0)  # this folder's modules must not shadow top-level packages (e.g. a module named `app`)
load_standalone()


def main(argv=None) -> int:
    import uvicorn  # lazy: optional dependency (uvicorn)

    parser = argparse.ArgumentParser(prog="dlzoo serve (server process)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(
        f"{PACKAGE}.asgi:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
