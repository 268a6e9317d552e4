"""`dlzoo search`: spaces checked before any trial, budgets rejected before allocation, SQLite study that
resumes after SIGKILL and is shared by two workers, the report and the best architecture as a zoo YAML.

The process tests (SIGKILL, workers) start searches in subprocesses of this backend; they run in the torch
suite only (the search itself is backend-independent: Optuna plus the runner, which has its own tests).
"""

import os
import signal
import subprocess
import sys
import time

import keras
import optuna
import pytest
import yaml

import dlzoo
from dlzoo.experiments import ExperimentError
from dlzoo.experiments import search as S
from tests.experiments._helpers import tiny_arrays, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
only_torch = pytest.mark.skipif(keras.backend.backend() != "torch", reason="process tests run once, in the torch suite")


def _search_file(tmp_path, trials=4, budgets=None, space=None, epochs=1):
    data = tiny_arrays(str(tmp_path))
    config = tiny_config(data, **{"training.epochs": epochs, "training.save_predictions": False})
    config["name"] = "tiny-search"
    config["search"] = {
        "type": "optuna",
        "space": space or {"hidden_dims": [[4], [8], [16], [64]], "norm.type": ["layer_norm", "rms_norm"],
                           "optimizer.learning_rate": {"float": [1.0e-3, 3.0e-2], "log": True}},
        "objectives": [{"metric": "val_accuracy", "direction": "maximize"}],
        "budgets": budgets if budgets is not None else {"max_params": 1000},
        "trials": trials,
        "seed": 0,
    }
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _study(out):
    return optuna.load_study(study_name="tiny-search", storage=S.default_storage(out))


def _states(study):
    counts = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


@pytest.mark.parametrize("space_or_budget,named", [
    ({"space": {"hidden_dims": []}}, "search.space.hidden_dims"),
    ({"space": {"depths_total": {"int": [4, 2]}}}, "low > high"),
    ({"space": {"hiden_dims": [[8]]}}, "search.space.hiden_dims"),
    ({"budgets": {"max_params": 10}}, "search.budgets"),
    ({"space": {"hidden_dims": {"int": [1, 4], "divides": "no_such"}}}, "divides"),
])
def test_bad_spaces_are_refused_before_any_trial(tmp_path, space_or_budget, named):
    path = _search_file(tmp_path, **space_or_budget)
    with pytest.raises(ExperimentError, match=named.replace(".", r"\.")) as info:
        S.search(path, output_dir=str(tmp_path / "out"), quiet=True)
    assert not (tmp_path / "out" / "study.db").exists(), "a trial or a study was started"
    if "hiden" in named:
        assert "hidden_dims" in str(info.value)  # did you mean


def test_a_run_of_a_search_file_points_to_dlzoo_search(tmp_path):
    with pytest.raises(ExperimentError, match="dlzoo search"):
        dlzoo.experiments.load_experiment(_search_file(tmp_path))


def test_search_rejects_over_budget_trials_before_allocation_and_writes_its_report(tmp_path):
    out = str(tmp_path / "out")
    facts = S.search(_search_file(tmp_path, trials=5), output_dir=out, quiet=True)
    counts = facts["trials"]
    assert counts["complete"] + counts["infeasible"] == 5 and counts["complete"] >= 1
    study = _study(out)
    for trial in study.get_trials(deepcopy=False):
        size = dlzoo.count_params("image-mlp-tiny", image_shape=[4, 4, 1], num_classes=3, depths=[1],
                                  hidden_dims=trial.params["hidden_dims"] if isinstance(trial.params["hidden_dims"], list)
                                  else yaml.safe_load(trial.params["hidden_dims"]), norm={"type": trial.params["norm.type"]})
        assert trial.user_attrs["parameters"] == size
        if size > 1000:  # rejected, in milliseconds, with no run directory
            assert trial.state.name == "PRUNED" and "max_params" in trial.user_attrs["infeasible"]
            assert trial.user_attrs["rejected_seconds"] < 1.0 and "run_id" not in trial.user_attrs
        else:
            assert trial.state.name == "COMPLETE"
            run_config = yaml.safe_load(open(os.path.join(out, "trials", trial.user_attrs["run_id"], "config.yaml")))
            assert {"name": "optuna_pruning", "monitor": "val_accuracy"} in run_config["callbacks"]
    report = open(facts["markdown"]).read()
    assert f"{counts['infeasible']} rejected as infeasible" in report and "## Best trial" in report
    best = dlzoo.build(facts["best_yaml"])
    assert best.count_params() == facts["best"]["parameters"] <= 1000
    assert open(facts["pareto_png"], "rb").read(4) == b"\x89PNG"


def test_median_pruner_stops_a_trial_below_the_median():
    from dlzoo.experiments import search_pruning

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    good = study.ask()
    for step in range(3):
        good.report(0.9, step)
    study.tell(good, 0.9)
    callback, model = search_pruning.OptunaPruning(monitor="val_accuracy"), keras.Sequential()
    model.stop_training = False  # what fit() sets
    callback.set_model(model)
    search_pruning.activate(study.ask())  # above the median: goes on
    callback.on_epoch_end(0, {"val_accuracy": 0.95})
    callback.on_epoch_end(1, {"val_accuracy": 0.96})
    assert search_pruning.ACTIVE["pruned_at"] is None and not model.stop_training
    search_pruning.activate(study.ask())  # below the median: stopped after its first epoch
    callback.on_epoch_end(0, {"val_accuracy": 0.2})
    assert search_pruning.ACTIVE["pruned_at"] == 0 and model.stop_training
    search_pruning.activate(None)
    callback.on_epoch_end(2, {"val_accuracy": 0.2})  # outside a search: nothing happens


def _start(path, out, *extra):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-m", "dlzoo", "search", path, "--out", out, "--quiet", *extra],
                            env=env, cwd=str(os.path.dirname(path)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@only_torch
def test_sigkill_then_rerun_resumes_the_same_study(tmp_path):
    path, out = _search_file(tmp_path, trials=3, budgets={}), str(tmp_path / "out")
    process = _start(path, out)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it in the middle of its second trial
        time.sleep(0.2)
        if process.poll() is not None:
            break
        try:
            states = _states(_study(out))
        except (KeyError, Exception):  # no database or no study yet
            continue
        if states.get("COMPLETE", 0) >= 1 and states.get("RUNNING", 0) == 1:
            break
    assert process.poll() is None, process.stdout.read().decode()[-3000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {t.number: t.params for t in _study(out).get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    time.sleep(4)  # past the heartbeat's grace period: the interrupted trial is stale
    rerun = _start(path, out)
    assert rerun.wait(timeout=300) == 0, rerun.stdout.read().decode()[-3000:]
    study = _study(out)
    states = _states(study)
    assert states.get("COMPLETE", 0) == 3 and states.get("FAIL", 0) == 1 and "RUNNING" not in states, states
    after = {t.number: t.params for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    assert all(after[n] == p for n, p in before.items())  # nothing lost


@only_torch
def test_two_workers_share_one_study(tmp_path):
    path, out = _search_file(tmp_path, trials=2, budgets={}), str(tmp_path / "out")
    process = _start(path, out, "--workers", "2")
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output[-3000:]
    study = _study(out)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert 2 <= len(trials) <= 3  # a worker may start one trial while the other finishes the last
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}
    assert len({t.number for t in trials}) == len(trials)
