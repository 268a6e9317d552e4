"""One runner per run directory, and honest run states (issue 17, items 5 and 6)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from dlzoo.experiments import records, runner
from dlzoo.experiments.report import write_report

from tests.experiments._helpers import tiny_arrays, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOLD = "import sys, time\nfrom dlzoo.experiments.locking import RunLock\nwith RunLock(sys.argv[1]):\n    print('HELD', flush=True)\n    time.sleep(120)\n"


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _run_dir(tmp_path, status="running", pid=None):
    run_dir = tmp_path / "runs" / "r-00000000"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"name": "x", "backend": "jax"}))
    (run_dir / "run.json").write_text(json.dumps({"run_id": "r-00000000", "status": status, "pid": pid or _dead_pid(),
                                                  "host": socket.gethostname()}))
    return str(run_dir)


def test_lock_names_its_holder_and_dies_with_it(tmp_path):
    from dlzoo.experiments import locking

    run_dir = _run_dir(tmp_path)
    assert locking.holder(run_dir) is None
    proc = subprocess.Popen([sys.executable, "-c", HOLD, run_dir], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert proc.stdout.readline().strip() == "HELD"
        held = locking.holder(run_dir)
        assert held["pid"] == proc.pid and held["host"] == socket.gethostname() and held["since"]
        with pytest.raises(locking.RunLocked, match=f"is being run by pid {proc.pid} on host {socket.gethostname()}"):
            with locking.RunLock(run_dir, wait=0.2):
                pass
        assert locking.refresh_status(run_dir) == "running"
    finally:
        proc.kill()
        proc.wait()
    assert locking.holder(run_dir) is None  # the kernel released it with the process
    with locking.RunLock(run_dir):
        assert locking.holder(run_dir)["pid"] == os.getpid()


def test_a_dead_running_run_is_interrupted_in_the_report(tmp_path):
    dead = _dead_pid()
    run_dir = _run_dir(tmp_path, pid=dead)
    (record,) = records.load_runs(str(tmp_path / "runs"))
    assert record.status == "interrupted"
    info = json.load(open(os.path.join(run_dir, "run.json")))
    assert info["status"] == "interrupted" and f"pid {dead} on host" in info["reason"]
    markdown = open(write_report(str(tmp_path / "runs"))["markdown"]).read()
    assert "| interrupted |" in markdown and "| running |" not in markdown
    assert runner.run_status(run_dir) == "interrupted"


PAUSE_PLUGIN = textwrap.dedent('''\
    """Test plugin: training waits at its first batch while the file named by DLZOO_TEST_PAUSE exists."""
    import os
    import time

    from dlzoo.experiments import callbacks

    _getitem = callbacks.SeededBatches.__getitem__


    def _pausing_getitem(self, index):
        marker = os.environ.get("DLZOO_TEST_PAUSE")
        if marker and self.shuffle:
            open(marker + ".reached", "w").close()
            while os.path.exists(marker):
                time.sleep(0.1)
        return _getitem(self, index)


    callbacks.SeededBatches.__getitem__ = _pausing_getitem
    ''')


def _wait_for(path, proc, timeout=240):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None or os.path.exists(path), "the runner exited early"
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_a_second_runner_does_not_work_on_a_run_whose_parent_was_killed(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "pause_plugin.py").write_text(PAUSE_PLUGIN)
    pause = tmp_path / "pause"
    pause.write_text("")
    config = tiny_config(tiny_arrays(str(tmp_path)), **{"training.epochs": 1})
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, str(plugins)]), DLZOO_TEST_PAUSE=str(pause),
               TF_CPP_MIN_LOG_LEVEL="3")
    parent = subprocess.Popen([sys.executable, "-m", "dlzoo", "run", str(path), "--out", str(out), "--isolate", "always",
                               "--plugins", "pause_plugin", "--quiet"], env=env, cwd=str(tmp_path),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(str(pause) + ".reached", parent)  # the worker is training (and holds the run's lock)
        parent.kill()  # the parent dies; its worker goes on
        parent.wait()
        (run_dir,) = [str(d) for d in out.iterdir() if d.is_dir()]
        worker_pid = json.load(open(os.path.join(run_dir, "run.json")))["pid"]
        assert worker_pid != parent.pid
        with pytest.raises(RuntimeError, match=f"is being run by pid {worker_pid} on host"):  # RunLocked
            runner.run_experiment(config, output_dir=str(out), isolate="never", quiet=True)
        assert runner.run_status(run_dir) == "running"
    finally:
        pause.unlink()
    deadline = time.time() + 240
    while runner.run_status(run_dir) != "finished":  # the worker finishes the run on its own
        assert time.time() < deadline
        time.sleep(0.2)
    summary = runner.run_experiment(config, output_dir=str(out), isolate="never", quiet=True)[0]
    assert summary["status"] == "finished" and summary["run_id"] == os.path.basename(run_dir)
