import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_scaffold_refuses_bad_role_and_existing_files():
    bad = subprocess.run([sys.executable, "tools/new_block.py", "nowhere/x"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "role must be one of" in bad.stderr
    exists = subprocess.run(
        [sys.executable, "tools/new_block.py", "normalization/rms_norm"], cwd=ROOT, capture_output=True, text=True
    )
    assert exists.returncode == 2 and "already exists" in exists.stderr


def test_scaffold_template_is_valid_python(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import new_block
    finally:
        sys.path.pop(0)
    fields = dict(role="residual", name="demo_block", class_name="DemoBlock", paper="arXiv:0000.00000", arxiv="0000.00000")
    compile(new_block.BLOCK.format(**fields), "block.py", "exec")
    compile(new_block.TEST.format(**fields), "test.py", "exec")
