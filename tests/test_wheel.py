"""The wheel ships the zoo: build it, install it in a fresh venv, list and build a model from outside the repo."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache", "runs", "out"
)


def make_venv(directory, extra_paths=()):
    """A fresh venv (no pip) that sees the dev venv's site-packages (Keras, backends) through a .pth file.

    Only plain paths are added: `.pth` files inside them (such as the editable
    install of dlzoo) are not processed, so `import dlzoo` finds only what is
    installed in the new venv (or what `extra_paths` add).
    """
    venv.EnvBuilder(with_pip=False, symlinks=True).create(directory)
    python = Path(directory) / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    dev_site = sysconfig.get_paths()["purelib"]  # the running (dev) interpreter's site-packages
    Path(purelib, "dlzoo_dev_site.pth").write_text("\n".join([dev_site, *map(str, extra_paths)]) + "\n")
    return python


def clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DLZOO_CONFIG_PATH", "PYTHONHOME")}
    env.setdefault("KERAS_BACKEND", "jax")
    return env


def pip_install(python, target, *extra):
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "--quiet", *extra, str(target)],
        check=True, capture_output=True, text=True, env=clean_env(),
    )


CHECK = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import dlzoo
    from dlzoo import configs

    names = dlzoo.list_models()
    model = dlzoo.build("gpt-tiny", num_layers=1)
    out = model({"token_ids": np.zeros((1, 4), "int32"), "padding_mask": np.ones((1, 4), bool)})
    print(json.dumps({
        "dlzoo_file": dlzoo.__file__,
        "config_dir": str(configs.packaged_config_dir()),
        "names": names,
        "shape": list(out.shape),
        "count": model.count_params(),
        "expected": dlzoo.count_params("gpt-tiny", num_layers=1),
        "llama": dlzoo.count_params("llama-3-8b"),
    }))
    """
)


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_wheel_ships_zoo_configs_and_builds_outside_the_repo():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "src"
        shutil.copytree(REPO, source, ignore=COPY_IGNORE)
        dist = tmp / "dist"
        built = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(source)],
            capture_output=True, text=True, env=clean_env(),
        )
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        wheels = list(dist.glob("dlzoo-*.whl"))
        assert len(wheels) == 1

        import zipfile

        shipped = [n for n in zipfile.ZipFile(wheels[0]).namelist() if n.startswith("dlzoo/zoo_configs/")]
        repo_configs = sorted(str(p.relative_to(REPO / "zoo_configs")) for p in (REPO / "zoo_configs").rglob("*.yaml"))
        assert sorted(n[len("dlzoo/zoo_configs/"):] for n in shipped) == repo_configs
        assert not any(n.startswith("tests/") for n in zipfile.ZipFile(wheels[0]).namelist())

        python = make_venv(tmp / "venv")
        pip_install(python, wheels[0])
        work = tmp / "elsewhere"
        work.mkdir()
        run = subprocess.run(
            [str(python), "-c", CHECK], cwd=work, capture_output=True, text=True, env=clean_env(), timeout=600
        )
        assert run.returncode == 0, run.stderr[-3000:]
        result = json.loads(run.stdout.strip().splitlines()[-1])
        site = str(tmp / "venv")
        assert result["dlzoo_file"].startswith(site), result["dlzoo_file"]  # the installed wheel, not the repo
        assert result["config_dir"].startswith(site)
        assert {"gpt-tiny", "llama-tiny", "bert-tiny", "llama-3-8b"} <= set(result["names"])
        assert result["shape"] == [1, 4, 512]
        assert result["count"] == result["expected"]
        assert result["llama"] == 8030261248

        # The console script is installed too.
        listed = subprocess.run(
            [str(tmp / "venv" / "bin" / "dlzoo"), "list", "--names", "tiny"],
            cwd=work, capture_output=True, text=True, env=clean_env(), timeout=600,
        )
        assert listed.returncode == 0, listed.stderr[-3000:]
        assert "gpt-tiny" in listed.stdout.split()
