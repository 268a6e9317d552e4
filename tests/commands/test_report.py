"""`dlzoo report RUNS_DIR` and `dlzoo compare RUN_A RUN_B`."""

import os

from dlzoo.cli import main

from tests.experiments._helpers import trained  # noqa: F401  (fixture)


def test_report_command(trained, tmp_path, capsys):
    assert main(["report", trained["out"], "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "report of 2 run(s) (2 finished)" in out
    assert "report.md" in out and "report.html" in out and "curves_loss.png" in out
    assert "best test_accuracy (max):" in out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "No runs directory" in capsys.readouterr().err


def test_compare_command(trained, tmp_path, capsys):
    dirs = [os.path.join(trained["out"], s["run_id"]) for s in trained["summaries"]]
    assert main(["compare", *dirs, "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "## Config differences" in out and "optimizer.learning_rate" in out
    assert "## Metrics (difference to the first run)" in out and "test_loss" in out
    assert os.path.exists(tmp_path / "cmp" / "compare_loss.png")
    assert main(["compare", dirs[0]]) == 2
