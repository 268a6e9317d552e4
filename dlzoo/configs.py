"""Zoo configs: locate, load, merge and check named-model configs (pure Python, no Keras).

A zoo config is a small YAML (or JSON) file, one per named model, under
`zoo_configs/<family>/<name>.yaml`:

```yaml
name: gpt-tiny                  # must equal the file stem
model: gpt                      # registered model assembler
base: gpt-base                  # optional: inherit from another named model
reference: https://...          # or `paper:`
description: One line.
params: {hidden_dim: 64, num_layers: 2, attention: {num_heads: 4}}
extensions: []                  # names, or {name: ..., <kwargs>} mappings
```

Where configs are found, first match wins:

1. every directory in `DLZOO_CONFIG_PATH` (`os.pathsep`-separated), so a
   user can shadow a shipped model;
2. directories added with `register_config_dir` (plugins do this);
3. the configs shipped inside the installed package (`dlzoo/zoo_configs/`),
   or, in a source checkout, the repository's `zoo_configs/`.

`base:` chains merge parent first: scalar keys of the child win, `params`
are merged key by key (recursively for dict-valued params), and a child's
`extensions` list, when present, replaces the parent's. A resolved config
(what `ZooModel.get_config()` returns) has no `base` and is marked
`resolved: true`.

Overrides address nested (dict-valued) params with dots
(`attention.num_key_value_heads=2`); Python keyword arguments may use a
double underscore instead (`attention__num_key_value_heads=2`).
"""

import copy
import fnmatch
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from dlzoo import yaml_io
from dlzoo.registry import unknown_name_error

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
PRESET_CONFIG_FILE = "config.json"
PRESET_WEIGHTS_FILE = "model.weights.h5"
ENV_CONFIG_PATH = "DLZOO_CONFIG_PATH"

# Top-level keys a zoo config may have.
CONFIG_KEYS = (
    "name",
    "model",
    "base",
    "reference",
    "paper",
    "description",
    "params",
    "extensions",
    "resolved",
    "metadata",
)

_extra_dirs: List[Path] = []


# --------------------------------------------------------------------- where
def packaged_config_dir() -> Optional[Path]:
    """The built-in configs: package data when installed, else the repo's `zoo_configs/`."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "zoo_configs", package_dir.parent / "zoo_configs"):
        if candidate.is_dir():
            return candidate
    return None


def register_config_dir(path: Union[str, os.PathLike]) -> Path:
    """Add a directory of zoo configs (searched before the built-in ones).

    Args:
        path: str or path. A directory holding `*.yaml`/`*.json` configs
            (searched recursively).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"A zoo config directory must exist. Received: path={str(path)!r}.")
    if path not in _extra_dirs:
        _extra_dirs.append(path)
    return path


def config_dirs() -> List[Path]:
    """The directories searched for zoo configs, in priority order."""
    dirs: List[Path] = []
    for entry in os.environ.get(ENV_CONFIG_PATH, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry.strip()).expanduser().resolve())
    dirs.extend(_extra_dirs)
    packaged = packaged_config_dir()
    if packaged is not None:
        dirs.append(packaged)
    unique = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def config_index() -> Dict[str, Path]:
    """Named model -> config file, over every config directory (first match wins)."""
    index: Dict[str, Path] = {}
    for d in config_dirs():
        if not d.is_dir():
            continue
        for path in sorted(d.rglob("*")):
            if path.suffix in CONFIG_SUFFIXES and path.is_file() and path.name != PRESET_CONFIG_FILE:
                index.setdefault(path.stem, path)
    return index


