"""`dlzoo run`: listing runs, refusing bad files with every problem, running one run."""

import json
import os

import keras
import yaml

from dlzoo.cli import main

from tests.experiments._helpers import tiny_arrays, tiny_config


def _file(tmp_path, config, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_list_shows_every_run(tmp_path, capsys):
    path = _file(tmp_path, tiny_config(tiny_arrays(str(tmp_path)), **{"optimizer.learning_rate": [0.1, 0.2]}))
    assert main(["run", path, "--list", "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "2 run(s)" in out and "dimensions: optimizer.learning_rate" in out
    assert "learning_rate=0.1-" in out and "[" + keras.backend.backend() + ", new]" in out


def test_bad_file_lists_every_problem_and_exits_2(tmp_path, capsys):
    config = tiny_config(tiny_arrays(str(tmp_path)))
    config["optimizer"] = {"name": "adamx"}
    config["training"]["epochs"] = -1
    config["metrics"] = ["accuracy", "no_such_metric"]
    path = _file(tmp_path, config)
    assert main(["run", path, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    assert "optimizer.name = 'adamx'" in err and "training.epochs = -1" in err and "metrics[1]" in err
    assert not os.path.exists(tmp_path / "runs"), "nothing runs when the file has problems"


def test_components_listing(capsys):
    assert main(["run", "unused.yaml", "--components"]) == 0
    out = capsys.readouterr().out
    for line in ("dataset: arrays, concepts, digits", "transform: ", "loss: ", "optimizer: "):
        assert line in out
    assert "adamw" in out and "early_stopping" in out


def test_run_one_run_in_process(tmp_path, capsys):
    path = _file(tmp_path, tiny_config(tiny_arrays(str(tmp_path)), **{"training.epochs": 1}))
    assert main(["run", path, "training.batch_size=32", "--out", str(tmp_path / "runs"), "--isolate", "never"]) == 0
    out = capsys.readouterr().out
    assert "experiment tiny: 1 run(s)" in out and "done in" in out and "test_accuracy=" in out
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["training"]["batch_size"] == 32
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert main(["run", path, "training.batch_size=32", "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
