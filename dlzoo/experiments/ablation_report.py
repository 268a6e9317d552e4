"""The report of an ablation: per switch, the metric (mean ± std over seeds), its paired change, parameters and FLOPs.

Written into the ablation's output directory: `ablation.md` (a Markdown
table), `ablation.png` (the metric of every variant with each seed's value,
and the change of parameters and FLOPs) and `ablation.json` (the figures).
"""

import json
import math
import os
from typing import Any, Dict, List, Optional

from dlzoo.experiments.ablation import BASE_LABEL, AblationSpec, apply_switch, measure_model
from dlzoo.experiments.schema import ExperimentError, Problem


def _mean_std(values: List[float]):
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def choose_metric(spec: AblationSpec, results: Dict[str, Dict[int, Dict[str, float]]]) -> str:
    """The spec's metric, else test_<first metric>, else val_<first metric>, else test_loss / val_loss."""
    available = sorted({k for by_seed in results.values() for metrics in by_seed.values() for k in metrics})
    if spec.metric is not None:
        if spec.metric not in available:
            raise ExperimentError([Problem("<ablation>", "ablation.metric", spec.metric,
                                           f"not a metric of the runs. Available: {', '.join(available)}.")])
        return spec.metric
    names = [m if isinstance(m, str) else (m or {}).get("name") for m in spec.base.get("metrics") or []]
    for name in [n for n in names if n] + ["loss"]:
        for prefix in ("test_", "val_"):
            if prefix + name in available:
                return prefix + name
    raise ExperimentError([Problem("<ablation>", "ablation.metric", None, f"name one of: {', '.join(available)}.")])


def summarize(spec: AblationSpec, results: Dict[str, Dict[int, Dict[str, float]]]) -> Dict[str, Any]:
    """Rows (base first): metric per seed, mean ± std, paired change against the base, parameters, FLOPs."""
    metric = choose_metric(spec, results)
    base_runs = results[BASE_LABEL]
    base_size = measure_model(spec.base["model"])
    rows = []
    for label, model in [(BASE_LABEL, spec.base["model"])] + [(s.label, apply_switch(spec.base, s)["model"]) for s in spec.switches]:
        by_seed = results.get(label, {})
        seeds = sorted(s for s in by_seed if metric in by_seed[s])
        values = [by_seed[s][metric] for s in seeds]
        paired = [by_seed[s][metric] - base_runs[s][metric] for s in seeds if s in base_runs and metric in base_runs[s]]
        size = base_size if label == BASE_LABEL else measure_model(model)
        row = {"switch": label, "seeds": seeds, "values": values, "parameters": size["parameters"], "flops": size["flops"],
               "delta_parameters": size["parameters"] - base_size["parameters"],
               "delta_flops": None if size["flops"] is None or base_size["flops"] is None else size["flops"] - base_size["flops"]}
        if values:
            row["mean"], row["std"] = _mean_std(values)
        if paired and label != BASE_LABEL:
            row["delta_mean"], row["delta_std"] = _mean_std(paired)
        rows.append(row)
    return {"name": spec.name, "metric": metric, "seeds": list(spec.seeds), "rows": rows}


def _signed(value, digits=4):
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _percent(delta, base):
    return "" if delta is None or not base else f" ({100.0 * delta / base:+.1f}%)"


