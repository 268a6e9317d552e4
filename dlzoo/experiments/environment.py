"""The environment of a run: versions, git state, hardware and seed (written to `environment.json`)."""

import datetime
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any, Dict, Optional

import dlzoo


def _version(module: str) -> Optional[str]:
    try:
        return metadata.version(module)
    except Exception:
        return None


def git_state(directory: str) -> Optional[Dict[str, Any]]:
    """`{"commit", "dirty", "root"}` of the git work tree holding `directory`, or `None`."""
    try:
        root = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=directory, capture_output=True, text=True, timeout=10
        )
        if root.returncode != 0:
            return None
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory, capture_output=True, text=True, timeout=30
        )
        return {
            "root": root.stdout.strip(),
            "commit": commit.stdout.strip() or None,
            "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None,
        }
    except (OSError, subprocess.SubprocessError):
        return None


def _memory_bytes() -> Optional[int]:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def accelerators(backend: str) -> Any:
    """The devices the backend sees (names), without importing another backend."""
    try:
        if backend == "jax":
            import jax  # lazy: backend (jax)

            return [str(d) for d in jax.devices()]
        if backend == "torch":
            import torch  # lazy: backend (torch)

            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return ["cpu"]
        if backend == "tensorflow":
            import tensorflow as tf  # lazy: backend (tensorflow)

            return [d.name for d in tf.config.list_physical_devices()]
    except Exception as exc:  # pragma: no cover - reporting only
        return f"unknown ({exc!r})"
    return None


def capture(seed: int, config_dir: Optional[str] = None) -> Dict[str, Any]:
    """Everything needed to trace a run back: versions, git, hardware, seed, command line."""
    import keras  # lazy: keras

    backend = keras.backend.backend()
    backend_package = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}.get(backend, backend)
    dlzoo_dir = os.path.dirname(os.path.dirname(os.path.abspath(dlzoo.__file__)))
    env = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "versions": {
            "dlzoo": dlzoo.__version__,
            "keras": keras.__version__,
            "backend": backend,
            "backend_version": _version(backend_package),
            "python": platform.python_version(),
            "numpy": _version("numpy"),
        },
        "git": {
            "dlzoo": git_state(dlzoo_dir),
            "experiment": git_state(config_dir or os.getcwd()),
        },
        "hardware": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "memory_bytes": _memory_bytes(),
            "accelerators": accelerators(backend),
        },
        "command": sys.argv,
        "python_executable": sys.executable,
        "env": {k: os.environ[k] for k in ("KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID") if k in os.environ},
    }
    return env
