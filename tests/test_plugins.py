"""Plugins: a real package installed in a fresh venv contributes a block, a model, an extension and a zoo config."""

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import types
import venv
import warnings
from pathlib import Path

import pytest

from dlzoo import configs, plugins

REPO = Path(__file__).resolve().parents[1]

PLUGIN_FILES = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "dlzoo-toy-plugin"
        version = "0.0.1"

        [project.entry-points."dlzoo.plugins"]
        toy = "dlzoo_toy_plugin"

        [tool.setuptools]
        packages = ["dlzoo_toy_plugin"]

        [tool.setuptools.package-data]
        dlzoo_toy_plugin = ["zoo_configs/*.yaml"]
        """,
    "dlzoo_toy_plugin/__init__.py": '''\
        """A toy dlzoo plugin: one block, one model, one extension, one named model."""
        from pathlib import Path

        import keras

        import dlzoo

        ZOO_CONFIG_DIRS = [str(Path(__file__).parent / "zoo_configs")]


        @dlzoo.register_block("toy_scale", paper="none", category="toy")
        class ToyScale(keras.layers.Layer):
            """Multiply by a learned per-feature scale."""

            def build(self, input_shape):
                self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

            def call(self, x):
                return x * self.scale

            def count_params_for(self, input_shape):
                return int(input_shape[-1])


        def count_toy(hidden_dim, num_classes):
            return hidden_dim + hidden_dim * num_classes + num_classes


        @dlzoo.register_model("toy_mlp", paper="none", count_params=count_toy)
        def toy_mlp(hidden_dim=8, num_classes=3):
            inputs = {"features": keras.Input((hidden_dim,), name="features")}
            x = ToyScale(name="scale")(inputs["features"])
            return inputs, keras.layers.Dense(num_classes, name="classifier")(x)


        @dlzoo.register_extension("toy_wider", paper="none")
        def toy_wider(config, factor=2):
            config["params"]["hidden_dim"] *= factor
            return config
        ''',
    "dlzoo_toy_plugin/zoo_configs/toy-mlp-tiny.yaml": """\
        name: toy-mlp-tiny
        model: toy_mlp
        reference: none
        description: The toy plugin's model.
        params: {hidden_dim: 4, num_classes: 2}
        """,
}

CHECK = textwrap.dedent(
    """
    import json, os, tempfile
    import keras
    import numpy as np
    import dlzoo
    from dlzoo import plugins

    model = dlzoo.build("toy-mlp-tiny")
    out = model({"features": np.ones((2, 4), "float32")})
    wider = dlzoo.build("toy_mlp", extensions=[{"name": "toy_wider", "factor": 3}])
    with tempfile.TemporaryDirectory() as tmp:
        model.save(os.path.join(tmp, "toy.keras"))
        restored = dlzoo.load(os.path.join(tmp, "toy.keras"))
        same = bool(np.allclose(keras.ops.convert_to_numpy(restored({"features": np.ones((2, 4), "float32")})),
                                keras.ops.convert_to_numpy(out)))
    print(json.dumps({
        "loaded": sorted(plugins.loaded),
        "failed": sorted(plugins.failed),
        "models": dlzoo.list_models("toy*"),
        "blocks": dlzoo.list_blocks("toy*"),
        "extensions": dlzoo.list_extensions("toy*"),
        "shape": list(out.shape),
        "count": model.count_params(),
        "counted": dlzoo.count_params("toy-mlp-tiny"),
        "wider_hidden": wider.zoo_config["params"]["hidden_dim"],
        "reloaded_same": same,
    }))
    """
)


def make_venv(directory, extra_paths=()):
    """A fresh venv (no pip) that sees the dev venv's site-packages through a .pth file (see test_wheel.py)."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(directory)
    python = Path(directory) / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    lines = [sysconfig.get_paths()["purelib"], *map(str, extra_paths)]
    Path(purelib, "dlzoo_dev_site.pth").write_text("\n".join(lines) + "\n")
    return python


def clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DLZOO_CONFIG_PATH", "PYTHONHOME")}
    env.setdefault("KERAS_BACKEND", "jax")
    return env


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_installed_plugin_contributes_a_model_block_extension_and_config():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "plugin"
        for relative, text in PLUGIN_FILES.items():
            path = source / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        # dlzoo itself comes from this checkout (the repo root on the venv's path).
        python = make_venv(tmp / "venv", extra_paths=[REPO])
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
             "--no-build-isolation", "--disable-pip-version-check", "--quiet", str(source)],
            capture_output=True, text=True, env=clean_env(),
        )
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
        work = tmp / "elsewhere"
        work.mkdir()
        run = subprocess.run(
            [str(python), "-c", CHECK], cwd=work, capture_output=True, text=True, env=clean_env(), timeout=600
        )
        assert run.returncode == 0, run.stderr[-3000:]
        result = json.loads(run.stdout.strip().splitlines()[-1])
        assert result["loaded"] == ["toy"] and result["failed"] == []
        assert result["models"] == ["toy-mlp-tiny"]
        assert result["blocks"] == ["toy_scale"]
        assert result["extensions"] == ["toy_wider"]
        assert result["shape"] == [2, 2]
        assert result["count"] == result["counted"] == 4 + 4 * 2 + 2
        assert result["wider_hidden"] == 24
        assert result["reloaded_same"] is True

        # Through the CLI too.
        listed = subprocess.run(
            [str(python), "-m", "dlzoo", "count", "toy-mlp-tiny"],
            cwd=work, capture_output=True, text=True, env=clean_env(), timeout=600,
        )
        assert listed.returncode == 0, listed.stderr[-3000:]
        assert listed.stdout.split()[0] == "14"


class FakeEntryPoint:
    def __init__(self, name, obj=None, error=None):
        self.name, self.value, self._obj, self._error = name, f"fake:{name}", obj, error

    def load(self):
        if self._error is not None:
            raise self._error
        return self._obj


def test_load_plugins_modules_functions_and_failures(monkeypatch):
    with tempfile.TemporaryDirectory() as tmp:
        dir_a, dir_b = Path(tmp, "a"), Path(tmp, "b")
        dir_a.mkdir()
        dir_b.mkdir()
        module = types.ModuleType("fake_plugin_module")
        module.ZOO_CONFIG_DIRS = str(dir_a)
        calls = []

        def register():
            calls.append(1)
            return [str(dir_b)]

        fakes = [
            FakeEntryPoint("as_module", module),
            FakeEntryPoint("as_function", register),
            FakeEntryPoint("broken", error=ImportError("no such thing")),
        ]
        monkeypatch.setattr(plugins, "_entry_points", lambda: fakes)
        monkeypatch.setattr(plugins, "loaded", {})
        monkeypatch.setattr(plugins, "failed", {})
        monkeypatch.setattr(plugins, "_DONE", False)
        monkeypatch.setattr(configs, "_extra_dirs", [])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = plugins.load_plugins()
        assert sorted(loaded) == ["as_function", "as_module"]
        assert list(plugins.failed) == ["broken"]
        assert any("broken" in str(w.message) and "no such thing" in str(w.message) for w in caught)
        assert calls == [1]
        dirs = configs.config_dirs()
        assert dir_a.resolve() in dirs and dir_b.resolve() in dirs
        plugins.load_plugins()  # once only
        assert calls == [1]
        monkeypatch.setenv("DLZOO_DISABLE_PLUGINS", "1")
        monkeypatch.setattr(plugins, "loaded", {})
        assert plugins.load_plugins(force=True) == {}
