"""The export matrix: every tiny zoo model (and the reference examples) x format, on this backend.

`run_matrix()` exports each entry in this process's backend and returns one
row per (entry, format): ok, max abs diff, seconds, route, error.
`format_table(rows)` prints rows from several backends as one Markdown
table (entry x format/backend). `tools/export_matrix.py` runs one
subprocess per backend and prints the table; `tests/export/
test_export_matrix.py` runs the current backend.

An entry is a zoo model name (`lcm-base-tiny`), a zoo model's inference
graph (`lcm-two-tower-tiny:denoiser`, for families whose forward pass is a
training graph), or a reference example (`example-transformer`).
"""

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import dlzoo
from dlzoo.export.api import export
from dlzoo.export.graphs import _GRAPHS
from dlzoo.export.routes import BACKENDS, FORMATS


def matrix_entries(pattern: str = "*-tiny", include_examples: bool = True) -> List[str]:
    """Every entry of the matrix: the examples, then each test-size zoo model matching `pattern` (or its graphs)."""
    from dlzoo.export.examples import EXAMPLES  # lazy: keras

    entries = list(EXAMPLES) if include_examples else []
    if importlib.util.find_spec("dlzoo.builder") is None:
        return entries
    from dlzoo import builder  # lazy: keras

    from dlzoo.testing.sizes import tiny_models  # lazy: keras

    for name in tiny_models(dlzoo.list_models(pattern)):
        entry = _GRAPHS.get(builder.resolve(name).get("model"))
        if entry and not entry["forward_is_inference"]:
            graph_names = sorted(entry["fn"](dlzoo.build(name)))
            entries += [f"{name}:{g}" for g in graph_names]
        else:
            entries.append(name)
    return entries


def build_entry(entry: str):
    """(model, graph) for a matrix entry."""
    from dlzoo.export.examples import EXAMPLES, build_example  # lazy: keras

    if entry in EXAMPLES:
        return build_example(entry), None
    name, _, graph = entry.partition(":")
    return dlzoo.build(name), graph or None


def run_matrix(
    entries: Optional[Sequence[str]] = None,
    formats: Sequence[str] = FORMATS,
    verify: bool = True,
    log=None,
) -> List[Dict[str, Any]]:
    """Export every entry to every format on this process's backend; one row per (entry, format)."""
    import keras  # lazy: keras

    backend = keras.backend.backend()
    entries = list(entries) if entries is not None else matrix_entries()
    rows = []
    with tempfile.TemporaryDirectory(prefix="dlzoo-matrix-") as workdir:
        for entry in entries:
            try:
                model, graph = build_entry(entry)
                build_error = None
            except Exception as exc:
                build_error = f"build failed: {type(exc).__name__}: {exc}"
            for fmt in formats:
                row = {"entry": entry, "format": fmt, "backend": backend, "ok": False, "max_abs_diff": None}
                start = time.perf_counter()
                if build_error:
                    row["error"] = build_error
                else:
                    out = os.path.join(workdir, f"{entry.replace(':', '-')}-{fmt}")
                    try:
                        result = export(model, out, formats=[fmt], verify=verify, graph=graph, overwrite=True)
                        art = result.manifest["artifacts"][fmt]
                        check = (result.manifest.get("verification") or {}).get(fmt)
                        row.update(
                            ok=True,
                            max_abs_diff=check["max_abs_diff"] if check else None,
                            route=f"{art['route']['backend']}/{art['route']['process']}",
                            exporter=art["route"]["exporter"],
                            fixes=art.get("fixes", []),
                            failed_attempts=[a["error"][:200] for a in art.get("failed_attempts", [])],
                        )
                    except Exception as exc:
                        row["error"] = f"{type(exc).__name__}: {exc}"[:2000]
                row["seconds"] = round(time.perf_counter() - start, 1)
                rows.append(row)
                if log:
                    log(_row_line(row))
    return rows


def _row_line(row: Dict[str, Any]) -> str:
    status = "ok" if row["ok"] else "FAIL"
    diff = f"{row['max_abs_diff']:.1e}" if row.get("max_abs_diff") is not None else "-"
    extra = row.get("route", "") if row["ok"] else row.get("error", "")[:300]
    return f"{row['backend']:<10} {row['format']:<11} {row['entry']:<34} {status:<4} {diff:>8} {row['seconds']:>6.1f}s  {extra}"


def cell(row: Optional[Dict[str, Any]]) -> str:
    if row is None:
        return "n/a"
    if not row["ok"]:
        return f"FAIL ({row['seconds']:.0f}s)"
    diff = f"{row['max_abs_diff']:.0e}" if row.get("max_abs_diff") is not None else "unverified"
    via = "" if row.get("route", "").endswith("in-process") else f" via {row.get('route', '').split('/')[0]}"
    return f"ok {diff} {row['seconds']:.0f}s{via}"


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """A Markdown table: one line per entry, one column per (format, backend)."""
    entries = list(dict.fromkeys(r["entry"] for r in rows))
    columns = [(f, b) for f in FORMATS for b in BACKENDS if any(r["format"] == f and r["backend"] == b for r in rows)]
    index = {(r["entry"], r["format"], r["backend"]): r for r in rows}
    header = "| model | " + " | ".join(f"{f} / {b}" for f, b in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 1)]
    for entry in entries:
        lines.append(f"| {entry} | " + " | ".join(cell(index.get((entry, f, b))) for f, b in columns) + " |")
    failures = [r for r in rows if not r["ok"]]
    if failures:
        lines.append("")
        lines.append("Failures:")
        for r in failures:
            lines.append(f"- {r['entry']} / {r['format']} / {r['backend']}: {r.get('error', '')[:400]}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """`python -m dlzoo.export.matrix --json rows.json`: run this backend's part of the matrix."""
    parser = argparse.ArgumentParser(prog="python -m dlzoo.export.matrix")
    parser.add_argument("--json", required=True, help="file to write the rows to")
    parser.add_argument("--entries", default=None, help="comma-separated entries (default: every tiny model)")
    parser.add_argument("--pattern", default="*-tiny")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--no-examples", action="store_true")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args(argv)
    entries = args.entries.split(",") if args.entries else matrix_entries(args.pattern, not args.no_examples)
    rows = run_matrix(
        entries, args.formats.split(","), verify=not args.no_verify, log=lambda s: print(s, flush=True)
    )
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
