"""Pytest configuration: one backend per process, chosen by KERAS_BACKEND."""

import os
import shutil
import tempfile

import pytest

# Set in the controlling process before pytest-xdist starts its workers, so they inherit it.
_JAX_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def _share_jax_compilations():
    """One persistent JAX compilation cache for the whole run (a new temporary folder per run).

    xdist workers and the subprocesses tests spawn (CLI, quickstart, resume
    after SIGKILL...) then reuse each other's XLA programs instead of
    compiling the same ones again; within one process JAX's in-memory cache
    already does. Returns the folder made, or None when there is nothing to do.
    """
    if os.environ.get("KERAS_BACKEND") != "jax" or _JAX_CACHE_ENV in os.environ:
        return None
    directory = tempfile.mkdtemp(prefix="dlzoo-test-jax-cache-")
    os.environ[_JAX_CACHE_ENV] = directory
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
    return directory


_JAX_CACHE_MADE_HERE = _share_jax_compilations()


def pytest_report_header(config):
    import keras

    return f"keras {keras.__version__}, backend: {keras.backend.backend()}"


def pytest_configure(config):
    config.addinivalue_line("markers", "large: full-size models; run with --run-large")
    config.addinivalue_line("markers", "slow: slower integration tests (subprocesses, servers)")
    config.addinivalue_line("markers", "gpu: needs an accelerator")


def pytest_unconfigure(config):
    if _JAX_CACHE_MADE_HERE and not hasattr(config, "workerinput"):
        shutil.rmtree(_JAX_CACHE_MADE_HERE, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", default=False, help="run @pytest.mark.large tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip_large = pytest.mark.skip(reason="full-size model: pass --run-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip_large)
