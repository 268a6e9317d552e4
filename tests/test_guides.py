"""The `>>>` examples of the guides run as written (each guide in a fresh interpreter, torch suite only)."""

import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDES = sorted(
    name for name in os.listdir(os.path.join(ROOT, "guides"))
    if name.endswith(".md") and ">>> " in open(os.path.join(ROOT, "guides", name), encoding="utf-8").read()
)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the guides' outputs are backend-independent: run once")
@pytest.mark.parametrize("guide", GUIDES)
def test_guide_examples_run_as_written(guide, tmp_path):
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "doctest", "-o", "ELLIPSIS", "-o", "NORMALIZE_WHITESPACE", os.path.join(ROOT, "guides", guide)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