def markdown_table(facts: Dict[str, Any]) -> str:
    """The table of an ablation (Markdown)."""
    metric = facts["metric"]
    base = facts["rows"][0]
    lines = [f"| switch | {metric} (mean ± std) | Δ vs base (paired) | parameters | Δ parameters | FLOPs | Δ FLOPs |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in facts["rows"]:
        score = f"{row['mean']:.4f} ± {row['std']:.4f}" if "mean" in row else "n/a"
        delta = "—" if row is base else (f"{row['delta_mean']:+.4f} ± {row['delta_std']:.4f}" if "delta_mean" in row else "n/a")
        flops = "n/a" if row["flops"] is None else f"{row['flops']:,}"
        dparams = "—" if row is base else f"{row['delta_parameters']:+,}{_percent(row['delta_parameters'], base['parameters'])}"
        dflops = "—" if row is base else ("n/a" if row["delta_flops"] is None else
                                         f"{row['delta_flops']:+,}{_percent(row['delta_flops'], base['flops'])}")
        lines.append(f"| `{row['switch']}` | {score} | {delta} | {row['parameters']:,} | {dparams} | {flops} | {dflops} |")
    return "\n".join(lines)


def _plot(facts: Dict[str, Any], path: str) -> Optional[str]:
    try:
        from matplotlib.figure import Figure  # lazy: matplotlib
    except ImportError:
        return None
    rows = facts["rows"]
    labels = [r["switch"] for r in rows]
    positions = list(range(len(rows)))
    figure = Figure(figsize=(10, 1.2 + 0.6 * len(rows)))
    left, right = figure.subplots(1, 2, sharey=True)
    for i, row in enumerate(rows):
        if "mean" in row:
            left.errorbar([row["mean"]], [i], xerr=[row["std"]], fmt="o", color="C0" if i else "black", capsize=4)
            left.scatter(row["values"], [i] * len(row["values"]), s=14, color="grey", alpha=0.7, zorder=3)
    if "mean" in rows[0]:
        left.axvline(rows[0]["mean"], color="black", linestyle=":", linewidth=1)
    left.set_yticks(positions, labels)
    left.invert_yaxis()
    left.set_xlabel(f"{facts['metric']} (mean ± std; dots: seeds {', '.join(map(str, facts['seeds']))})")
    base = rows[0]
    height = 0.38
    params = [100.0 * r["delta_parameters"] / base["parameters"] for r in rows]
    flops = [0.0 if r["delta_flops"] is None or not base["flops"] else 100.0 * r["delta_flops"] / base["flops"] for r in rows]
    right.barh([p - height / 2 for p in positions], params, height, label="parameters", color="C1")
    right.barh([p + height / 2 for p in positions], flops, height, label="FLOPs", color="C2")
    for i, (a, b) in enumerate(zip(params, flops)):
        for offset, value in ((-height / 2, a), (height / 2, b)):
            if value:
                right.annotate(f"{value:+.1f}%", (value, i + offset), fontsize=7, va="center",
                               ha="left" if value > 0 else "right", xytext=(3 if value > 0 else -3, 0),
                               textcoords="offset points")
    right.axvline(0, color="black", linewidth=1)
    right.margins(x=0.2)
    right.set_xlabel("change vs base (%)")
    right.legend(loc="best", fontsize=8)
    figure.suptitle(f"Ablation {facts['name']}: one switch at a time")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def write_report(spec: AblationSpec, results: Dict[str, Dict[int, Dict[str, float]]], output_dir: str) -> Dict[str, Any]:
    """Write `ablation.md`, `ablation.png` and `ablation.json`; returns the facts (with `table` and file paths)."""
    os.makedirs(output_dir, exist_ok=True)
    facts = summarize(spec, results)
    facts["table"] = markdown_table(facts)
    facts["png"] = _plot(facts, os.path.join(output_dir, "ablation.png"))
    facts["markdown"] = os.path.join(output_dir, "ablation.md")
    lines = [f"# Ablation {spec.name}", "",
             f"Base: `{spec.base['model'].get('name')}`; each switch changes one setting of the base; every variant is "
             f"trained with seeds {', '.join(map(str, spec.seeds))} (the same data split and initial seed as the base "
             f"for each seed). Δ vs base is the mean ± std over seeds of (variant − base) at the same seed. Parameters "
             f"are exact (`count_params`), FLOPs are forward FLOPs of one example (`count_flops`).", "",
             facts["table"], ""]
    if facts["png"]:
        lines += ["![ablation](ablation.png)", ""]
    with open(facts["markdown"], "w") as handle:
        handle.write("\n".join(lines))
    with open(os.path.join(output_dir, "ablation.json"), "w") as handle:
        json.dump(facts, handle, indent=2, default=str)
    return facts
