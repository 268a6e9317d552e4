"""Launchers: the `launcher:` section's checks, torchrun data parallelism equal to one process, submitit jobs."""

import os

import keras
import numpy as np
import pytest

from dlzoo.experiments import ExperimentError, launchers, load_experiment, runner
from dlzoo.experiments.callbacks import SeededBatches, read_history
from dlzoo.experiments.data_parallel import ShardedBatches

from tests.experiments._helpers import tiny_arrays, tiny_config


# ------------------------------------------------------------------ checks
def test_unknown_launcher_suggests_the_closest_name():
    with pytest.raises(ValueError, match=r"Unknown launcher 'torchrn'\. Did you mean 'torchrun'\?"):
        launchers.check({"name": "torchrn"})


@pytest.mark.parametrize("section, option, shown", [
    ({"name": "torchrun", "nproc_per_node": 0}, "nproc_per_node", "0"),
    ({"name": "torchrun", "process_group": "mpi"}, "process_group", "'mpi'"),
    ({"name": "torchrun", "nnodes": 2}, "rdzv_endpoint", "None"),
    ({"name": "submitit", "time": "2 hours"}, "time", "'2 hours'"),
    ({"name": "submitit", "memory": "lots"}, "memory", "'lots'"),
    ({"name": "submitit", "gpus": -1}, "gpus", "-1"),
    ({"name": "submitit", "cluster": "pbs"}, "cluster", "'pbs'"),
])
def test_bad_option_values_name_the_option_and_the_value(section, option, shown):
    with pytest.raises(ValueError) as info:
        launchers.check(section, backend="torch")
    assert f"launcher.{option}={shown}" in str(info.value)


def test_an_option_of_another_launcher_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"`launcher.partiton` is not an option of the submitit launcher\. "
                                         r"Did you mean 'partition'"):
        launchers.check({"name": "submitit", "partiton": "gpu"})
    with pytest.raises(ValueError, match="not an option of the torchrun launcher"):
        launchers.check({"name": "torchrun", "partition": "gpu"})


def test_torchrun_needs_the_torch_backend():
    with pytest.raises(ValueError, match=r"needs `backend: torch`\. Received: backend='jax'"):
        launchers.check({"name": "torchrun", "nproc_per_node": 2}, backend="jax")


def test_a_missing_submitit_package_says_how_to_get_it(monkeypatch):
    real = launchers.importlib.util.find_spec
    monkeypatch.setattr(launchers.importlib.util, "find_spec", lambda name: None if name == "submitit" else real(name))
    with pytest.raises(ModuleNotFoundError, match=r"needs the `submitit` package \(`pip install submitit`\)"):
        launchers.check("submitit")


def test_durations_sizes_and_commands():
    assert [launchers.timeout_minutes(v) for v in (90, "02:00:00", "1-00:00:00", "45:30")] == [90, 120, 1440, 46]
    assert [launchers.memory_gb(v) for v in ("16G", "512M", "1T", 8)] == [16.0, 0.5, 1024.0, 8.0]
    one = launchers.check({"name": "torchrun", "nproc_per_node": 2})
    assert launchers.torchrun_prefix(one, "r")[2:] == ["torch.distributed.run", "--nproc-per-node=2", "--standalone", "-m"]
    many = launchers.check({"name": "torchrun", "nproc_per_node": 8, "nnodes": 2, "rdzv_endpoint": "node0:29500"})
    assert launchers.torchrun_prefix(many, "run-1")[4:] == [
        "--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=node0:29500", "--rdzv-id=run-1", "-m"]
    assert launchers.several_machines(many) and not launchers.several_machines(one)


def test_the_command_line_replaces_or_completes_the_file_section():
    file_section = {"name": "submitit", "partition": "gpu"}
    assert launchers.merge(file_section, {"name": "torchrun", "nproc_per_node": 2}) == {"name": "torchrun", "nproc_per_node": 2}
    assert launchers.merge(file_section, {"name": "submitit", "nproc_per_node": None}) == file_section
    assert launchers.merge({"partition": "gpu"}, {"name": "submitit"}) == {"partition": "gpu", "name": "submitit"}
    assert launchers.merge(None, None) is None


def test_the_file_section_is_checked_and_is_not_part_of_the_run_identity(tmp_path):
    data = tiny_arrays(str(tmp_path), n=30)
    with pytest.raises(ExperimentError, match=r"launcher = \{'name': 'slurm'\}: Unknown launcher 'slurm'"):
        load_experiment(tiny_config(data, launcher={"name": "slurm"}), check_data=False)
    plain = load_experiment(tiny_config(data, backend="torch"), check_data=False).runs[0]
    launched = load_experiment(tiny_config(data, backend="torch", launcher={"name": "torchrun", "nproc_per_node": 2}),
                               check_data=False).runs[0]
    assert launched.run_id == plain.run_id  # a run started directly resumes under torchrun, and the reverse


