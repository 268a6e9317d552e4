"""`dlzoo export PATH --format onnx [-o OUT]`: export a model to SavedModel / ONNX, verified."""

import json
import os
import subprocess
import sys

from dlzoo.cli import UsageError


def add_arguments(parser):
    parser.add_argument("path", metavar="PATH", help="a .keras file, a preset directory or a zoo model name")
    parser.add_argument(
        "-f", "--format", dest="formats", action="append", choices=["saved_model", "tf_saved_model", "onnx"],
        help="format to write (repeatable; default: saved_model and onnx)",
    )  # fmt: skip
    parser.add_argument("-o", "--out", default=None, help="export directory (default: <name>-export next to PATH)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    parser.add_argument("--no-verify", action="store_true", help="skip the clean-process parity check")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty export directory")
    parser.add_argument("--graph", default=None, help="export a named inference graph (e.g. denoiser)")
    parser.add_argument(
        "--via", action="append", default=[], metavar="FORMAT=BACKEND",
        help="force the backend that writes a format, e.g. --via onnx=tensorflow",
    )  # fmt: skip
    parser.add_argument(
        "--dynamic-axes", default=None, metavar="JSON",
        help='dynamic axes as JSON, e.g. \'{"token_ids": {"0": "batch", "1": "sequence"}}\'',
    )  # fmt: skip
    parser.add_argument("--atol", type=float, default=None, help="parity tolerance (default 1e-4)")
    parser.add_argument("--backend", choices=["tensorflow", "torch", "jax"], default=None, help="Keras backend to load the model on")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each export route as it is tried")


def _argv(args):
    argv = ["export", args.path]
    for fmt in args.formats or []:
        argv += ["--format", fmt]
    for flag, value in (("--out", args.out), ("--opset", args.opset), ("--graph", args.graph),
                        ("--dynamic-axes", args.dynamic_axes), ("--atol", args.atol), ("--backend", args.backend)):  # fmt: skip
        if value is not None:
            argv += [flag, str(value)]
    for item in args.via:
        argv += ["--via", item]
    for flag, on in (("--no-verify", args.no_verify), ("--overwrite", args.overwrite), ("--json", args.json),
                     ("--verbose", args.verbose), ("--debug", getattr(args, "debug", False))):  # fmt: skip
        if on:
            argv.append(flag)
    return argv


def run(args):
    import keras  # lazy: keeps the CLI free of Keras

    if args.backend and args.backend != keras.backend.backend():
        # Keras cannot switch backends in one process: run the same command under the asked backend.
        env = dict(os.environ, KERAS_BACKEND=args.backend)
        return subprocess.call([sys.executable, "-m", "dlzoo"] + _argv(args), env=env)

    via = {}
    for item in args.via:
        fmt, sep, backend = item.partition("=")
        if not sep:
            raise UsageError(f"--via needs FORMAT=BACKEND. Received: --via {item!r}.")
        via[fmt] = backend
    dynamic_axes = None
    if args.dynamic_axes:
        try:
            dynamic_axes = json.loads(args.dynamic_axes)
        except ValueError as exc:
            raise UsageError(f"--dynamic-axes is not valid JSON ({exc}). Received: {args.dynamic_axes!r}.") from None
    out = args.out
    if out is None:
        base = os.path.basename(os.path.normpath(args.path))
        stem = base[: -len(".keras")] if base.endswith(".keras") else base
        parent = os.path.dirname(os.path.abspath(args.path)) if os.path.exists(args.path) else os.getcwd()
        out = os.path.join(parent, f"{stem}-export")

    if os.path.isdir(out) and os.listdir(out) and not args.overwrite:  # the API would advise overwrite=True
        raise UsageError(f"The export directory {out!r} exists and is not empty; pass --overwrite to replace it.")

    from dlzoo.export import DEFAULT_TOLERANCE, ExportError, export  # lazy: keeps the CLI fast (numpy)

    try:
        result = export(
            args.path,
            out,
            formats=args.formats or ("saved_model", "onnx"),
            dynamic_axes=dynamic_axes,
            opset=args.opset,
            verify=not args.no_verify,
            overwrite=args.overwrite,
            via=via or None,
            atol=DEFAULT_TOLERANCE if args.atol is None else args.atol,
            graph=args.graph,
            verbose=args.verbose,
        )
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    except ExportError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"dlzoo export: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.manifest, indent=2))
    else:
        print(result.summary())
        print(f"manifest: {os.path.join(result.path, 'manifest.json')}")
    return 0
