"""Plugins: installed packages that add blocks, models, extensions and zoo configs.

A plugin package declares an entry point in the group `dlzoo.plugins`:

```toml
[project.entry-points."dlzoo.plugins"]
my_plugin = "my_plugin"                 # a module: importing it registers things
# or
my_plugin = "my_plugin.zoo:register"    # a function, called once with no arguments
```

Importing the module (or calling the function) runs its
`@dlzoo.register_block`, `@dlzoo.register_model` and
`@dlzoo.register_extension` decorators. To ship named models, the module
defines `ZOO_CONFIG_DIRS` (a path or a list of paths), or the function
returns one; those directories are searched for zoo configs (see
`dlzoo.configs`).

Plugins load on the first use of the builder (`dlzoo.build`,
`list_models`, ...). A plugin that fails to load is reported with a
warning and skipped. Set `DLZOO_DISABLE_PLUGINS=1` to load none.

Other plugin modules are imported only when a user names them
(`dlzoo run --plugins NAME_OR_PATH`, see `import_plugin`): an installed
module by name, or a `.py` file by its path. A name never resolves to a
file of the working directory, which `python -m dlzoo` would otherwise put
first on `sys.path`: a stray or planted `.py` there must not run under a
plugin's name.
"""

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List

from dlzoo import configs

ENTRY_POINT_GROUP = "dlzoo.plugins"

#: Entry-point name -> the loaded object, for plugins that loaded.
loaded: Dict[str, Any] = {}
#: Entry-point name -> the exception, for plugins that failed.
failed: Dict[str, BaseException] = {}

_DONE = False


def _entry_points():
    eps = metadata.entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=ENTRY_POINT_GROUP))
    return list(eps.get(ENTRY_POINT_GROUP, []))  # Python < 3.10


def _as_dirs(value) -> List[Path]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    if isinstance(value, (list, tuple)):
        return [Path(v) for v in value]
    return []


def load_plugins(force: bool = False) -> Dict[str, Any]:
    """Load every `dlzoo.plugins` entry point once (again with `force=True`).

    Returns:
        dict: entry-point name -> loaded module or function.
    """
    global _DONE
    if _DONE and not force:
        return dict(loaded)
    _DONE = True
    if os.environ.get("DLZOO_DISABLE_PLUGINS", "").strip() not in ("", "0"):
        return dict(loaded)
    for ep in _entry_points():
        if ep.name in loaded and not force:
            continue
        try:
            obj = ep.load()
            dirs = _as_dirs(getattr(obj, "ZOO_CONFIG_DIRS", None))
            if callable(obj) and not isinstance(obj, types.ModuleType):
                dirs += _as_dirs(obj())
            for d in dirs:
                configs.register_config_dir(d)
            loaded[ep.name] = obj
        except Exception as exc:  # a broken plugin must not break the zoo
            failed[ep.name] = exc
            warnings.warn(f"dlzoo: plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}", stacklevel=2)
    return dict(loaded)


def _is_workdir(entry: str) -> bool:
    return os.path.realpath(entry or os.curdir) == os.path.realpath(os.getcwd())


def _from_workdir(module: types.ModuleType) -> bool:
    origin = getattr(module, "__file__", None)
    if not origin:
        return False
    folder = os.path.dirname(os.path.realpath(origin))
    if os.path.basename(origin) == "__init__.py":
        folder = os.path.dirname(folder)
    return folder == os.path.realpath(os.getcwd())


def _import_file(path: str) -> types.ModuleType:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No plugin file at {path!r}.")
    name = Path(path).stem
    module = sys.modules.get(name)
    if module is not None and os.path.abspath(getattr(module, "__file__", "") or "") == path:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def import_plugin(spec: str) -> types.ModuleType:
    """Import one plugin a user named: a `.py` file by path, or an installed module by name.

    A name is looked up on `sys.path` without the working directory, so a
    file there cannot stand in for an installed module.

    Raises:
        ImportError: no installed module has that name (the message says so
            when the working directory has a file of that name).
        FileNotFoundError: a path that is not a file.
    """
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        return _import_file(spec)
    top = spec.split(".")[0]
    if top == "dlzoo":  # the program itself, wherever it was imported from
        return importlib.import_module(spec)
    installed = [entry for entry in sys.path if not _is_workdir(entry)]
    module = sys.modules.get(top)
    if module is not None and not _from_workdir(module):
        return importlib.import_module(spec)
    if module is not None or importlib.machinery.PathFinder.find_spec(top, installed) is None:
        local = [p for p in (top + ".py", top) if os.path.exists(os.path.join(os.getcwd(), p))]
        hint = (f" The working directory has {local[0]!r}, which is not imported by name; pass its path "
                f"(--plugins ./{local[0]}) to load it.") if local else ""
        raise ImportError(f"No installed module named {top!r}.{hint}", name=top)
    saved = list(sys.path)
    sys.path[:] = installed
    try:
        return importlib.import_module(spec)
    finally:
        sys.path[:] = saved


__all__ = ["ENTRY_POINT_GROUP", "failed", "import_plugin", "load_plugins", "loaded"]
