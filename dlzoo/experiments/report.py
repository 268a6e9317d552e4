"""Reports of a runs directory: Markdown + HTML with a run table, learning curves and the best runs.

`write_report(runs_dir)` writes `<runs_dir>/report/` (or `out=`):

* `report.md` and `report.html`: a table of every run (only the config keys
  that differ between runs, each metric as mean ± std over the folds,
  parameter count, FLOPs per example, training time, backend, status), the
  best run per metric, the learning curves, the model analysis (parameters
  per block, estimated memory, FLOPs) and the environments;
* `curves_<metric>.png`: one color per run, training solid with circles and
  validation dashed with squares (the legend names runs and splits once
  each); with cross-validation the mean over folds and a min-max band;
* `summary_<metric>.png`: the final metric of every run with its CV spread,
  bars from zero.

Plots use matplotlib's Agg backend (no display needed).
"""

import datetime
import html
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlzoo.experiments import records as R
from dlzoo.experiments import runfiles

Section = Tuple[str, Any]


def _matplotlib():
    import matplotlib  # lazy: optional dependency (matplotlib)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: optional dependency (matplotlib)

    return plt


def run_labels(records: List[R.RunRecord]) -> Dict[str, str]:
    """A short label per run: its values of the experiment's dimensions (a variant's label, a grid value), or
    else the config values that differ between runs."""
    choices = [r.info.get("choices") or {} for r in records]
    if records and all(choices) and len({tuple(sorted(c.items())) for c in choices}) == len(records):
        return {r.run_id: ", ".join(f"{k}={R.short(v, 24)}" for k, v in c.items()) for r, c in zip(records, choices)}
    keys = R.config_differences(records)
    labels = {}
    for r in records:
        flat = R.flatten(r.config)
        parts = [R.short(flat.get(k), 24) for k in keys if k in flat]
        labels[r.run_id] = ", ".join(parts) if parts else r.run_id
    return labels


def history_keys(records: List[R.RunRecord]) -> List[str]:
    keys: List[str] = []
    for r in records:
        for h in r.histories:
            for row in h:
                for k in row:
                    if k not in keys and k not in ("epoch", "epoch_time"):
                        keys.append(k)
    return keys


def curves_figure(records: List[R.RunRecord], base: str, labels: Dict[str, str]):
    """The figure of one metric per epoch (a line per run and split), or None when no run logged it.

    Color = run, line style and marker = split (training solid with circles, validation dashed with squares);
    the legend names each run once and each split once. Epoch ticks are whole numbers.
    """
    plt = _matplotlib()
    from matplotlib.lines import Line2D  # lazy: optional dependency (matplotlib)
    from matplotlib.ticker import MaxNLocator  # lazy: optional dependency (matplotlib)

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = (("training", base, "-", "o"), ("validation", f"val_{base}", "--", "s"))
    fig, ax = plt.subplots(figsize=(8, 4.8))
    runs, splits = [], []
    for i, r in enumerate(records):
        color = colors[i % len(colors)]
        for split, key, style, marker in styles:
            curve = r.curve(key)
            if curve is None:
                continue
            epochs, mean, low, high = curve
            ax.plot(epochs, mean, linestyle=style, marker=marker, color=color, linewidth=1.6, markersize=3.5)
            if len(r.histories) > 1:
                ax.fill_between(epochs, low, high, color=color, alpha=0.12)
            if r.run_id not in [run for run, _ in runs]:
                runs.append((r.run_id, color))
            if split not in [name for name, _, _ in splits]:
                splits.append((split, style, marker))
    if not runs:
        plt.close(fig)
        return None
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(base)
    if base.endswith("loss") and all((c := r.curve(base)) is None or (c[1] > 0).all() for r in records):
        ax.set_yscale("log")
    folds = ", mean and range over folds" if any(len(r.histories) > 1 for r in records) else ""
    ax.set_title(f"{base} per epoch{folds}")
    ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=color, linewidth=2.5, label=labels[run]) for run, color in runs]
    handles += [Line2D([], [], color="0.3", linestyle=style, marker=marker, label=split) for split, style, marker in splits]
    ax.legend(handles=handles, fontsize=7, loc="best", ncol=1 if len(handles) <= 8 else 2, handlelength=3)
    fig.tight_layout()
    return fig