def config_names() -> List[str]:
    """Sorted names of every zoo config found."""
    return sorted(config_index())


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Names of the named models (zoo configs), optionally filtered; reads files only (no Keras).

    `dlzoo.list_models` (`dlzoo.catalog`) loads the installed plugins first,
    which may add config directories.

    Args:
        pattern: str. `fnmatch` wildcard (`"llama-*"`); a plain word matches
            as a substring. Defaults to all.
    """
    names = config_names()
    if pattern:
        if not any(ch in pattern for ch in "*?["):
            pattern = f"*{pattern}*"
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


# ---------------------------------------------------------------------- load
def load_file(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Read one config file (YAML with `yaml.safe_load`, or JSON) and check its keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No zoo config file at {str(path)!r}.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml_io.safe_load(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"Cannot parse zoo config {str(path)!r}: {first}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"A zoo config must be a mapping with `model` and `params`. "
            f"Received: {type(data).__name__} in {str(path)!r}."
        )
    check_config_keys(data, where=str(path))
    if path.name != PRESET_CONFIG_FILE and "name" in data and data["name"] != path.stem:
        raise ValueError(
            f"A zoo config's `name` must equal its file stem. "
            f"Received: name={data['name']!r} in {str(path)!r}."
        )
    data.setdefault("name", path.stem)
    return _plain(data, where=str(path))


def check_config_keys(config: Mapping[str, Any], where: str = "config") -> None:
    """Raise `ValueError` for an unknown top-level key (with a did-you-mean hint)."""
    for key in config:
        if key not in CONFIG_KEYS:
            raise unknown_name_error("config key", key, CONFIG_KEYS, param=f"{where}: key")


def _plain(data: Any, where: str) -> Any:
    """A deep copy of `data` that is plain JSON (tuples become lists)."""
    try:
        return json.loads(json.dumps(data))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"A zoo config must hold plain JSON values (str, number, bool, None, list, dict). "
            f"Received in {where}: {exc}."
        ) from None


def is_preset_dir(path: Union[str, os.PathLike]) -> bool:
    """Whether `path` is a directory written by `ZooModel.save_to_preset`."""
    path = Path(path)
    return path.is_dir() and (path / PRESET_CONFIG_FILE).is_file()


def _load_one(source: Union[str, os.PathLike, Mapping[str, Any]]) -> Dict[str, Any]:
    """One config (its own keys, `base:` not followed) from a name, path, preset directory or dict."""
    if isinstance(source, Mapping):
        config = _plain(dict(source), where="config dict")
        check_config_keys(config)
        return config
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "A model must be given as a zoo name, a config path, a preset directory or a config dict. "
            f"Received: {source!r} of type {type(source).__name__}."
        )
    text = os.fspath(source)
    path = Path(text).expanduser()
    if is_preset_dir(path):
        return load_file(path / PRESET_CONFIG_FILE)
    if path.suffix in CONFIG_SUFFIXES and path.exists():
        return load_file(path)
    if path.suffix in CONFIG_SUFFIXES and (os.sep in text or "/" in text):
        raise FileNotFoundError(f"No zoo config file at {text!r}.")
    index = config_index()
    if text not in index:
        raise unknown_model_error(text)
    return load_file(index[text])


def load_chain(source: Union[str, os.PathLike, Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The config named by `source` and its `base:` ancestors, the farthest ancestor first.

    Args:
        source: a zoo model name, a path to a `.yaml`/`.json` file, a preset
            directory, or a config dict.
    """
    chain = [_load_one(source)]
    seen = [chain[0].get("name", "<config>")]
    while chain[0].get("base") is not None:
        base = chain[0]["base"]
        if not isinstance(base, str):
            raise TypeError(f"`base` must be the name of a zoo model. Received: base={base!r}.")
        if base in seen:
            raise ValueError(
                f"The `base:` chain of zoo config {seen[0]!r} loops: {' -> '.join(seen + [base])}."
            )
        seen.append(base)
        chain.insert(0, _load_one(base))
    return chain


def load_raw(source: Union[str, os.PathLike, Mapping[str, Any]]) -> Dict[str, Any]:
    """The config named by `source`, its `base:` chain merged in (no validation of params)."""
    chain = load_chain(source)
    merged = chain[0]
    for child in chain[1:]:
        merged = merge_configs(merged, child)
    merged.pop("base", None)
    return merged


def unknown_model_error(name: str, extra_names: Iterable[str] = ()) -> ValueError:
    """`ValueError` for an unknown model name, listing the closest zoo names."""
    return unknown_name_error("model", name, sorted(set(config_names()) | set(extra_names)))


# --------------------------------------------------------------------- merge
def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Dict[str, Any]:
    """`base` updated by `override`; dict values that are dicts on both sides merge recursively."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_configs(parent: Mapping[str, Any], child: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge a `base:` parent with a child config (child wins; params merge deeply)."""
    merged = {k: copy.deepcopy(v) for k, v in parent.items() if k not in ("params", "resolved")}
    for key, value in child.items():
        if key in ("base", "params"):
            continue
        merged[key] = copy.deepcopy(value)
    merged["params"] = deep_merge(parent.get("params") or {}, child.get("params") or {})
    if child.get("model") is not None and parent.get("model") not in (None, child.get("model")):
        # A different assembler: the parent's params would not fit.
        merged["params"] = copy.deepcopy(child.get("params") or {})
    return merged


