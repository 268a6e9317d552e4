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
"""

import os
import types
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List

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
    from dlzoo import configs

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


__all__ = ["ENTRY_POINT_GROUP", "failed", "load_plugins", "loaded"]