def plot_curves(records: List[R.RunRecord], out_dir: str, labels: Dict[str, str]) -> List[Tuple[str, str]]:
    """One PNG per metric (training and validation together); returns `(metric, file name)` pairs."""
    plt = _matplotlib()
    bases = []
    for k in history_keys(records):
        base = k[4:] if k.startswith("val_") else k
        if base not in bases:
            bases.append(base)
    written = []
    for base in bases:
        fig = curves_figure(records, base, labels)
        if fig is None:
            continue
        name = f"curves_{_safe(base)}.png"
        fig.savefig(os.path.join(out_dir, name), dpi=110)
        plt.close(fig)
        written.append((base, name))
    return written


def summary_figure(records: List[R.RunRecord], metric: str, labels: Dict[str, str]):
    """A horizontal bar per run (its CV spread as error bars), or None; the axis starts at zero."""
    plt = _matplotlib()
    rows = [(labels[r.run_id], r.metrics[metric]) for r in records if metric in r.metrics]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    names = [n for n, _ in rows]
    means = [m["mean"] for _, m in rows]
    stds = [m.get("std", 0.0) if m.get("n", 1) > 1 else 0.0 for _, m in rows]
    ax.barh(range(len(rows)), means, xerr=stds, color="#4c72b0", alpha=0.85, capsize=3)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    low, high = min(min(m - s for m, s in zip(means, stds)), 0.0), max(max(m + s for m, s in zip(means, stds)), 0.0)
    pad = (high - low) * 0.15 or 0.05
    ax.set_xlim(low - pad if low < 0 else 0.0, high + pad if high > 0 else 0.0)  # bars are lengths: from zero
    for i, (m, s) in enumerate(zip(means, stds)):
        ax.text(m + s, i, f" {m:.4f}", va="center", fontsize=7)
    ax.set_xlabel(metric + (" (mean ± std over folds)" if any(s for s in stds) else ""))
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_summary(records: List[R.RunRecord], metric: str, out_dir: str, labels: Dict[str, str]) -> Optional[str]:
    plt = _matplotlib()
    fig = summary_figure(records, metric, labels)
    if fig is None:
        return None
    name = f"summary_{_safe(metric)}.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def metric_names(records: List[R.RunRecord]) -> List[str]:
    names: List[str] = []
    for r in records:
        for k in r.metrics:
            if k not in names:
                names.append(k)
    order = {"test_": 0, "val_": 1}
    return sorted(names, key=lambda n: (order.get(n[: n.find("_") + 1], 2), names.index(n)))


def best_runs(records: List[R.RunRecord], metrics: Sequence[str]) -> List[Dict[str, Any]]:
    out = []
    for metric in metrics:
        candidates = [r for r in records if metric in r.metrics]
        if not candidates:
            continue
        lower = R.lower_is_better(metric)
        best = min(candidates, key=lambda r: r.metrics[metric]["mean"] * (1 if lower else -1))
        out.append({"metric": metric, "goal": "min" if lower else "max", "run": best.run_id,
                    "value": R.format_value(best.metrics[metric])})
    return out


