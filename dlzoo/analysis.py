"""Per-block analysis of a model without building it: parameters, FLOPs, activation memory, shares.

`analyze(source, ...)` gathers the figures `count_params`, `count_flops` and
`estimate_memory` already compute block by block (one row per block of the
model's plan); `format_table`, `to_markdown` and `to_html` render them, the
last two with a bar chart (`bar_chart_png`, matplotlib, embedded as base64
PNG in HTML). `dlzoo analyze MODEL` is the command line for it.
"""

import base64
import io
import json
from typing import Any, Dict, List, Optional

from dlzoo.construction import activation_elements, count_plan, plan_flops
from dlzoo.flops import TRAINING_MULTIPLIER
from dlzoo.inspection import DTYPE_BYTES, _flop_plan
from dlzoo.validation import check_choice

COLUMNS = ("block", "type", "parameters", "flops", "activation_bytes", "parameter_share", "flop_share")


def analyze(
    source,
    extensions=None,
    batch_size: int = 1,
    sequence_length: Optional[int] = None,
    image_size=None,
    dtype: str = "float32",
    **params,
) -> Dict[str, Any]:
    """Parameters, forward FLOPs and activation memory of each block of a model, and each one's share.

    Nothing is allocated. Parameters are every weight the block holds (as
    `count_params`; a block called twice counts once); FLOPs are per call,
    summed over the block's calls (`count_flops`'s convention, see
    `dlzoo.flops`); activation memory is what the block keeps for the
    backward pass (`estimate_memory`'s per-block elements) times the bytes
    per activation of `dtype`.

    Args:
        source: a name, path, dict or model (see `dlzoo.build`).
        extensions: extensions to apply.
        batch_size: int. Defaults to `1`.
        sequence_length: int. Defaults to the model's `max_sequence_length`.
        image_size: int or `(height, width)`. Defaults to the model's own.
        dtype: str. Dtype policy for activation bytes. Defaults to `"float32"`.
        **params: parameter overrides.

    Returns:
        dict: `name`, `model`, the input sizes, `rows` (one dict per block
        with the `COLUMNS`), `total` (`parameters`, `flops`,
        `training_flops`, `activation_bytes`).
    """
    check_choice("dtype", dtype, list(DTYPE_BYTES))
    config, plan, layers, batch_size, sequence_length = _flop_plan(
        source, extensions, batch_size, sequence_length, image_size, params
    )
    parameters = count_plan(plan, layers)
    flops = plan_flops(plan, layers, batch_size, sequence_length)
    elements = activation_elements(plan, layers, batch_size, sequence_length or 1)
    bytes_per_activation = DTYPE_BYTES[dtype][1]
    total_parameters, total_flops = sum(parameters.values()), sum(flops.values())
    rows: List[Dict[str, Any]] = []
    for node in plan.used_nodes():
        rows.append(
            {
                "block": node.name,
                "type": node.block,
                "parameters": parameters[node.name],
                "flops": flops.get(node.name, 0),
                "activation_bytes": elements.get(node.name, 0) * bytes_per_activation,
                "parameter_share": _share(parameters[node.name], total_parameters),
                "flop_share": _share(flops.get(node.name, 0), total_flops),
            }
        )
    return {
        "name": config["name"],
        "model": config["model"],
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "image_shape": config["params"].get("image_shape"),
        "dtype": dtype,
        "rows": rows,
        "total": {
            "parameters": total_parameters,
            "flops": total_flops,
            "training_flops": TRAINING_MULTIPLIER * total_flops,
            "activation_bytes": sum(row["activation_bytes"] for row in rows),
        },
    }


def _share(part: int, whole: int) -> float:
    return 0.0 if whole == 0 else part / whole


