"""No module under dlzoo/blocks, dlzoo/models or dlzoo/extensions imports a backend directly."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORBIDDEN = {"torch", "jax", "jaxlib", "tensorflow", "tf"}
SCANNED = ["dlzoo/blocks", "dlzoo/models", "dlzoo/extensions"]


def _python_files():
    for folder in SCANNED:
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def _imported_roots(path):
    tree = ast.parse(open(os.path.join(ROOT, path)).read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


FILES = sorted(_python_files())


@pytest.mark.parametrize("path", FILES)
def test_no_backend_imports(path):
    bad = [(m, line) for m, line in _imported_roots(path) if m in FORBIDDEN]
    assert not bad, f"{path} imports a backend directly: {bad}; use keras.ops"


def test_scanner_sees_the_package():
    assert any(p.startswith("dlzoo/blocks/") for p in FILES)
