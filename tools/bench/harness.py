"""Process-tree harness: one worker subprocess per contender, interleaved rounds, robust statistics.

Each contender lives in its own Python process (one Keras backend per
process, as Keras requires), started and set up one after the other. The
timed calls are then interleaved, one call per contender per round
(A, B, C, A, B, C, ...), so that slow drifts of the machine's load hit every
contender alike; each contender gets warm-up calls first (their time, which
includes tracing/compilation, is reported separately as "first call").
"""

import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker_env(keras_backend: str, device: str = "cpu", threads: Optional[int] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["KERAS_BACKEND"] = keras_backend
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    if threads:
        # Same thread budget for every engine (for a shared machine: with fewer threads than
        # cores, a descheduled thread cannot stall every parallel region).
        n = str(threads)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
            env[var] = n
        env["TF_NUM_INTEROP_THREADS"] = "1"
        env["DLZOO_BENCH_THREADS"] = n
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                            + ("false" if threads == 1 else "true")).strip()
    return env


class WorkerError(RuntimeError):
    pass


class Worker:
    """A `tools.bench.worker` subprocess and its request/reply channel."""

    def __init__(self, label: str, spec: Dict[str, Any], keras_backend: str, log_dir: str, device: str = "cpu",
                 threads: Optional[int] = None):
        self.label = label
        self.threads = threads
        self.spec = spec
        self.keras_backend = keras_backend
        self.device = device
        self.log_path = os.path.join(log_dir, _safe(label) + ".log")
        self.proc: Optional[subprocess.Popen] = None
        self.info: Dict[str, Any] = {}
        self.error: Optional[str] = None
        self.setup_s: Optional[float] = None
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()

    # ---------------------------------------------------------- process
    def start(self, timeout=300):
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.bench.worker", json.dumps(self.spec)],
            cwd=ROOT,
            env=worker_env(self.keras_backend, self.device, self.threads),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._reader, daemon=True).start()
        self._read(timeout)

    def _reader(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerError(f"no reply within {timeout:.0f} s") from None
        if line is None:
            raise WorkerError(f"worker exited (code {self.proc.wait()}); log: {self.log_tail()}")
        return json.loads(line)

    def request(self, timeout=600, **msg):
        if self.proc is None or self.proc.poll() is not None:
            raise WorkerError("worker is not running")
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout)
        if not reply.get("ok"):
            raise WorkerError(reply.get("error", "unknown error"))
        return reply

    def setup(self, timeout=900):
        """Start and set up; on failure record the error instead of raising."""
        try:
            self.start()
            reply = self.request(cmd="setup", timeout=timeout)
            self.info, self.setup_s = reply.get("info", {}), reply.get("setup_s")
        except WorkerError as exc:
            self.error = str(exc)
            self.kill()
        return self.error is None

    def run(self, variant: str, n: int = 1, timeout=600) -> List[float]:
        return self.request(cmd="run", variant=variant, n=n, timeout=timeout)["times"]

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.request(cmd="exit", timeout=10)
            except WorkerError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None):
            self._log.close()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n=15):
        try:
            with open(self.log_path) as f:
                return " | ".join(line.strip() for line in f.readlines()[-n:])
        except OSError:
            return ""

    @property
    def ok(self):
        return self.error is None and self.proc is not None and self.proc.poll() is None


def _safe(label):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


class Contender:
    """One timed series: a worker and one of its call variants."""

    def __init__(self, label: str, worker: Worker, variant: str, **meta):
        self.label = label
        self.worker = worker
        self.variant = variant
        self.meta = meta
        self.times: List[float] = []
        self.first: List[float] = []
        self.error: Optional[str] = None

    def result(self) -> Dict[str, Any]:
        out = {"label": self.label, "variant": self.variant, **self.meta}
        out["error"] = self.error or self.worker.error
        out["setup_s"] = self.worker.setup_s
        out["info"] = self.worker.info
        out["first_s"] = self.first[0] if self.first else None
        out.update(summarize(self.times))
        return out


def summarize(times: List[float]) -> Dict[str, Any]:
    if not times:
        return {"n": 0, "median_s": None, "min_s": None, "max_s": None, "times_s": []}
    return {
        "n": len(times),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": [round(t, 6) for t in times],
    }


def setup_workers(workers: List[Worker], log: Callable[[str], None] = print, parallel: int = 2) -> None:
    """Start and set up workers, `parallel` at a time (imports and builds overlap on I/O).

    Setup (imports, model construction) is not a measured quantity; the first
    timed calls (tracing, compilation) happen later, one contender at a time.
    """
    from concurrent.futures import ThreadPoolExecutor

    pending = [w for w in workers if w.proc is None]

    def one(w):
        log(f"  setting up {w.label} ...")
        if w.setup():
            log(f"    {w.label} ready in {w.setup_s:.1f} s {json.dumps(w.info, default=str)[:240]}")
        else:
            log(f"    {w.label} FAILED: {w.error[:400]}")

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(one, pending))


