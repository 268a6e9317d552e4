"""Resuming: a real run killed with SIGKILL in the middle of an epoch ends with the same weights."""

import json
import os
import textwrap

import keras
import numpy as np
import pytest

from dlzoo.experiments import runner
from dlzoo.experiments.callbacks import read_history

from tests.experiments._helpers import tiny_arrays, tiny_config

KILL_PLUGIN = textwrap.dedent('''\
    """Test plugin: SIGKILL this process when training reads batch B of epoch E (once; a marker file remembers)."""
    import os
    import signal

    from dlzoo.experiments import callbacks

    _getitem = callbacks.SeededBatches.__getitem__


    def _killing_getitem(self, index):
        spec = os.environ.get("DLZOO_TEST_KILL_AT")
        if not spec:
            return _getitem(self, index)
        epoch, batch, marker = spec.split(":", 2)
        if self.shuffle and self.epoch == int(epoch) and index == int(batch) and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return _getitem(self, index)


    callbacks.SeededBatches.__getitem__ = _killing_getitem
    ''')


def _weights(path):
    model = keras.saving.load_model(path)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    from dlzoo.experiments import callbacks

    (tmp_path / "kill_plugin.py").write_text(KILL_PLUGIN)
    # The plugin is imported here too (the runner checks the file with it): undo its patch afterwards.
    monkeypatch.setattr(callbacks.SeededBatches, "__getitem__", callbacks.SeededBatches.__getitem__)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    marker = tmp_path / "killed"
    monkeypatch.setenv("DLZOO_TEST_KILL_AT", f"2:3:{marker}")
    data = tiny_arrays(str(tmp_path), n=240)
    # Dropout and stochastic depth: the random-generator states must come back too.
    config = tiny_config(data, **{"model.params.dropout": 0.3, "model.params.drop_path_rate": 0.2,
                                  "training.epochs": 4, "seed": 7})

    uninterrupted = runner.run_experiment(config, output_dir=str(tmp_path / "a"), isolate="always", quiet=True)[0]

    with pytest.raises(RuntimeError, match="exit code -9"):
        runner.run_experiment(config, output_dir=str(tmp_path / "b"), isolate="always", quiet=True,
                              plugins=["kill_plugin"])
    assert marker.exists()
    run_dir = tmp_path / "b" / uninterrupted["run_id"]
    assert runner.run_status(str(run_dir)) == "interrupted"  # its process died: nobody holds the run's lock
    assert json.load(open(run_dir / "backup" / "training_metadata.json"))["epoch"] == 2
    assert [r["epoch"] for r in read_history(str(run_dir / "history.csv"))] == [0, 1]

    resumed = runner.run_experiment(config, output_dir=str(tmp_path / "b"), isolate="always", quiet=True,
                                    plugins=["kill_plugin"])[0]
    assert resumed["status"] == "finished"
    assert resumed["run_id"] == uninterrupted["run_id"]
    a_dir = tmp_path / "a" / uninterrupted["run_id"]
    for a, b in zip(_weights(str(a_dir / "checkpoints" / "last.keras")), _weights(str(run_dir / "checkpoints" / "last.keras"))):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    rows_a, rows_b = read_history(str(a_dir / "history.csv")), read_history(str(run_dir / "history.csv"))
    assert [r["epoch"] for r in rows_b] == [0, 1, 2, 3]
    for ra, rb in zip(rows_a, rows_b):
        for key in ("loss", "val_loss", "accuracy"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-6, abs=1e-7)
    for name in ("test_loss", "test_accuracy", "val_loss"):
        assert resumed["metrics"][name]["mean"] == pytest.approx(uninterrupted["metrics"][name]["mean"], rel=1e-6, abs=1e-7)
    # Running the command once more skips the finished run.
    again = runner.run_experiment(config, output_dir=str(tmp_path / "b"), isolate="always", quiet=True)[0]
    assert again == resumed
