"""Reports and comparisons of finished runs (Markdown, HTML, PNG curves, best runs, diffs)."""

import os

import pytest

from dlzoo.experiments import records
from dlzoo.experiments.compare import compare_runs
from dlzoo.experiments.report import write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG and os.path.getsize(path) > 5000


def test_report_files_and_content(trained, tmp_path):
    result = write_report(trained["out"], out=str(tmp_path / "report"))
    assert result["runs"] == 2 and result["finished"] == 2
    names = sorted(os.path.basename(p) for p in result["images"])
    assert {"curves_loss.png", "curves_accuracy.png", "summary_test_accuracy.png"} <= set(names)
    assert all(_is_png(p) for p in result["images"])
    md = open(result["markdown"]).read()
    html = open(result["html"]).read()
    # The run table shows only the config key that differs, metrics with their CV spread, params, time, backend.
    header = next(line for line in md.splitlines() if line.startswith("| run |"))
    assert "optimizer.learning_rate" in header and "data.cv" not in header and "seed" not in header
    for column in ("test_accuracy", "val_loss", "params", "FLOPs/example", "train time", "backend"):
        assert column in header
    assert " ± " in md
    assert "## Best run per metric" in md and "## Learning curves" in md and "## Model analysis" in md
    assert "![loss per epoch](curves_loss.png)" in md
    assert "<table>" in html and "curves_loss.png" in html
    best = {b["metric"]: b for b in result["best"]}
    assert best["test_loss"]["goal"] == "min" and best["test_accuracy"]["goal"] == "max"
    summaries = {s["run_id"]: s for s in trained["summaries"]}
    expected = min(summaries, key=lambda r: summaries[r]["metrics"]["test_loss"]["mean"])
    assert best["test_loss"]["run"] == expected


def test_report_of_unfinished_and_missing(tmp_path, trained):
    with pytest.raises(FileNotFoundError):
        write_report(str(tmp_path / "nothing"))
    runs = records.load_runs(trained["out"])
    assert [r.status for r in runs] == ["finished", "finished"]
    assert runs[0].curve("val_loss")[1].shape == (2,)


def test_compare_two_runs(trained, tmp_path):
    dirs = [os.path.join(trained["out"], s["run_id"]) for s in trained["summaries"]]
    result = compare_runs(dirs, out=str(tmp_path / "cmp"))
    assert list(result["config"]) == ["optimizer.learning_rate"]
    assert result["config"]["optimizer.learning_rate"] == [0.01, 0.03]
    loss = result["metrics"]["test_loss"]
    assert loss["delta"][0] == 0.0
    assert loss["delta"][1] == pytest.approx(loss["runs"][1]["mean"] - loss["runs"][0]["mean"])
    assert result["analysis"][0]["parameters"] == result["analysis"][1]["parameters"] > 0
    assert os.path.exists(result["markdown"])
    assert any(p.endswith("compare_loss.png") for p in result["images"])
    assert all(_is_png(p) for p in result["images"])
    with pytest.raises(ValueError):
        compare_runs(dirs[:1])