def test_a_bad_command_line_launcher_stops_before_any_run(tmp_path):
    data = tiny_arrays(str(tmp_path), n=30)
    with pytest.raises(ValueError, match="Did you mean 'submitit'"):
        runner.run_experiment(tiny_config(data), output_dir=str(tmp_path / "runs"), quiet=True,
                              launcher={"name": "submitit2"})
    assert not os.path.exists(tmp_path / "runs")  # nothing written


# ------------------------------------------------------------ sharded data
def test_shards_of_a_global_batch_put_together_are_that_batch():
    x = np.arange(24, dtype="float32").reshape(24, 1)
    y = np.arange(24)
    batches = SeededBatches(x, y, batch_size=9, shuffle=True, seed=3)
    batches.epoch = 1
    shards = [ShardedBatches(batches, rank, 2) for rank in range(2)]
    for index in range(len(batches)):  # 9, 9 and 6 examples: 5 + 4, 5 + 4, 3 + 3
        gx, gy = batches[index]
        np.testing.assert_array_equal(np.concatenate([s[index][0] for s in shards]), gx)
        np.testing.assert_array_equal(np.concatenate([s[index][1] for s in shards]), gy)
        assert sum(s.share(index) for s in shards) == pytest.approx(1.0)
    assert [shards[0].share(i) for i in range(3)] == [5 / 9, 5 / 9, 0.5]
    with pytest.raises(ValueError, match=r"training.batch_size=10"):  # 24 = 10 + 10 + 4: 4 < 5 processes
        ShardedBatches(SeededBatches(x, y, batch_size=10), 0, 5)


# ------------------------------------------------------------- processes
def _weights(path):
    model = keras.saving.load_model(path)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _run_files(run_dir):
    return sorted(os.path.relpath(os.path.join(d, f), run_dir) for d, _, files in os.walk(run_dir) for f in files
                  if f != "output.log")


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="spawns torchrun: in the torch suite only")
def test_torchrun_two_processes_train_like_one_process_on_the_global_batch(tmp_path):
    data = tiny_arrays(str(tmp_path), n=40)
    # 24 training examples in batches of 9: shards of 5 + 4, 5 + 4 and 3 + 3 (uneven: the weighting matters).
    config = tiny_config(data, backend="torch", **{"training.epochs": 1, "training.batch_size": 9,
                                                   "training.analysis": False, "training.save_predictions": False})
    one = runner.run_experiment(config, output_dir=str(tmp_path / "one"), isolate="never", quiet=True)[0]
    two = runner.run_experiment(config, output_dir=str(tmp_path / "two"), quiet=True,
                                launcher={"name": "torchrun", "nproc_per_node": 2})[0]
    assert two["run_id"] == one["run_id"] and two["status"] == "finished"
    a, b = tmp_path / "one" / one["run_id"], tmp_path / "two" / two["run_id"]
    for name, metric in one["metrics"].items():
        assert two["metrics"][name]["mean"] == pytest.approx(metric["mean"], abs=1e-5), name
    (row_a,), (row_b,) = read_history(str(a / "history.csv")), read_history(str(b / "history.csv"))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # training metrics summed over the ranks
        assert row_b[key] == pytest.approx(row_a[key], abs=1e-5), key
    for wa, wb in zip(_weights(str(a / "checkpoints" / "last.keras")), _weights(str(b / "checkpoints" / "last.keras"))):
        np.testing.assert_allclose(wb, wa, atol=1e-5, rtol=0)
    assert _run_files(str(b)) == _run_files(str(a))  # rank 0 wrote the same files (rank 1 none of its own)


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="spawns a submitit job: in the jax suite only")
def test_a_run_through_a_local_submitit_job_writes_what_a_direct_run_writes(tmp_path):
    data = tiny_arrays(str(tmp_path), n=40)
    config = tiny_config(data, backend="jax", **{"training.epochs": 1, "training.analysis": False})
    direct = runner.run_experiment(config, output_dir=str(tmp_path / "direct"), isolate="never", quiet=True)[0]
    config["launcher"] = {"name": "submitit", "cluster": "local", "time": 5}
    jobbed = runner.run_experiment(config, output_dir=str(tmp_path / "job"), quiet=True)[0]
    a, b = tmp_path / "direct" / direct["run_id"], tmp_path / "job" / jobbed["run_id"]
    assert jobbed["run_id"] == direct["run_id"] and jobbed["status"] == "finished"
    assert _run_files(str(b)) == _run_files(str(a))
    for name, metric in direct["metrics"].items():
        assert jobbed["metrics"][name]["mean"] == pytest.approx(metric["mean"], abs=1e-6), name
    info = runner.runfiles.read_json(str(b / "run.json"))
    assert info["status"] == "finished" and info["launcher"]["name"] == "submitit"
    assert os.path.exists(os.path.join(info["launcher"]["folder"], f"{info['launcher']['job_id']}_0_log.out"))