# ----------------------------------------------------------------- overrides
def parse_value(text: str) -> Any:
    """Parse one command-line value: int, float, bool, null, list/dict (YAML flow) or string.

    `1e-5` is a float here (YAML 1.1 would read it as a string).
    """
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null", "~"):
        return None
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        pass
    if stripped[:1] in ("[", "{"):
        try:
            return yaml_io.safe_load(stripped)
        except Exception:
            raise ValueError(f"Cannot parse the value {text!r} (a YAML list or mapping was expected).") from None
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    return stripped


def parse_overrides(items: Iterable[str]) -> Dict[str, Any]:
    """`["a=1", "attention.num_heads=2"]` -> `{"a": 1, "attention.num_heads": 2}`."""
    overrides: Dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(
                f"Overrides must look like key=value (e.g. num_layers=4 or "
                f"attention.num_key_value_heads=2). Received: {item!r}."
            )
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError(f"An override needs a key before '='. Received: {item!r}.")
        overrides[key] = parse_value(value)
    return overrides


def nest_overrides(overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """Turn dotted (or `__`-joined) keys into nested dicts, ready for `deep_merge`.

    `{"attention.num_heads": 2, "dropout": 0.1}` ->
    `{"attention": {"num_heads": 2}, "dropout": 0.1}`.
    """
    nested: Dict[str, Any] = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise TypeError(f"Parameter names must be strings. Received: {key!r}.")
        parts = key.replace("__", ".").split(".")
        if any(not p for p in parts):
            raise ValueError(f"Malformed parameter name {key!r}: empty part between dots. Received: {key}={value!r}.")
        node = nested
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                prefix_name = ".".join(parts[: depth + 1])
                raise ValueError(
                    f"Conflicting overrides: {prefix_name!r} is set to a value and also addressed as a "
                    f"mapping by {key!r}. Received: {prefix_name}={child!r}, {key}={value!r}."
                )
            node = child
        leaf = parts[-1]
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            node[leaf] = deep_merge(node[leaf], value)
        else:
            node[leaf] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
    return nested


def flatten(params: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Nested params -> `{"attention.num_heads": 2, ...}` (leaves only)."""
    flat: Dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=name + "."))
        else:
            flat[name] = value
    return flat


# --------------------------------------------------------------- extensions
ExtensionSpec = Tuple[str, Dict[str, Any]]


def normalize_extension(item: Any) -> ExtensionSpec:
    """One extension entry -> `(name, kwargs)`.

    Accepted forms: `"name"`, `{"name": "lora", "rank": 8}`,
    `{"lora": {"rank": 8}}`, or `("lora", {"rank": 8})`.
    """
    if isinstance(item, str):
        name, kwargs = item, {}
    elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
        name, kwargs = item[0], item[1] or {}
    elif isinstance(item, Mapping) and "name" in item:
        name = item["name"]
        kwargs = {k: v for k, v in item.items() if k != "name"}
    elif isinstance(item, Mapping) and len(item) == 1:
        name, kwargs = next(iter(item.items()))
        kwargs = kwargs or {}
    else:
        raise TypeError(
            "An extension must be a name or a mapping {'name': ..., <arguments>}. "
            f"Received: extension={item!r} of type {type(item).__name__}."
        )
    if not isinstance(name, str):
        raise TypeError(f"An extension name must be a string. Received: extension={name!r}.")
    if not isinstance(kwargs, Mapping):
        raise TypeError(
            f"The arguments of extension {name!r} must be a mapping. Received: {kwargs!r} of type "
            f"{type(kwargs).__name__}."
        )
    return name, _plain(dict(kwargs), where=f"extension {name!r}")


def normalize_extensions(items: Any) -> List[ExtensionSpec]:
    """A list of extension entries -> list of `(name, kwargs)`."""
    if items is None:
        return []
    if isinstance(items, (str, Mapping)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise TypeError(
            "`extensions` must be a list of extension names or mappings. "
            f"Received: extensions={items!r} of type {type(items).__name__}."
        )
    return [normalize_extension(item) for item in items]


def extension_entry(name: str, kwargs: Mapping[str, Any]) -> Any:
    """The canonical (plain JSON) form stored in a resolved config."""
    return dict({"name": name}, **kwargs) if kwargs else name


__all__ = [
    "CONFIG_KEYS",
    "config_dirs",
    "config_index",
    "config_names",
    "deep_merge",
    "flatten",
    "load_chain",
    "load_file",
    "load_raw",
    "merge_configs",
    "nest_overrides",
    "normalize_extensions",
    "parse_overrides",
    "parse_value",
    "register_config_dir",
]