def _human(n: float, units=(("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))) -> str:
    for unit, scale in units:
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{int(n)}"


def _human_bytes(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def _cells(report) -> List[List[str]]:
    cells = [
        [
            row["block"],
            row["type"],
            f"{row['parameters']:,}",
            f"{row['parameter_share']:.1%}",
            _human(row["flops"]),
            f"{row['flop_share']:.1%}",
            _human_bytes(row["activation_bytes"]),
        ]
        for row in report["rows"]
    ]
    total = report["total"]
    cells.append(["total", "", f"{total['parameters']:,}", "100.0%", _human(total["flops"]), "100.0%",
                  _human_bytes(total["activation_bytes"])])
    return cells


HEADER = ["block", "type", "parameters", "% params", "FLOPs", "% FLOPs", "activations"]


def _summary(report) -> str:
    size = [f"batch {report['batch_size']}"]
    if report["sequence_length"] is not None:
        size.append(f"sequence {report['sequence_length']}")
    if report["image_shape"] is not None:
        size.append("image " + "x".join(str(v) for v in report["image_shape"]))
    total = report["total"]
    return (
        f"{report['name']} ({report['model']}), {', '.join(size)}, {report['dtype']} activations: "
        f"{total['parameters']:,} parameters, {_human(total['flops'])} forward FLOPs "
        f"({_human(total['training_flops'])} per training step = 3 x forward), "
        f"{_human_bytes(total['activation_bytes'])} of activations"
    )


def format_table(report) -> str:
    """A plain-text table for the terminal (one line per block, then the total)."""
    cells = _cells(report)
    widths = [max(len(str(r[i])) for r in [HEADER] + cells) for i in range(len(HEADER))]
    numeric = {2, 3, 4, 5, 6}

    def line(row):
        return "  ".join(str(v).rjust(w) if i in numeric else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([_summary(report), "", line(HEADER), rule] + [line(r) for r in cells[:-1]] + [rule, line(cells[-1])])


def _markdown_table(report) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(HEADER))) + "|"]
    for row in _cells(report):
        lines.append("| " + " | ".join(f"`{v}`" if i == 1 and v else str(v) for i, v in enumerate(row)) + " |")
    return "\n".join(lines)


def bar_chart_png(report, max_blocks: int = 30) -> bytes:
    """A PNG bar chart of each block's share of the parameters and of the FLOPs (blocks with neither left out)."""
    from matplotlib.figure import Figure  # lazy: matplotlib only for the charts; no pyplot global state

    rows = [r for r in report["rows"] if r["parameters"] or r["flops"]][:max_blocks]
    names = [r["block"] for r in rows][::-1]
    figure = Figure(figsize=(8, 1.2 + 0.32 * max(len(rows), 1)))
    axes = figure.add_subplot(1, 1, 1)
    positions = range(len(rows))
    height = 0.4
    axes.barh([p + height / 2 for p in positions], [100 * r["parameter_share"] for r in rows][::-1], height,
              label="parameters", color="#4C72B0")
    axes.barh([p - height / 2 for p in positions], [100 * r["flop_share"] for r in rows][::-1], height,
              label="forward FLOPs", color="#DD8452")
    axes.set_yticks(list(positions))
    axes.set_yticklabels(names)
    axes.set_xlabel("share of the model's total (%)")
    axes.set_title(f"{report['name']}: parameters and FLOPs per block")
    axes.legend(loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def to_markdown(report, chart_file: Optional[str] = None) -> str:
    """A Markdown report: summary, table and, when `chart_file` (a PNG path relative to the report) is given, the chart."""
    parts = [f"# {report['name']}: per-block analysis", "", _summary(report) + ".", "", _markdown_table(report)]
    if chart_file:
        parts += ["", f"![parameters and FLOPs per block]({chart_file})"]
    parts += ["", _conventions()]
    return "\n".join(parts) + "\n"


def to_html(report) -> str:
    """A self-contained HTML report: summary, table and the bar chart embedded as a base64 PNG."""
    import html

    chart = base64.b64encode(bar_chart_png(report)).decode("ascii")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in _cells(report)
    )
    title = html.escape(f"{report['name']}: per-block analysis")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + title + "</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}td:nth-child(n+3){text-align:right}</style></head><body>\n"
        f"<h1>{title}</h1>\n<p>{html.escape(_summary(report))}.</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>\n"
        f"<p><img alt=\"parameters and FLOPs per block\" src=\"data:image/png;base64,{chart}\"></p>\n"
        f"<p>{html.escape(_conventions())}</p>\n"
        f"<script type=\"application/json\" id=\"data\">{html.escape(json.dumps(report))}</script>\n"
        "</body></html>\n"
    )


def _conventions() -> str:
    return (
        "FLOPs: 2 x multiply-adds of matrix products and convolutions (attention included); elementwise work, "
        "norms, softmax and look-ups are not counted; a training step is 3 x forward. Activations: what each "
        "block keeps for the backward pass. A block called twice counts its parameters once and its FLOPs per call."
    )


__all__ = ["COLUMNS", "analyze", "bar_chart_png", "format_table", "to_html", "to_markdown"]
