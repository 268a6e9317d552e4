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
    assert "Analytic forward FLOPs per example (`dlzoo.count_flops`" in md and "| block | type | parameters | FLOPs |" in md
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


# --------------------------------------------------- report details (issue 17, smaller things)
def _record(run_id, backend, lr, accuracy, epochs=2):
    history = [{"epoch": e, "loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1)} for e in range(epochs)]
    return records.RunRecord(
        path=f"/nonexistent/{run_id}", run_id=run_id,
        config={"name": "x", "backend": backend, "optimizer": {"name": "adam", "learning_rate": lr}},
        info={"status": "finished"},
        summary={"status": "finished", "metrics": {"test_accuracy": {"mean": accuracy, "std": 0.0, "n": 1}}},
        histories=[history], analysis=None,
    )


SYNTHETIC = [_record("a", "jax", 0.1, 0.885), _record("b", "torch", 0.2, 0.91)]


def test_backend_column_appears_once(tmp_path):
    from dlzoo.experiments.report import build_sections

    sections = build_sections(SYNTHETIC, str(tmp_path), "x")
    headers, rows = next(content for kind, content in sections if kind == "table")
    assert headers.count("backend") == 1 and "optimizer.learning_rate" in headers
    assert [row[headers.index("backend")] for row in rows] == ["jax", "torch"]


def test_curves_have_whole_epochs_and_a_legend_that_tells_splits_apart():
    from dlzoo.experiments.report import curves_figure, run_labels

    fig = curves_figure(SYNTHETIC, "loss", run_labels(SYNTHETIC))
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    legend = {t.get_text(): h for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    assert {"training", "validation"} <= set(legend)
    train, val = legend["training"], legend["validation"]
    assert (train.get_linestyle(), train.get_marker()) != (val.get_linestyle(), val.get_marker())
    assert sum(1 for label in legend if label not in ("training", "validation")) == 2  # each run once


def test_summary_bars_start_at_zero():
    from dlzoo.experiments.report import run_labels, summary_figure

    fig = summary_figure(SYNTHETIC, "test_accuracy", run_labels(SYNTHETIC))
    assert fig.axes[0].get_xlim()[0] == 0.0


def test_runs_are_labelled_by_their_dimension_values():
    from dlzoo.experiments.report import run_labels

    runs = [_record("a", "jax", 0.1, 0.9), _record("b", "jax", 0.2, 0.8)]
    assert run_labels(runs) == {"a": "0.1", "b": "0.2"}  # no recorded choices: the config values that differ
    runs[0].info["choices"], runs[1].info["choices"] = {"variant": "vit"}, {"variant": "resnet"}
    assert run_labels(runs) == {"a": "variant=vit", "b": "variant=resnet"}
