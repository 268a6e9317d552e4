"""Build hook: ship the repository's `zoo_configs/` inside the wheel.

The named-model configs live at the repository root (`zoo_configs/<family>/
<name>.yaml`), where readers look for them. Wheels need them inside the
package, so `build_py` copies them to `dlzoo/zoo_configs/` in the build
tree (package data), and `sdist` carries them so that a wheel built from
the sdist gets them too. At run time `dlzoo.configs` finds them in the
installed package, or in the repository when running from a checkout.

All metadata is in `pyproject.toml`.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
CONFIG_DIR = "zoo_configs"
SUFFIXES = (".yaml", ".yml", ".json")


def _config_files():
    source = ROOT / CONFIG_DIR
    if not source.is_dir():
        return []
    return [p for p in sorted(source.rglob("*")) if p.is_file() and p.suffix in SUFFIXES]


class BuildPyWithZooConfigs(build_py):
    """`build_py` that also copies `zoo_configs/` to `dlzoo/zoo_configs/`."""

    def _config_targets(self):
        target_root = Path(self.build_lib) / "dlzoo" / CONFIG_DIR
        return [(p, target_root / p.relative_to(ROOT / CONFIG_DIR)) for p in _config_files()]

    def run(self):
        super().run()
        for source, target in self._config_targets():
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target), preserve_mode=False)

    def get_outputs(self, include_bytecode=1):
        outputs = list(super().get_outputs(include_bytecode))
        return outputs + [str(target) for _, target in self._config_targets()]


class SdistWithZooConfigs(sdist):
    """`sdist` that carries `zoo_configs/` (no MANIFEST.in needed)."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        for source in _config_files():
            target = Path(base_dir) / source.relative_to(ROOT)
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target), preserve_mode=False)


setup(cmdclass={"build_py": BuildPyWithZooConfigs, "sdist": SdistWithZooConfigs})
