"""Comparing runs: config differences, metric differences and overlaid learning curves.

`compare_runs([run_a, run_b, ...])` returns a dict with

* `config`: flattened key -> value per run, for every key that differs;
* `metrics`: metric -> per run `{mean, std, n}` and the difference to the
  first run (`delta`);
* `analysis`: parameters, FLOPs per example, estimated memory and training
  time per run;

and, with `out=`, writes `compare.md` and one overlaid PNG per metric
(`compare_<metric>.png`).
"""

import os
from typing import Any, Dict, List, Optional, Sequence

from dlzoo.experiments import records as R
from dlzoo.experiments import report as REPORT


def compare_runs(paths: Sequence[str], out: Optional[str] = None) -> Dict[str, Any]:
    if len(paths) < 2:
        raise ValueError(f"Compare needs at least two run directories. Received: {list(paths)}.")
    records = [R.load_run(p) for p in paths]
    ids = [r.run_id for r in records]
    if len(set(ids)) != len(ids):
        ids = [f"{os.path.basename(os.path.dirname(os.path.normpath(r.path)))}/{r.run_id}" for r in records]
    keys = R.config_differences(records)
    flats = [R.flatten(r.config) for r in records]
    config = {k: [f.get(k, "<absent>") for f in flats] for k in keys}
    names: List[str] = []
    for r in records:
        for m in r.metrics:
            if m not in names:
                names.append(m)
    metrics = {}
    for m in names:
        values = [r.metrics.get(m) for r in records]
        base = values[0]["mean"] if values[0] else None
        metrics[m] = {
            "goal": "min" if R.lower_is_better(m) else "max",
            "runs": [None if v is None else {"mean": v["mean"], "std": v.get("std", 0.0), "n": v.get("n", 1)} for v in values],
            "delta": [None if (v is None or base is None) else v["mean"] - base for v in values],
        }
    analysis = []
    for r in records:
        a = r.analysis or {}
        s = r.summary or {}
        analysis.append({
            "parameters": s.get("parameters") or a.get("parameters"),
            "flops_per_example": s.get("flops_per_example") or a.get("flops_per_example"),
            "memory_bytes": ((a.get("memory") or {}).get("bytes") or {}).get("total"),
            "train_seconds": s.get("train_seconds"),
            "backend": r.backend,
            "status": r.status,
        })
    result = {"runs": ids, "paths": [r.path for r in records], "config": config, "metrics": metrics, "analysis": analysis}
    if out:
        os.makedirs(out, exist_ok=True)
        labels = {r.run_id: label for r, label in zip(records, ids)}
        curves = REPORT.plot_curves(records, out, labels)
        for metric, name in curves:
            os.replace(os.path.join(out, name), os.path.join(out, name.replace("curves_", "compare_")))
        result["images"] = [os.path.join(out, name.replace("curves_", "compare_")) for _, name in curves]
        with open(os.path.join(out, "compare.md"), "w", encoding="utf-8") as f:
            f.write(render_markdown(result))
        result["markdown"] = os.path.join(out, "compare.md")
    return result


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return R.short(value, 48)


def render_markdown(result: Dict[str, Any]) -> str:
    runs = result["runs"]
    lines = ["# Comparison", "", "Runs: " + ", ".join(f"`{r}`" for r in runs), "", "## Config differences", ""]
    if result["config"]:
        lines.append("| key | " + " | ".join(runs) + " |")
        lines.append("|" + "---|" * (len(runs) + 1))
        for key, values in result["config"].items():
            lines.append(f"| {key} | " + " | ".join(_fmt(v) for v in values) + " |")
    else:
        lines.append("The configs are identical.")
    lines += ["", "## Metrics (difference to the first run)", ""]
    lines.append("| metric | goal | " + " | ".join(runs) + " |")
    lines.append("|" + "---|" * (len(runs) + 2))
    for metric, info in result["metrics"].items():
        cells = []
        for value, delta in zip(info["runs"], info["delta"]):
            if value is None:
                cells.append("-")
                continue
            text = R.format_value(value)
            if delta is not None and delta != 0:
                text += f" ({delta:+.4f})"
            cells.append(text)
        lines.append(f"| {metric} | {info['goal']} | " + " | ".join(cells) + " |")
    lines += ["", "## Model and cost", "", "| | " + " | ".join(runs) + " |", "|" + "---|" * (len(runs) + 1)]
    for key in ("parameters", "flops_per_example", "memory_bytes", "train_seconds", "backend", "status"):
        lines.append(f"| {key} | " + " | ".join(_fmt(a.get(key)) for a in result["analysis"]) + " |")
    for image in result.get("images", []):
        lines += ["", f"![{os.path.basename(image)}]({os.path.basename(image)})"]
    return "\n".join(lines) + "\n"
