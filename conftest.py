"""Pytest configuration: one backend per process, chosen by KERAS_BACKEND."""

import os

import pytest


def pytest_report_header(config):
    import keras

    return f"keras {keras.__version__}, backend: {keras.backend.backend()}"


def pytest_configure(config):
    config.addinivalue_line("markers", "large: full-size models; run with --run-large")
    config.addinivalue_line("markers", "slow: slower integration tests (subprocesses, servers)")
    config.addinivalue_line("markers", "gpu: needs an accelerator")


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", default=False, help="run @pytest.mark.large tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip_large = pytest.mark.skip(reason="full-size model: pass --run-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip_large)
