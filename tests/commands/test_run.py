"""`dlzoo run`: listing runs, refusing bad files with every problem, running one run."""

import json
import os
import subprocess
import sys

import keras
import pytest
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
    for line in ("dataset: arrays, concept_parquet, concepts, digits", "transform: ", "loss: ", "optimizer: "):
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


# ----------------------------------------------------------------------------- issue 17
def _float_targets(directory):
    """Arrays whose y are floats: `stratify: true` then fails while the run prepares its data (not at check time)."""
    import numpy as np

    path = os.path.join(directory, "floats.npz")
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(40, 4, 4, 1)).astype("float32"), y=rng.normal(size=40).astype("float32"))
    return path


def test_a_name_cannot_write_outside_the_working_directory(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work" / "a"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    path = _file(tmp_path, tiny_config(tiny_arrays(str(tmp_path)), name="../../escaped", **{"training.epochs": 1}))
    assert main(["run", path, "--isolate", "never", "--quiet"]) == 0
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "work" / "escaped").exists()
    (run_dir,) = [d for d in (work / "runs" / "escaped").iterdir() if d.is_dir()]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_an_outside_output_dir_is_refused_naming_both(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = _file(tmp_path, tiny_config(tiny_arrays(str(tmp_path)), output_dir="../outside"))
    assert main(["run", path, "--list"]) == 2
    err = capsys.readouterr().err
    assert f"output_dir = '../outside': resolves to {tmp_path / 'outside'}, outside the working directory {work}" in err
    assert "--allow-outside-workdir" in err
    assert main(["run", path, "--list", "--allow-outside-workdir"]) == 0
    assert "-> ../outside" in capsys.readouterr().out


def test_a_failing_run_is_marked_failed_with_one_line_and_exit_2(tmp_path, capsys):
    config = tiny_config(_float_targets(str(tmp_path)), **{"model.params.num_classes": 1, "losses": "mse",
                                                          "metrics": [], "training.epochs": 1})
    path = _file(tmp_path, config)
    assert main(["run", path, "--out", str(tmp_path / "runs"), "--isolate", "never", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and "stratify=true needs class labels" in err
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and "stratify=true needs class labels" in info["error"]


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_isolate_always_gives_one_line_and_exit_2(tmp_path, capfd):
    config = tiny_config(_float_targets(str(tmp_path)), **{"model.params.num_classes": 1, "losses": "mse",
                                                          "metrics": [], "training.epochs": 1})
    path = _file(tmp_path, config)
    assert main(["run", path, "--out", str(tmp_path / "runs"), "--isolate", "always"]) == 2
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    errors = [line for line in (out + err).splitlines() if "stratify=true" in line]
    assert len(errors) == 1 and errors[0].startswith("dlzoo run: error: Run ") and "exit code 2" in errors[0], out + err
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


EVIL_PLUGIN = "open('IMPORTED', 'w').write('a composition file ran this')\n"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_python_m_dlzoo_imports_no_plugin_from_the_working_directory(tmp_path):
    (tmp_path / "evil_plugin.py").write_text(EVIL_PLUGIN)
    config = tiny_config(tiny_arrays(str(tmp_path)))
    config["plugins"] = ["evil_plugin"]
    _file(tmp_path, config)
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    listed = subprocess.run([sys.executable, "-m", "dlzoo", "run", "exp.yaml", "--list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert not (tmp_path / "IMPORTED").exists(), "--list imported the file's plugin"
    assert "plugins not imported for --list: evil_plugin" in listed.stdout
    named = subprocess.run([sys.executable, "-m", "dlzoo", "run", "exp.yaml", "--plugins", "evil_plugin"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300)
    assert named.returncode == 2
    assert "No installed module named 'evil_plugin'. The working directory has 'evil_plugin.py'" in named.stderr
    assert "--plugins ./evil_plugin.py" in named.stderr
    assert not (tmp_path / "IMPORTED").exists(), "a .py in the working directory was imported by name"


def test_a_files_plugins_need_the_users_opt_in(tmp_path, monkeypatch, capsys):
    from dlzoo.experiments import load_experiment

    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil_plugin.py").write_text(EVIL_PLUGIN)
    config = tiny_config(tiny_arrays(str(tmp_path)))
    config["plugins"] = ["evil_plugin"]
    path = _file(tmp_path, config)
    assert main(["run", path, "--out", "runs"]) == 2
    err = capsys.readouterr().err
    assert "plugins = ['evil_plugin']: a composition file cannot import code on its own" in err
    assert "--plugins NAME" in err and "--trust-plugins" in err
    assert not (tmp_path / "IMPORTED").exists() and not (tmp_path / "runs").exists()
    # An explicit path on the command line is the user's choice: that file is imported.
    experiment = load_experiment(path, plugins=["./evil_plugin.py"])
    assert (tmp_path / "IMPORTED").exists() and experiment.plugins == ["./evil_plugin.py"]
