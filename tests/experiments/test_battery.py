"""Battery scripts: one per run, each running exactly the run the runner would run."""

import os
import subprocess

import keras
import numpy as np
import pytest
import yaml

from dlzoo.experiments import load_experiment, runner
from dlzoo.experiments.battery import write_battery

from tests.experiments._helpers import tiny_arrays, tiny_config


def _write_config(tmp_path, **overrides):
    config = tiny_config(tiny_arrays(str(tmp_path)), **overrides)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_bash_scripts_one_per_run(tmp_path):
    path = _write_config(tmp_path, **{"optimizer.learning_rate": [0.01, 0.03], "backend": ["jax", "torch"]})
    out = tmp_path / "scripts"
    result = write_battery(path, emit="bash", out=str(out), overrides=["training.epochs=1"], output_dir=str(tmp_path / "runs"))
    experiment = load_experiment(path, overrides=["training.epochs=1"])
    assert result["runs"] == [r.run_id for r in experiment.runs]
    assert len(result["scripts"]) == 4
    for spec, script in zip(experiment.runs, result["scripts"]):
        text = open(script).read()
        assert os.access(script, os.X_OK)
        assert f"export KERAS_BACKEND={spec.backend}" in text
        assert f"--only {spec.run_id}" in text
        assert "training.epochs=1" in text and os.path.abspath(path) in text
        assert "#SBATCH" not in text
    submit = open(result["submit"]).read()
    assert submit.count("bash ") == 4 and "sbatch" not in submit


def test_slurm_scripts_carry_the_options(tmp_path):
    path = _write_config(tmp_path)
    result = write_battery(path, emit="slurm", out=str(tmp_path / "s"), account="proj42", time="01:30:00",
                           partition="short", gpus=1, cpus=4, memory="8G", extra_sbatch=["--qos=low"])
    text = open(result["scripts"][0]).read()
    for line in ("#SBATCH --account=proj42", "#SBATCH --time=01:30:00", "#SBATCH --partition=short",
                 "#SBATCH --gpus=1", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G", "#SBATCH --qos=low",
                 "#SBATCH --job-name=tiny-000"):
        assert line in text
    assert text.index("#SBATCH") < text.index("set -euo")
    assert "sbatch" in open(result["submit"]).read()
    with pytest.raises(ValueError, match="emit"):
        write_battery(path, emit="pbs", out=str(tmp_path / "x"))


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_a_script_runs_the_same_run_as_the_runner(tmp_path):
    path = _write_config(tmp_path)
    result = write_battery(path, emit="bash", out=str(tmp_path / "scripts"), output_dir=str(tmp_path / "by_script"))
    completed = subprocess.run(["bash", result["scripts"][0]], capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    by_runner = runner.run_experiment(path, output_dir=str(tmp_path / "by_runner"), isolate="always", quiet=True)[0]
    run_id = result["runs"][0]
    assert by_runner["run_id"] == run_id
    a, b = tmp_path / "by_script" / run_id, tmp_path / "by_runner" / run_id
    assert (a / "config.yaml").read_text() == (b / "config.yaml").read_text()
    assert (a / "data_fingerprint.json").read_text() == (b / "data_fingerprint.json").read_text()
    wa = [keras.ops.convert_to_numpy(w) for w in keras.saving.load_model(str(a / "checkpoints" / "last.keras")).weights]
    wb = [keras.ops.convert_to_numpy(w) for w in keras.saving.load_model(str(b / "checkpoints" / "last.keras")).weights]
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_writing_scripts_imports_no_plugin_and_passes_the_opt_in_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil_plugin.py").write_text("open('IMPORTED', 'w').write('ran')\n")
    config = tiny_config(tiny_arrays(str(tmp_path)))
    config["plugins"] = ["evil_plugin"]
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    result = write_battery(str(path), out="scripts", plugins=["./evil_plugin.py"], trust_plugins=True)
    assert not (tmp_path / "IMPORTED").exists()
    text = open(result["scripts"][0]).read()
    assert "--plugins ./evil_plugin.py --trust-plugins" in text
