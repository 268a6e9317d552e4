"""One runner per run directory: an OS file lock, who holds it, and the honest state of a run.

The process that trains a run (`runner.execute_run`, in the `dlzoo run`
process or in its worker) holds an exclusive `fcntl.flock` on
`<run_dir>/run.lock` and writes its pid, host and start time into that file.
The kernel releases the lock when the process dies, however it dies, so:

* another `dlzoo run` that reaches the same run sees the lock held and says
  who holds it (`RunLocked`), instead of training the run a second time;
* a `run.json` that still says `"running"` while nobody holds the lock
  belongs to a dead process: `refresh_status` marks it `"interrupted"` (on
  the next `dlzoo run`, `--list` or `dlzoo report`).

POSIX only (`fcntl`); the lock is only as good as the filesystem's `flock`
(local disks: yes; some network filesystems: no).
"""

import fcntl
import json
import os
import socket
import sys
import time
from typing import Any, Dict, Optional

from dlzoo.experiments import runfiles

LOCK_FILE = "run.lock"
RUNNING, INTERRUPTED, FAILED = "running", "interrupted", "failed"


class RunLocked(RuntimeError):
    """Another live process works on this run directory; `holder` says which."""

    def __init__(self, run_dir: str, holder: Dict[str, Any], others: int = 0):
        self.run_dir = run_dir
        self.holder = holder
        more = f" ({others} more run(s) of this experiment too)" if others else ""
        super().__init__(f"Run {os.path.basename(os.path.normpath(run_dir))} is being run by {describe(holder)}{more}; "
                         f"not starting it twice (its lock: {os.path.join(run_dir, LOCK_FILE)}).")


def describe(holder: Dict[str, Any]) -> str:
    """`"pid 123 on host h (since 2026-12-01T10:00:00)"`."""
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    return text + (f" (since {holder['since']})" if holder.get("since") else "")


def holder(run_dir: str) -> Optional[Dict[str, Any]]:
    """Who holds the run's lock (`{"pid", "host", "since", ...}`), or None when nobody does."""
    path = os.path.join(run_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            except ValueError:
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    """`with RunLock(run_dir):` hold the run's lock (raises `RunLocked` naming the holder when taken)."""

    def __init__(self, run_dir: str, wait: float = 2.0):
        self.run_dir = run_dir
        self.wait = wait  # covers a concurrent `holder()` probe, which holds a shared lock for a moment
        self._fd: Optional[int] = None

    def __enter__(self) -> "RunLock":
        fd = os.open(os.path.join(self.run_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    info = holder(self.run_dir) or {}
                    os.close(fd)
                    raise RunLocked(self.run_dir, info) from None
                time.sleep(0.05)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "argv": sys.argv[:4]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def refresh_status(run_dir: str) -> Optional[str]:
    """The run's status from `run.json`; a `"running"` run nobody holds the lock of becomes `"interrupted"`."""
    path = os.path.join(run_dir, "run.json")
    info = runfiles.read_json(path)
    if info is None:
        return None
    status = info.get("status", "created")
    if status == RUNNING and holder(run_dir) is None:
        owner = describe({"pid": info.get("pid"), "host": info.get("host")})
        info.update(status=INTERRUPTED, reason=f"the process that ran it ({owner}) ended without finishing it",
                    interrupted=time.strftime("%Y-%m-%dT%H:%M:%S"))
        try:
            runfiles.write_json(path, info)
        except OSError:  # a read-only copy of runs: report the state without recording it
            pass
        status = INTERRUPTED
    return status