def _human(n: Optional[float]) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def human_bytes(n: Optional[float]) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def _seconds(s: Optional[float]) -> str:
    if s is None:
        return "-"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def build_sections(records: List[R.RunRecord], out_dir: str, title: str) -> List[Section]:
    labels = run_labels(records)
    diffs = R.config_differences(records)
    metrics = metric_names(records)
    finished = [r for r in records if r.status == "finished"]
    sections: List[Section] = [("h1", f"Report: {title}")]
    description = next((r.config.get("description") for r in records if r.config.get("description")), None)
    if description:
        sections.append(("p", description))
    cv = sorted({r.config.get("data", {}).get("cv") for r in records}, key=str)
    sections.append(("p", f"{len(records)} run(s), {len(finished)} finished; generated "
                     f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}."
                     + (f" Metrics are mean ± std over {', '.join(str(c) for c in cv if c)} cross-validation folds"
                        " (best checkpoint of each fold, by the monitored metric)." if any(cv) else
                        " Metrics are those of the best checkpoint (by the monitored metric).")))

    sections.append(("h2", "Runs"))
    columns = [k for k in diffs if k != "backend"]  # the backend has its own column
    headers = ["run"] + columns + metrics + ["params", "FLOPs/example", "train time", "backend", "status"]
    rows = []
    for r in records:
        flat = R.flatten(r.config)
        summary = r.summary or {}
        rows.append([r.run_id] + [R.short(flat.get(k), 32) for k in columns]
                    + [R.format_value(r.metrics.get(m)) for m in metrics]
                    + [_human(summary.get("parameters") or (r.analysis or {}).get("parameters")),
                       _human(summary.get("flops_per_example") or (r.analysis or {}).get("flops_per_example")),
                       _seconds(summary.get("train_seconds")), r.backend, r.status])
    sections.append(("table", (headers, rows)))

    best = best_runs(finished, metrics)
    if best:
        sections.append(("h2", "Best run per metric"))
        sections.append(("table", (["metric", "goal", "best run", "value"],
                                   [[b["metric"], b["goal"], b["run"], b["value"]] for b in best])))
        summary_plot = None
        primary = next((m for m in metrics if m.startswith("test_") and not R.lower_is_better(m)), None) or (metrics[0] if metrics else None)
        if primary:
            summary_plot = plot_summary(finished, primary, out_dir, labels)
        if summary_plot:
            sections.append(("img", (summary_plot, f"{primary} per run")))

    curves = plot_curves(records, out_dir, labels)
    if curves:
        sections.append(("h2", "Learning curves"))
        sections.append(("p", "Legend: " + "; ".join(f"`{labels[r.run_id]}` = {r.run_id}" for r in records)
                         if diffs else "One line per run."))
        for metric, name in curves:
            sections.append(("img", (name, f"{metric} per epoch")))

    sections += analysis_sections(records)
    sections += environment_sections(records)
    return sections


def analysis_sections(records: List[R.RunRecord]) -> List[Section]:
    seen = {}
    for r in records:
        model = R.short(R.flatten(r.config.get("model", {})), 200)
        if r.analysis and model not in seen:
            seen[model] = r
    if not seen:
        return []
    out: List[Section] = [("h2", "Model analysis")]
    for r in seen.values():
        a = r.analysis
        name = r.config.get("model", {}).get("name")
        memory = a.get("memory") or {}
        sizes = memory.get("bytes") or {}
        out.append(("h3", f"{name} (from run {r.run_id})"))
        out.append(("p", f"{a.get('parameters', 0):,} parameters ({a.get('trainable_parameters', 0):,} trainable); "
                    f"FLOPs per example (forward): {_human(a.get('flops_per_example'))} ({a.get('flops_method', '-')}); "
                    f"estimated training memory at batch {memory.get('batch_size', '-')}: "
                    + ", ".join(f"{k} {human_bytes(v)}" for k, v in sizes.items() if v is not None) + "."))
        rows = []
        for block in a.get("blocks", []):
            rows.append([block["name"], block["class"], block.get("block") or "-", f"{block['parameters']:,}"])
            for child in block.get("children", []):
                rows.append([f"  {block['name']}/{child['name']}", child["class"], child.get("block") or "-",
                             f"{child['parameters']:,}"])
        out.append(("table", (["layer", "class", "registered block", "parameters"], rows)))
        out.extend(_analytic_sections(a.get("analytic")))
    return out