def close_workers(workers: List[Worker], log: Callable[[str], None] = print, graceful: bool = True) -> None:
    """Ask each worker for its final facts and let it exit; `graceful=False` kills them (on errors)."""
    for w in workers:
        if not graceful:
            w.kill()
            w.close()
            continue
        if w.ok:
            try:
                w.info.update(w.request(cmd="after", timeout=60).get("info", {}))
            except WorkerError as exc:
                log(f"  {w.label}: after() failed: {exc}")
        w.close()


SETTLE_S = 0.5  # seconds of quiet before each timed call (see `time_interleaved`)


def time_interleaved(
    contenders: List[Contender],
    rounds: int,
    warmup: int = 1,
    budget_s: Optional[float] = None,
    min_rounds: int = 2,
    log: Callable[[str], None] = print,
    settle_s: float = SETTLE_S,
) -> List[Dict[str, Any]]:
    """Warm each contender up, then time one call per contender per round, interleaved.

    Workers must be set up. Stops early (after at least `min_rounds`) once the
    timed rounds have used `budget_s` seconds. Before each timed call the
    machine gets `settle_s` seconds of quiet, so that the worker timed just
    before has parked its thread pools (OpenMP and Eigen threads spin for a
    while after each parallel region; on 2 cores the spinning threads of the
    previous contender otherwise slow the next one, measured 2-3x on torch
    batch-1 inference).
    """
    for c in contenders:
        if not c.worker.ok:
            continue
        try:
            c.first = c.worker.run(c.variant, n=max(1, warmup))
            log(f"  warm-up {c.label}: " + ", ".join(f"{t:.3f}" for t in c.first) + " s")
        except WorkerError as exc:
            c.error = str(exc)
            log(f"  warm-up {c.label} FAILED: {c.error[:400]}")
    start = time.perf_counter()
    for r in range(rounds):
        line = []
        for c in contenders:
            if c.error or not c.worker.ok:
                continue
            try:
                if settle_s:
                    time.sleep(settle_s)
                t = c.worker.run(c.variant, n=1)[0]
                c.times.append(t)
                line.append(f"{c.label} {t:.3f}")
            except WorkerError as exc:
                c.error = str(exc)
                line.append(f"{c.label} FAILED")
        log(f"  round {r + 1}/{rounds}: " + "; ".join(line))
        if budget_s is not None and r + 1 >= min_rounds and time.perf_counter() - start > budget_s:
            log(f"  time budget of {budget_s:.0f} s used: stopping after {r + 1} rounds")
            break
    return [c.result() for c in contenders]


def run_interleaved(contenders: List[Contender], rounds: int, **kwargs) -> List[Dict[str, Any]]:
    """`setup_workers` + `time_interleaved` + `close_workers` for one self-contained comparison."""
    workers = []
    for c in contenders:
        if c.worker not in workers:
            workers.append(c.worker)
    log = kwargs.get("log", print)
    try:
        setup_workers(workers, log)
        results = time_interleaved(contenders, rounds, **kwargs)
    except BaseException:
        close_workers(workers, log, graceful=False)
        raise
    close_workers(workers, log)
    return results


# ----------------------------------------------------------- imports
_IMPORT_CODE = (
    "import time, sys, json\n"
    "t0 = time.perf_counter()\n"
    "import {module}\n"
    "dt = time.perf_counter() - t0\n"
    "print('BENCH_IMPORT ' + json.dumps({{'s': dt, 'tensorflow': 'tensorflow' in sys.modules, "
    "'torch': 'torch' in sys.modules, 'jax': 'jax' in sys.modules, 'keras_hub': 'keras_hub' in sys.modules, "
    "'modules': len(sys.modules)}}))\n"
)


def time_import(module: str, keras_backend: str, device="cpu", timeout=300, threads=None) -> Dict[str, Any]:
    """Import time of `module` in a fresh interpreter (in-process clock, plus the whole process)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_CODE.format(module=module)],
        cwd=ROOT,
        env=worker_env(keras_backend, device, threads),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_IMPORT "):
            out = json.loads(line[len("BENCH_IMPORT "):])
            out["process_s"] = wall
            return out
    raise WorkerError(f"import {module} failed: {proc.stderr[-500:]}")


def new_log_dir() -> str:
    return tempfile.mkdtemp(prefix="dlzoo-bench-")
