"""Running experiments in this process: run directories, CV summaries, skipping, never overwriting, losses."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import yaml

from dlzoo.experiments import load_experiment, runner
from dlzoo.experiments.callbacks import read_history

from tests.experiments._helpers import tiny_arrays, tiny_config

RUN_FILES = ("config.yaml", "run.json", "environment.json", "data_fingerprint.json", "splits.npz", "model.json",
             "analysis.json", "summary.json")
FOLD_FILES = ("history.csv", "checkpoints/best.keras", "checkpoints/last.keras", "predictions.npz",
              "transforms.json", "fold_summary.json")


def _run_dirs(out):
    return sorted(os.path.join(out, d) for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)))


def test_run_directories_hold_everything(trained):
    dirs = _run_dirs(trained["out"])
    assert len(dirs) == 2
    assert [os.path.basename(d).split("-")[0] for d in dirs] == ["learning_rate=0.01", "learning_rate=0.03"]
    for run_dir in dirs:
        for name in RUN_FILES:
            assert os.path.exists(os.path.join(run_dir, name)), name
        for fold in ("fold_0", "fold_1"):
            for name in FOLD_FILES:
                assert os.path.exists(os.path.join(run_dir, fold, name)), f"{fold}/{name}"
            rows = read_history(os.path.join(run_dir, fold, "history.csv"))
            assert [r["epoch"] for r in rows] == [0, 1]
            assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])
        assert not os.path.exists(os.path.join(run_dir, "fold_0", "backup")), "the backup is removed when done"
        info = json.load(open(os.path.join(run_dir, "run.json")))
        assert info["status"] == "finished"
    assert os.path.exists(os.path.join(trained["out"], "experiment.json"))


def test_summary_has_cv_mean_and_std(trained):
    summary = trained["summaries"][0]
    assert summary["status"] == "finished"
    assert summary["folds"] == 2
    for name in ("val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        metric = summary["metrics"][name]
        assert metric["n"] == 2
        assert metric["mean"] == pytest.approx(np.mean(metric["values"]))
        assert metric["std"] == pytest.approx(np.std(metric["values"], ddof=1))
    assert summary["parameters"] > 0
    assert summary["backend"] == keras.backend.backend()
    assert summary["flops_per_example"] is None or summary["flops_per_example"] > 0


def test_traceability_files(trained):
    run_dir = _run_dirs(trained["out"])[0]
    env = json.load(open(os.path.join(run_dir, "environment.json")))
    assert env["versions"]["backend"] == keras.backend.backend()
    assert env["versions"]["keras"] == keras.__version__
    assert env["seed"] == 0
    assert "dirty" in (env["git"]["dlzoo"] or {"dirty": None})
    fingerprint = json.load(open(os.path.join(run_dir, "data_fingerprint.json")))
    assert trained["data"] in fingerprint["files"]
    assert len(fingerprint["folds"]) == 2
    splits = np.load(os.path.join(run_dir, "splits.npz"))
    assert len(splits["test"]) == fingerprint["splits"]["test"]["count"] == 18
    assert sorted(np.concatenate([splits["fold_0_validation"], splits["fold_1_validation"], splits["test"]]).tolist()) == list(range(90))
    # Same data and seed: the same fingerprint in both runs.
    other = json.load(open(os.path.join(_run_dirs(trained["out"])[1], "data_fingerprint.json")))
    assert other["indices_sha256"] == fingerprint["indices_sha256"]
    predictions = np.load(os.path.join(run_dir, "fold_0", "predictions.npz"))
    assert predictions["y_pred"].shape == (18, 3)
    np.testing.assert_array_equal(predictions["indices"], splits["test"])
    assert str(predictions["split"]) == "test"


def test_resolved_config_is_rerunnable_as_is(trained):
    run_dir = _run_dirs(trained["out"])[0]
    experiment = load_experiment(os.path.join(run_dir, "config.yaml"))
    assert len(experiment.runs) == 1
    info = json.load(open(os.path.join(run_dir, "run.json")))
    assert experiment.runs[0].digest == info["digest"]


def test_best_checkpoint_is_the_evaluated_model(trained):
    import dlzoo

    run_dir = _run_dirs(trained["out"])[0]
    model = dlzoo.load(os.path.join(run_dir, "fold_0", "checkpoints", "best.keras"))
    predictions = np.load(os.path.join(run_dir, "fold_0", "predictions.npz"))
    data = np.load(trained["data"])
    x = data["x"][predictions["indices"]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.predict({"images": x}, verbose=0)),
                               predictions["y_pred"], atol=1e-5)


def test_rerunning_skips_finished_runs_and_rerun_never_overwrites(trained, capsys, tmp_path):
    # Work on a copy: the `trained` runs are shared with other tests (the report counts them).
    out = str(tmp_path / "runs")
    shutil.copytree(trained["out"], out)
    before = {d: os.path.getmtime(os.path.join(d, "summary.json")) for d in _run_dirs(out)}
    summaries = runner.run_experiment(trained["config"], output_dir=out, isolate="never")
    assert "finished before, skipped" in capsys.readouterr().out
    assert [s["run_id"] for s in summaries] == [s["run_id"] for s in trained["summaries"]]
    assert {d: os.path.getmtime(os.path.join(d, "summary.json")) for d in _run_dirs(out)} == before
    first = trained["summaries"][0]["run_id"]
    again = runner.run_experiment(trained["config"], output_dir=out, isolate="never", rerun=True,
                                  only=[first], quiet=True)
    assert again[0]["run_id"] == first + "-2"
    assert again[0]["metrics"]["test_loss"]["values"] == pytest.approx(trained["summaries"][0]["metrics"]["test_loss"]["values"], abs=1e-5)
    assert set(before) < set(_run_dirs(out))


def test_several_weighted_losses_regularizer_and_callbacks(tmp_path):
    data = tiny_arrays(str(tmp_path))
    config = tiny_config(data, losses=[
        {"name": "sparse_categorical_crossentropy", "from_logits": True, "weight": 1.0},
        {"name": "sparse_categorical_crossentropy", "from_logits": True, "weight": 0.5, "ignore_class": 0},
    ])
    config["regularizer"] = {"name": "l2", "weight": 0.01}
    config["callbacks"] = [{"name": "early_stopping", "monitor": "val_loss", "patience": 5}]
    config["schedule"] = {"name": "cosine_decay"}
    config["training"]["epochs"] = 3
    summary = runner.run_experiment(config, output_dir=str(tmp_path / "runs"), isolate="never", quiet=True)[0]
    run_dir = os.path.join(str(tmp_path / "runs"), summary["run_id"])
    rows = read_history(os.path.join(run_dir, "history.csv"))
    assert len(rows) == 3
    # Each part of the objective is logged, and the total is their weighted sum plus the penalty.
    assert {"sparse_categorical_crossentropy_0", "sparse_categorical_crossentropy_1",
            "val_sparse_categorical_crossentropy_0"} <= set(rows[0]), sorted(rows[0])
    for row in rows:  # the total is the weighted sum of the parts plus the (positive) L2 penalty
        parts = row["sparse_categorical_crossentropy_0"] + 0.5 * row["sparse_categorical_crossentropy_1"]
        assert row["loss"] > parts - 1e-4
    assert rows[-1]["learning_rate"] < rows[0]["learning_rate"]
    analysis = json.load(open(os.path.join(run_dir, "analysis.json")))
    assert analysis["regularized_variables"] == 4  # input projection, two MLP kernels, logits


def test_regularizer_adds_the_weighted_penalty():
    import dlzoo
    from dlzoo.experiments.runner import apply_regularizer

    model = dlzoo.build("image-mlp-tiny", image_shape=[4, 4, 1], num_classes=3, hidden_dims=[8], depths=[1])
    chosen = apply_regularizer({"regularizer": {"name": "l2", "weight": 0.5}}, model)
    kernels = [v for v in model.trainable_variables if len(v.shape) >= 2]
    assert chosen == [v.path for v in kernels]
    expected = 0.5 * sum(float(np.sum(keras.ops.convert_to_numpy(v) ** 2)) for v in kernels)
    assert float(sum(keras.ops.convert_to_numpy(l) for l in model.losses)) == pytest.approx(expected, rel=1e-5)
    model = dlzoo.build("image-mlp-tiny", image_shape=[4, 4, 1], num_classes=3, hidden_dims=[8], depths=[1])
    chosen = apply_regularizer({"regularizer": {"name": "l1", "weight": 1.0, "variables": "*logits*"}}, model)
    assert len(chosen) == 2 and all("logits" in p for p in chosen)


def test_backend_mismatch_in_process_is_refused(tmp_path):
    other = "torch" if keras.backend.backend() != "torch" else "jax"
    config = tiny_config(tiny_arrays(str(tmp_path)), backend=other)
    with pytest.raises(ValueError, match="needs backend"):
        runner.run_experiment(config, output_dir=str(tmp_path / "runs"), isolate="never", quiet=True)