def _analytic_sections(analytic) -> List[Section]:
    """The per-block table of `dlzoo analyze` for one example (exact FLOPs, the same on every backend)."""
    if not analytic:
        return []
    if "error" in analytic:
        return [("p", f"Analytic per-block figures: not available ({analytic['error']}).")]
    total = analytic["total"]
    length = analytic.get("sequence_length")
    text = (f"Analytic forward FLOPs per example (`dlzoo.count_flops`{'' if length is None else f', sequence length {length}'}): "
            f"{total['flops']:,} ({_human(total['flops'])}); a training step costs 3 x forward. Per block:")
    rows = [[r["block"], r["type"], f"{r['parameters']:,}", f"{r['flops']:,}", f"{r['flop_share']:.1%}",
             human_bytes(r["activation_bytes"])] for r in analytic["rows"] if r["parameters"] or r["flops"]]
    return [("p", text), ("table", (["block", "type", "parameters", "FLOPs", "% FLOPs", "activations"], rows))]


def environment_sections(records: List[R.RunRecord]) -> List[Section]:
    rows, seen = [], set()
    for r in records:
        env = runfiles.read_json(os.path.join(r.path, "environment.json"))
        if not env:
            continue
        v = env.get("versions", {})
        git = (env.get("git") or {}).get("dlzoo") or {}
        key = (v.get("backend"), v.get("backend_version"), git.get("commit"))
        if key in seen:
            continue
        seen.add(key)
        hw = env.get("hardware", {})
        rows.append([v.get("backend"), v.get("backend_version"), v.get("keras"), v.get("dlzoo"), v.get("python"),
                     (git.get("commit") or "-")[:10] + (" (dirty)" if git.get("dirty") else ""),
                     f"{hw.get('cpu')} x{hw.get('cpu_count')}", R.short(hw.get("accelerators"), 40)])
    if not rows:
        return []
    return [("h2", "Environment"), ("table", (["backend", "version", "keras", "dlzoo", "python", "dlzoo commit", "cpu", "devices"], rows))]


def render_markdown(sections: List[Section]) -> str:
    lines = []
    for kind, content in sections:
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + content, ""]
        elif kind == "p":
            lines += [content, ""]
        elif kind == "table":
            headers, rows = content
            esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
            lines.append("| " + " | ".join(esc(h) for h in headers) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            name, alt = content
            lines += [f"![{alt}]({name})", ""]
    return "\n".join(lines)


_CSS = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}tr:nth-child(even){background:#fafafa}img{max-width:100%;margin:0.5em 0}code{background:#f3f3f3}"""


def render_html(sections: List[Section], title: str) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    for kind, content in sections:
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "p":
            text = html.escape(content)
            while "`" in text and text.count("`") >= 2:
                text = text.replace("`", "<code>", 1).replace("`", "</code>", 1)
            parts.append(f"<p>{text}</p>")
        elif kind == "table":
            headers, rows = content
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr>")
            for row in rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        elif kind == "img":
            name, alt = content
            parts.append(f"<figure><img src='{html.escape(name)}' alt='{html.escape(alt)}'><figcaption>{html.escape(alt)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(runs_dir: str, out: Optional[str] = None) -> Dict[str, Any]:
    """Write the report of every run under `runs_dir`; returns the paths and the best runs."""
    records = R.load_runs(runs_dir)
    if not records:
        raise FileNotFoundError(f"No run directories under {runs_dir!r}.")
    out = out or os.path.join(runs_dir, "report")
    os.makedirs(out, exist_ok=True)
    title = records[0].config.get("name") or os.path.basename(os.path.normpath(runs_dir))
    sections = build_sections(records, out, title)
    md_path, html_path = os.path.join(out, "report.md"), os.path.join(out, "report.html")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(render_markdown(sections))
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(render_html(sections, f"Report: {title}"))
    images = sorted(n for n in os.listdir(out) if n.endswith(".png"))
    finished = [r for r in records if r.status == "finished"]
    return {
        "markdown": md_path,
        "html": html_path,
        "images": [os.path.join(out, n) for n in images],
        "runs": len(records),
        "finished": len(finished),
        "best": best_runs(finished, metric_names(finished)),
    }
