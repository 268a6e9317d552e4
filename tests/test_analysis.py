"""`dlzoo.analysis`: per-block parameters, FLOPs and activation memory agree with the totals; reports render."""

import base64
import re

import pytest

import dlzoo
from dlzoo import analysis


@pytest.mark.parametrize("name,sizes", [("gpt-tiny", {"batch_size": 2, "sequence_length": 6}), ("resnet-tiny", {"batch_size": 3})])
def test_rows_add_up_to_the_totals(name, sizes):
    report = analysis.analyze(name, **sizes)
    rows, total = report["rows"], report["total"]
    assert sum(r["parameters"] for r in rows) == total["parameters"] == dlzoo.count_params(name)
    assert sum(r["flops"] for r in rows) == total["flops"] == dlzoo.count_flops(name, **sizes)
    assert total["training_flops"] == 3 * total["flops"]
    memory = dlzoo.estimate_memory(name, optimizer=None, **sizes)
    assert total["activation_bytes"] == memory["bytes"]["activations"]
    assert sum(r["flop_share"] for r in rows) == pytest.approx(1.0)
    assert sum(r["parameter_share"] for r in rows) == pytest.approx(1.0)
    assert [r["block"] for r in rows] == list(dlzoo.block_flops(name, **sizes))


def test_renderers():
    report = analysis.analyze("resnet-tiny", batch_size=2)
    table = analysis.format_table(report)
    for row in report["rows"]:
        assert row["block"] in table
    assert "1,729,152" not in table and "1.73M" in table  # FLOPs shown in short form
    markdown = analysis.to_markdown(report, chart_file="chart.png")
    assert "| stem | `conv_norm_act` |" in markdown and "![parameters and FLOPs per block](chart.png)" in markdown
    html = analysis.to_html(report)
    image = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(image).startswith(b"\x89PNG")
    assert "<td>stage_1_block_0</td>" in html


def test_bad_dtype_is_named():
    with pytest.raises(ValueError, match="dtype"):
        analysis.analyze("resnet-tiny", dtype="float8")
