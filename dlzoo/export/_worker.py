"""Subprocess entry point: re-build a model on this backend and write one format.

    KERAS_BACKEND=tensorflow python -m dlzoo.export._worker \\
        --model model.keras --format saved_model --out DIR/saved_model \\
        --signature signature.json --result result.json [--opset N]

The model is loaded from its `.keras` file (config + weights, portable
across backends), called once, and written by the backend's native exporter
with the caller's signature. On success `result.json` holds what the
exporter reports; on failure the process exits non-zero with the error on
stderr (last line: `dlzoo-export-error: <message>`).
"""

import argparse
import json
import os
import sys
import traceback

from dlzoo.export.api import load_model  # noqa: F401  (also `dlzoo.export._worker.load_model`)
from dlzoo.export.backends import export_native
from dlzoo.export.signature import Signature


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlzoo.export._worker")
    parser.add_argument("--model", required=True)
    parser.add_argument("--format", required=True, choices=["saved_model", "onnx"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--signature", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--opset", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        import keras  # lazy: keras

        with open(args.signature) as f:
            signature = Signature.from_json(json.load(f))
        model = load_model(args.model)
        info = export_native(model, args.format, args.out, signature, opset=args.opset)
        info["keras_version"] = keras.__version__
        with open(args.result, "w") as f:
            json.dump(info, f, indent=1, default=str)
        return 0
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:2000]
        print(f"dlzoo-export-error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
