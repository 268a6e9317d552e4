"""Print the export matrix: every tiny zoo model x format x backend, exported and verified.

    python tools/export_matrix.py                      # everything (long: one subprocess per backend)
    python tools/export_matrix.py --backends torch --entries gpt-tiny,example-mlp
    python tools/export_matrix.py --json rows.json     # also keep the raw rows

Each backend runs in its own subprocess (`python -m dlzoo.export.matrix`),
never two backends in one process. Each cell is `ok <max abs diff>
<seconds>` (plus `via <backend>` when the format was written by re-building
the model in another backend's subprocess) or `FAIL`, with the failures
listed under the table. Exit code 1 when any cell failed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dlzoo.export.matrix import format_table  # noqa: E402  (imports Keras once here; no model runs in this process)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="tensorflow,torch,jax")
    parser.add_argument("--formats", default="saved_model,onnx")
    parser.add_argument("--entries", default=None, help="comma-separated entries (default: examples + every *-tiny)")
    parser.add_argument("--pattern", default="*-tiny", help="zoo models to include (fnmatch)")
    parser.add_argument("--no-examples", action="store_true", help="leave out the reference example models")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    parser.add_argument("--timeout", type=int, default=5400, help="seconds per backend")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="dlzoo-matrix-tool-") as tmp:
        for backend in args.backends.split(","):
            out = os.path.join(tmp, f"{backend}.json")
            cmd = [sys.executable, "-m", "dlzoo.export.matrix", "--json", out, "--formats", args.formats,
                   "--pattern", args.pattern]  # fmt: skip
            if args.entries:
                cmd += ["--entries", args.entries]
            if args.no_examples:
                cmd += ["--no-examples"]
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
            print(f"== {backend}", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=subprocess.DEVNULL, timeout=args.timeout)
            if proc.returncode != 0 or not os.path.exists(out):
                rows.append({"entry": "(all)", "format": "-", "backend": backend, "ok": False, "seconds": 0.0,
                             "error": f"the {backend} matrix process exited with {proc.returncode}"})  # fmt: skip
                continue
            with open(out) as f:
                rows += json.load(f)
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
