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


def _compile_jax_programs_without_optimizations():
    """Test runs compile XLA programs with most optimization passes off (`JAX_DISABLE_MOST_OPTIMIZATIONS`).

    The suite's models are tiny, so compiling, not running, is what a JAX
    test waits for, and most of a compile is XLA's optimization passes: a
    sample of harness and zoo-model tests took 153 s with them and 98 s
    without. Results agree within every test's tolerance; users, the
    benchmarks (`tools/bench`) and the guides keep JAX's default. Set in the
    controlling process of every suite, so the xdist workers and the
    subprocesses tests spawn inherit it (the torch suite's cross-backend
    tests start JAX processes too); an explicit setting in the environment
    wins.
    """
    os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")


_compile_jax_programs_without_optimizations()


def pytest_report_header(config):
    import keras

    return f"keras {keras.__version__}, backend: {keras.backend.backend()}"


# The suite that runs the backend-agnostic tests: code that is the same Python on every backend (CLI plumbing,
# packaging, plugins, the experiment runner's files, locks and scripts). Three runs of it add time, not coverage.
BACKEND_AGNOSTIC_SUITE = "tensorflow"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"backend_agnostic: the same Python on every backend; runs in the {BACKEND_AGNOSTIC_SUITE} suite only")
    config.addinivalue_line("markers", "large: full-size models; run with --run-large")
    config.addinivalue_line("markers", "slow: slower integration tests (subprocesses, servers)")
    config.addinivalue_line("markers", "gpu: needs an accelerator")


def pytest_unconfigure(config):
    if _JAX_CACHE_MADE_HERE and not hasattr(config, "workerinput"):
        shutil.rmtree(_JAX_CACHE_MADE_HERE, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", default=False, help="run @pytest.mark.large tests")


def pytest_collection_modifyitems(config, items):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    skip_agnostic = pytest.mark.skip(reason=f"backend-agnostic: runs in the {BACKEND_AGNOSTIC_SUITE} suite only")
    skip_large = pytest.mark.skip(reason="full-size model: pass --run-large")
    for item in items:
        if "backend_agnostic" in item.keywords and backend != BACKEND_AGNOSTIC_SUITE:
            item.add_marker(skip_agnostic)
        if "large" in item.keywords and not config.getoption("--run-large"):
            item.add_marker(skip_large)
    _slow_files_first(items)


def _slow_files_first(items):
    """Move the files that hold a `slow` test to the front, keeping every other order.

    pytest-xdist (`--dist loadfile`) hands files to its workers in collection
    order; a several-minute file handed out last keeps one worker busy while
    the other has finished. Longest first is the classic fix.
    """
    slow_files = {item.path for item in items if "slow" in item.keywords}
    items.sort(key=lambda item: item.path not in slow_files)
