"""`dlzoo sample MODEL.keras --classes ... --out grid.png`: a PNG grid from a saved DiT; the CLI stays light."""

import os
import struct
import subprocess
import sys

import numpy as np

import dlzoo
from dlzoo.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _saved_tiny_dit(tmp_path):
    model = dlzoo.build("dit-tiny")
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign((rng.standard_normal(w.shape) * 0.1).astype("float32"))
    path = str(tmp_path / "dit.keras")
    model.save(path)
    return path


def _png_size(path):
    with open(path, "rb") as f:
        data = f.read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # width, height


def test_sample_writes_a_grid(tmp_path, capsys):
    model = _saved_tiny_dit(tmp_path)
    out = str(tmp_path / "grid.png")
    code = main(["sample", model, "--classes", "0", "1", "7", "--per-class", "3", "--steps", "2",
                 "--guidance", "2", "--out", out, "--scale", "2"])
    assert code == 0, capsys.readouterr().err
    assert "3 rows (classes 0 1 7) x 3 images" in capsys.readouterr().out
    assert _png_size(out) == (2 * (3 * 17 + 1), 2 * (3 * 17 + 1))  # 16x16 images, 1-pixel borders


def test_sample_refuses_bad_input(tmp_path, capsys):
    model = _saved_tiny_dit(tmp_path)
    assert main(["sample", model, "--classes", "1", "--out", str(tmp_path / "grid.jpg")]) == 2
    assert "--out needs a path ending in .png" in capsys.readouterr().err
    assert main(["sample", model, "--classes", "12", "--steps", "1", "--out", str(tmp_path / "g.png")]) == 2
    assert "class_labels" in capsys.readouterr().err
    assert main(["sample", model, "--classes", "1", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
    other = str(tmp_path / "gpt.keras")
    dlzoo.build("gpt-tiny").save(other)
    assert main(["sample", other, "--classes", "1", "--out", str(tmp_path / "g.png")]) == 2
    assert "not a class-conditional DiT" in capsys.readouterr().err


def test_parsing_sample_arguments_imports_no_keras():
    code = (
        "import sys\n"
        "from dlzoo.cli import make_parser\n"
        "make_parser().parse_args(['sample', 'm.keras', '--classes', '1', '2'])\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
