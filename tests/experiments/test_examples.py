"""The shipped composition files run (with small settings)."""

import os

import keras
import pytest

from dlzoo.experiments import runner
from dlzoo.experiments.report import write_report

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "guides", "examples")


@pytest.mark.slow
def test_digits_example_runs(tmp_path):
    backend = keras.backend.backend()
    summaries = runner.run_experiment(
        os.path.join(EXAMPLES, "digits.yaml"),
        overrides=[f"backend={backend}", "model.name=image-mlp-tiny", "optimizer.learning_rate=0.003",
                   "training.epochs=2", "data.cv=2"],
        output_dir=str(tmp_path / "runs"), isolate="never", quiet=True,
    )
    assert len(summaries) == 1
    metrics = summaries[0]["metrics"]
    assert metrics["test_accuracy"]["n"] == 2
    assert metrics["test_accuracy"]["mean"] > 0.5
    report = write_report(str(tmp_path / "runs"))
    assert os.path.exists(report["html"])


@pytest.mark.slow
def test_lcm_quickstart_example_runs(tmp_path):
    backend = keras.backend.backend()
    summaries = runner.run_experiment(
        os.path.join(EXAMPLES, "lcm_quickstart.yaml"),
        overrides=[f"backend={backend}", "data.dataset.max_documents=16", "training.epochs=1", "training.batch_size=4"],
        output_dir=str(tmp_path / "runs"), isolate="never", quiet=True, only=["0"],
    )
    assert summaries[0]["model"] == "lcm-base-tiny"
    assert summaries[0]["metrics"]["test_loss"]["mean"] > 0
