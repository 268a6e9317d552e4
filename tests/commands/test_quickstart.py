"""`dlzoo quickstart`: argument handling, the backend re-exec, and small end-to-end runs."""

import argparse
import json
import os
import subprocess
import sys

import pytest

import keras

from dlzoo.commands import quickstart

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _parse(argv):
    parser = argparse.ArgumentParser()
    quickstart.add_arguments(parser)
    return parser.parse_args(argv)


def test_argv_round_trip():
    argv = ["--backend", "jax", "--model", "lcm-two-tower", "--epochs", "3", "--max-documents", "50",
            "--set", "num_denoiser_layers=2", "--time-budget", "30", "--no-export", "--quiet"]
    args = _parse(argv)
    again = _parse(quickstart._argv_from(args)[1:])
    assert vars(again) == vars(args)


def test_no_reexec_when_the_backend_matches():
    args = _parse(["--backend", keras.backend.backend()])
    assert quickstart._maybe_reexec(args) is None  # returns instead of replacing the process


def test_rejects_unknown_model_and_backend():
    with pytest.raises(SystemExit):
        _parse(["--model", "lcm-three-tower"])
    with pytest.raises(SystemExit):
        _parse(["--backend", "numpy"])


def _run(tmp_path, model, extra=()):
    other = next(b for b in ("tensorflow", "torch", "jax") if b != keras.backend.backend())
    env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dlzoo", "quickstart", "--backend", keras.backend.backend(), "--model", model,
           "--max-documents", "40", "--epochs", "2", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
           "--inference-steps", "4", "--quiet", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # Started under another backend, so the command re-executed itself with KERAS_BACKEND set.
    assert f"re-executing with KERAS_BACKEND={keras.backend.backend()}" in proc.stdout
    assert "retrieval top-1 accuracy" in proc.stdout and "baseline" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == keras.backend.backend()
    assert summary["model"] == model
    for side in ("model", "baseline"):
        assert set(summary["evaluation"][side]) == {"cosine", "cosine_normalized", "top1_accuracy", "top1_accuracy_context_excluded"}
    assert isinstance(summary["beats_baseline"], bool)
    assert summary["generation"]["prompt"] and summary["generation"]["stop_reason"] in ("end_of_text", "max_length")
    for key in ("model", "normalizer", "checkpoint", "history"):
        assert os.path.exists(summary["files"][key]), key
    return summary


@pytest.mark.slow
def test_quickstart_base_lcm_end_to_end(tmp_path):
    summary = _run(tmp_path, "lcm-base", ["--set", "num_layers=2", "--set", "hidden_dim=64"])
    import dlzoo
    from dlzoo.concepts import EmbeddingNormalizer

    model = dlzoo.load(summary["files"]["model"])
    assert model.count_params() == summary["parameters"]
    assert EmbeddingNormalizer.load(summary["files"]["normalizer"]).is_fitted
    # The trained model was exported to both formats and each artifact verified in a clean process.
    exported = summary["export"]
    assert set(exported["formats"]) == {"saved_model", "onnx"}
    assert all(f["max_abs_diff"] <= 1e-4 for f in exported["formats"].values())
    assert os.path.exists(os.path.join(exported["directory"], "model.onnx"))
    # The output directory is a servable text pipeline: documents in, retrieved bank sentences out.
    from dlzoo.lcm import LCMPipeline

    pipe = LCMPipeline.from_directory(summary["files"]["model"])
    bank = set(json.loads(open(summary["files"]["bank"]).read()))
    continuation = pipe.generate(["The first sentence of a document. Then a second sentence follows."],
                                 max_new_concepts=2)[0]
    assert 1 <= len(continuation) <= 2 and set(continuation) <= bank


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the base LCM runs end to end on every backend; the two-tower once")
def test_quickstart_two_tower_end_to_end(tmp_path):
    summary = _run(tmp_path, "lcm-two-tower", ["--set", "num_denoiser_layers=1", "--set", "hidden_dim=64",
                                                "--no-export"])
    assert summary["export"] is None
    assert summary["parameters"] > 0


def test_time_budget_stops_training_after_the_epoch_that_passes_it():
    import numpy as np

    messages = []
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 3), "float32"), np.zeros((8, 1), "float32")
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[quickstart.time_budget_callback(1e-9, messages.append)])
    assert len(history.history["loss"]) == 1
    assert "time budget" in messages[0] and "after epoch 1" in messages[0]
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[quickstart.time_budget_callback(3600, messages.append)])
    assert len(history.history["loss"]) == 3 and len(messages) == 1


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--batch-size", "0"), ("--max-length", "1"),
                                         ("--max-documents", "3"), ("--learning-rate", "0"), ("--time-budget", "-5"),
                                         ("--inference-steps", "0"), ("--threads", "0")])
def test_out_of_range_options_are_refused_before_any_work(flag, value):
    args = _parse([flag, value])
    with pytest.raises(ValueError, match=f"`{flag}` must be .*Received: {flag}="):
        quickstart.run(args)
