"""`dlzoo serve PATH [--host 127.0.0.1] [--port 8000] [--workers N]`: serve a model or an export over HTTP.

The command replaces itself with a server process that loads
`dlzoo.serving` standalone (see `dlzoo/serving/_boot.py`), so serving an
ONNX export imports neither dlzoo's blocks nor Keras nor a backend.
"""

import json
import os
import subprocess
import sys

from dlzoo.cli import UsageError

RUNTIMES = ("onnxruntime", "saved_model")
KERAS_BACKENDS = ("tensorflow", "torch", "jax")


def add_arguments(parser):
    parser.add_argument("path", metavar="PATH", help="an export directory, an .onnx file or a .keras file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--backend", default=None, choices=list(RUNTIMES + KERAS_BACKENDS),
        help="export: onnxruntime or saved_model (default ONNX); .keras: the Keras backend",
    )  # fmt: skip
    parser.add_argument("--graph", default=None, help="inference graph of a zoo model (.keras only), e.g. denoiser")
    parser.add_argument("--max-batch-size", "--max-batch", dest="max_batch_size", type=int, default=64,
                        help="most rows per request (default 64; 422 above)")
    parser.add_argument("--max-tokens", type=int, default=4096,
                        help="most elements of one input along its dynamic axes, e.g. batch x sequence of token_ids "
                             "(default 4096; 422 above); the model's max_sequence_length and vocabulary bound them too")
    parser.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024,
                        help="largest request body, refused from its Content-Length before reading (default 8 MiB; 413 above)")
    parser.add_argument(
        "--text-pipeline", default=None, metavar="MODULE:FACTORY",
        help="enable POST /generate with FACTORY(PATH) -> object with generate(texts)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level: one line per request at info (default info)")


def _target_kind(path):
    if os.path.isdir(path):
        return "export"
    if path.endswith(".onnx"):
        return "onnx"
    if path.endswith(".keras"):
        return "keras"
    return None


def run(args):
    path = os.path.abspath(args.path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Nothing to serve at {args.path!r}: no such file or directory.")
    kind = _target_kind(path)
    if kind is None:
        raise UsageError(f"PATH must be an export directory, an .onnx file or a .keras file. Received: {args.path!r}.")
    if kind in ("export", "onnx") and args.backend in KERAS_BACKENDS:
        raise UsageError(f"An export is served with {' or '.join(RUNTIMES)}; --backend {args.backend} applies to .keras files.")
    if kind == "keras" and args.backend in RUNTIMES:
        raise UsageError(f"A .keras model is served on a Keras backend ({', '.join(KERAS_BACKENDS)}). Received: --backend {args.backend}.")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535. Received: --port {args.port}.")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1. Received: --workers {args.workers}.")
    for flag, value in (("--max-batch-size", args.max_batch_size), ("--max-tokens", args.max_tokens),
                        ("--max-body-bytes", args.max_body_bytes)):
        if value < 1:
            raise UsageError(f"{flag} must be >= 1. Received: {flag} {value}.")

    config = {
        "target": path,
        "backend": args.backend,
        "graph": args.graph,
        "max_batch_size": args.max_batch_size,
        "max_body_bytes": args.max_body_bytes,
        "max_tokens": args.max_tokens,
        "text_pipeline": args.text_pipeline,
    }
    env = dict(os.environ, DLZOO_SERVE_CONFIG=json.dumps(config))
    if kind == "keras" and args.backend:
        env["KERAS_BACKEND"] = args.backend
    import dlzoo.serving  # lazy: keeps the CLI fast (numpy)

    boot = os.path.join(os.path.dirname(os.path.abspath(dlzoo.serving.__file__)), "_boot.py")
    root = os.path.dirname(os.path.dirname(os.path.dirname(boot)))  # the folder holding the `dlzoo` package
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    argv = [sys.executable, boot, "--host", args.host, "--port", str(args.port), "--workers", str(args.workers),
            "--log-level", args.log_level]  # fmt: skip
    print(f"dlzoo serve: {args.path} on http://{args.host}:{args.port} ({args.workers} worker(s))", file=sys.stderr, flush=True)
    sys.stdout.flush()
    if os.name == "posix":
        os.execve(sys.executable, argv, env)  # the server replaces this process (no Keras carried over)
    return subprocess.call(argv, env=env)
