"""The composition file: schema, defaults, loading, expansion into runs, and validation.

A composition file (YAML or JSON) names the components of an experiment;
any value may be a list of alternatives (see `dlzoo.experiments.expand`):

```yaml
name: digits                      # experiment name (default: the file stem)
seed: 0
backend: [jax, torch]             # each run in its own process with KERAS_BACKEND set
search: grid                      # or {type: random, samples: 8, seed: 0}
plugins: []                       # modules imported first (they register components)
launcher: {name: torchrun, nproc_per_node: 2}   # how each run starts: local (default), torchrun, submitit
data:
  dataset: {name: digits}         # registered dataset + its options
  transforms: [{name: scale, factor: 0.0625}]
  split: {validation: 0.2, test: 0.2, stratify: true, shuffle: true, seed: null}
  cv: 3                           # k-fold cross-validation (null: one train/validation split)
model:
  name: [image-convnext-tiny, image-mlp-tiny]
  params: {num_classes: 10}
  extensions: []
losses:                           # one or several, each with a weight and the output it applies to
  - {name: sparse_categorical_crossentropy, from_logits: true, weight: 1.0, output: null}
regularizer: {name: l2, weight: 1.0e-4}   # optional; `variables:` fnmatch pattern
metrics: [accuracy]
optimizer: {name: adamw, learning_rate: [1.0e-3, 3.0e-3]}
schedule: {name: cosine_decay}    # decay_steps defaults to the total number of steps
callbacks: [{name: early_stopping, monitor: val_loss, patience: 5}]
training: {epochs: 20, batch_size: 64}
```

`load_experiment` reads the file, applies `key=value` overrides, checks
everything, expands the dimensions and returns an `Experiment` whose
`runs` are fully resolved single-run configs. Every problem found (unknown
key or component, a value out of its range, a model the builder rejects, a
missing data file, labels outside the head's classes, an output directory
outside the working directory) is collected and raised together in one
`ExperimentError` before anything runs.

Trust: a composition file is data. The modules its `plugins:` names are
imported only when the caller opts in (`plugins=` naming them, or
`trust_plugins=True`; on the command line `--plugins NAME` or
`--trust-plugins`), only from installed packages (never from the working
directory), and never just to list the runs. Its `name` becomes one path
component, and its `output_dir` must stay inside the working directory
unless the caller allows otherwise.
"""

import copy
import dataclasses
import importlib.util
import os
from pathlib import Path as FilePath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import yaml

from dlzoo import configs, yaml_io
from dlzoo import plugins as dlzoo_plugins
from dlzoo.experiments import components as C
from dlzoo.experiments import expand as E
from dlzoo.experiments import launchers
from dlzoo.experiments import ranges
from dlzoo.registry import did_you_mean
from dlzoo.serving.model_facts import num_classes

BACKENDS = ("jax", "torch", "tensorflow")
SEARCH_TYPES = ("grid", "random")
MODES = ("auto", "min", "max")

DEFAULTS: Dict[str, Any] = {
    "name": None,
    "description": "",
    "output_dir": None,
    "seed": 0,
    "backend": None,
    "search": "grid",
    "plugins": [],
    "launcher": None,
    "distribution": None,
    "data": {
        "dataset": None,
        "transforms": [],
        "augment": [],
        "split": {"validation": 0.1, "test": 0.1, "stratify": False, "shuffle": True, "seed": None},
        "cv": None,
    },
    "model": {"name": None, "params": {}, "extensions": []},
    "losses": None,
    "regularizer": None,
    "metrics": [],
    "optimizer": {"name": "adamw", "learning_rate": 1e-3},
    "schedule": None,
    "callbacks": [],
    "training": {
        "epochs": 10,
        "batch_size": 32,
        "validation_batch_size": None,
        "shuffle": True,
        "jit_compile": "auto",
        "monitor": "val_loss",
        "mode": "auto",
        "tensorboard": True,
        "save_checkpoints": True,
        "save_predictions": True,
        "analysis": True,
    },
}

#: Sections whose keys are fixed (unknown keys are errors).
TOP_LEVEL_KEYS = tuple(DEFAULTS) + ("variants",)

SECTIONS = {
    (): TOP_LEVEL_KEYS,
    ("data",): DEFAULTS["data"],
    ("data", "split"): DEFAULTS["data"]["split"],
    ("model",): DEFAULTS["model"],
    ("training",): DEFAULTS["training"],
}

LIST_TYPED = {("data", "transforms"), ("data", "augment"), ("metrics",), ("callbacks",), ("model", "extensions"), ("plugins",),
              ("launcher", "setup")}


def _distribution_problems(section, backend, file) -> List["Problem"]:
    """A `distribution:` section ({strategy, mesh}, see `dlzoo.distribution`): its keys, values and backend."""
    from dlzoo.distribution.setup import SUPPORTED_BACKENDS, check_distribution_config  # pure Python

    try:
        check_distribution_config(section)
    except ValueError as exc:
        return [Problem(file, "distribution", section, str(exc))]
    if backend not in SUPPORTED_BACKENDS:
        return [Problem(file, "distribution", section,
                        f"Keras distributes over a device mesh on the JAX backend only (backend: jax); "
                        f"received backend={backend!r}.")]
    return []


#: `Problem.value` of a problem about the file as a whole (no key, no value to show).
NO_VALUE = type("NoValue", (), {"__repr__": lambda self: "<no value>"})()


@dataclasses.dataclass
class Problem:
    """One thing wrong with a composition file."""

    file: str
    key: str
    value: Any
    message: str

    def __str__(self):
        if self.value is NO_VALUE:
            return f"{self.file}: {self.message}"
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.file}: {self.key} = {shown}: {self.message}"


class ExperimentError(ValueError):
    """Every problem of a composition file, one per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the composition file:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclasses.dataclass
class RunSpec:
    """One run of an experiment: its name, resolved config and the choices that made it."""

    run_id: str
    index: int
    config: Dict[str, Any]
    choices: Dict[str, Any]
    digest: str

    @property
    def backend(self) -> str:
        return self.config["backend"]


@dataclasses.dataclass
class Experiment:
    """A loaded, validated and expanded composition file.

    `plugins` are the plugin modules (names or `.py` paths) the runs import:
    those the caller passed plus those of the file it trusted. `unchecked`
    names the file's plugins that were not imported, so the components and
    models they may register were not checked (listing only).
    """

    name: str
    file: str
    raw: Dict[str, Any]
    runs: List[RunSpec]
    output_dir: str
    dimensions: List[str]
    plugins: List[str] = dataclasses.field(default_factory=list)
    unchecked: List[str] = dataclasses.field(default_factory=list)

    def select(self, only: Optional[Sequence[str]]) -> List[RunSpec]:
        """The runs named by `only`; all when `None`.

        Each item is a run id, else a run index (digits), else a prefix of at
        least 4 characters of a run's hash, in that order of precedence (so
        `"3"` is run 3 even when a hash starts with 3).
        """
        if not only:
            return list(self.runs)
        chosen, missing = [], []
        for item in only:
            item = str(item)
            found = [r for r in self.runs if item == r.run_id]
            if not found and item.isdigit():
                found = [r for r in self.runs if item == str(r.index)]
            if not found and len(item) >= 4:
                found = [r for r in self.runs if r.digest.startswith(item)]
            if not found:
                missing.append(item)
            chosen.extend(r for r in found if r not in chosen)
        if missing:
            names = [r.run_id for r in self.runs]
            hint = "; ".join(f"{m!r}{did_you_mean(m, names)}" for m in missing)
            raise ValueError(f"No run named {hint} in experiment {self.name!r}. Runs: {', '.join(names)}.")
        return chosen


# ------------------------------------------------------------------ loading
def read_file(path: str) -> Dict[str, Any]:
    """The raw mapping of a composition file (YAML or JSON)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No composition file at {path!r}.")
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    try:
        data = yaml_io.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ExperimentError([Problem(path, "<file>", NO_VALUE, f"not valid YAML{line}: {reason}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ExperimentError([Problem(path, "<file>", NO_VALUE,
                                       f"a composition file must be a mapping; it holds a {type(data).__name__}")])
    return data


def apply_overrides(raw: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """`["training.epochs=2", "optimizer.learning_rate=[1e-3,1e-2]"]` merged into `raw`."""
    if not overrides:
        return raw
    flat = configs.parse_overrides(overrides)
    return configs.deep_merge(raw, configs.nest_overrides(flat))


def read_with_overrides(source: Any, overrides: Sequence[str] = ()) -> Tuple[str, Dict[str, Any]]:
    """`(file, raw mapping)` of a composition file or mapping with `overrides` merged in (nothing resolved yet).

    A file's `name` defaults to its stem. Bad overrides raise `ExperimentError`.
    """
    if isinstance(source, (str, os.PathLike)):
        file = os.fspath(source)
        raw = read_file(file)
        raw.setdefault("name", os.path.splitext(os.path.basename(file))[0])
    else:
        file, raw = "<mapping>", copy.deepcopy(dict(source))
    try:
        return file, dict(apply_overrides(raw, overrides))
    except ValueError as exc:
        raise ExperimentError([Problem(file, "<overrides>", list(overrides), str(exc))]) from None


def load_plugins(modules: Sequence[str]) -> None:
    """Import plugin modules (names of installed modules, or `.py` paths) and the `dlzoo.plugins` entry points."""
    dlzoo_plugins.load_plugins()
    for module in modules or []:
        dlzoo_plugins.import_plugin(module)


def safe_name(name: Any, fallback: str = "experiment") -> str:
    """`name` as a single path component: `"../../x"` -> `"x"`; only letters, digits and `._=+-` remain."""
    text = E.sanitize(str(name)).lstrip(".-") if name is not None else ""
    return text or fallback


def inside(path: str, directory: str) -> bool:
    """Whether `path` (relative to the working directory) resolves inside `directory`."""
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def current_backend() -> str:
    import keras  # lazy: keras

    return keras.backend.backend()


# --------------------------------------------------------------- context
class _Schema:
    """Answers the expansion's questions (is this path list-typed?) from the raw file."""

    def __init__(self, raw: Dict[str, Any]):
        self.raw = raw
        names = (raw.get("model") or {}).get("name") if isinstance(raw.get("model"), dict) else None
        self.model_names = [n for n in E.alternatives(names) if isinstance(n, str)]
        self._schemas = None

    def model_schemas(self) -> List[Dict[str, Any]]:
        if self._schemas is None:
            from dlzoo import resolution  # imports Keras: only when a file's params need the model's schema

            self._schemas = []
            for name in self.model_names:
                try:
                    self._schemas.append(resolution.resolve(name)["params"])
                except Exception:
                    pass
        return self._schemas

    def list_typed(self, path, parent=None) -> bool:
        path = tuple(path)
        if path in LIST_TYPED:
            return True
        if path == ("losses",):
            return True
        if len(path) >= 3 and path[:2] == ("model", "params"):
            for schema in self.model_schemas():
                node = schema
                for part in path[2:]:
                    if not isinstance(node, dict) or part not in node:
                        node = None
                        break
                    node = node[part]
                if isinstance(node, (list, tuple)):
                    return True
        return False

    @staticmethod
    def spec_kind(path) -> Optional[str]:
        path = tuple(path)
        if path == ("data", "dataset"):
            return "dataset"
        if len(path) == 3 and path[:2] == ("data", "transforms") and isinstance(path[2], int):
            return "transform"
        if len(path) == 3 and path[:2] == ("data", "augment") and isinstance(path[2], int):
            return "augmentation"
        if path in (("optimizer",), ("schedule",), ("regularizer",), ("losses",)):
            return {"losses": "loss"}.get(path[0], path[0])
        if len(path) == 2 and isinstance(path[1], int):
            return {"losses": "loss", "metrics": "metric", "callbacks": "callback"}.get(path[0])
        return None

    @staticmethod
    def option_is_list(kind: str, names: List[str], option: str) -> bool:
        for name in names:
            try:
                _, obj = C.lookup(kind, name, has_options=True)
            except ValueError:
                continue
            if C.is_list_option(obj, option):
                return True
        return False

    def context(self) -> E.Context:
        return E.Context(list_typed=self.list_typed, spec_kind=self.spec_kind, option_is_list=self.option_is_list)


# ------------------------------------------------------------- structure
def _structure_problems(raw: Dict[str, Any], file: str) -> List[Problem]:
    problems = []
    for section, allowed in SECTIONS.items():
        node = raw
        for part in section:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        key = ".".join(section) or "<top level>"
        if not isinstance(node, dict):
            problems.append(Problem(file, key, node, "must be a mapping"))
            continue
        for k in node:
            if section == () and k == "ablation":
                problems.append(Problem(file, "ablation", node[k], "an ablation runs with `dlzoo ablate FILE`."))
                continue
            if k not in allowed:
                full = ".".join(section + (str(k),))
                hint = did_you_mean(k, list(allowed))
                problems.append(Problem(file, full, node[k], f"unknown key.{hint} Allowed: {', '.join(allowed)}."))
    search = raw.get("search", "grid")
    if isinstance(search, str):
        if search not in SEARCH_TYPES:
            problems.append(Problem(file, "search", search, f"must be one of {', '.join(SEARCH_TYPES)}."))
    elif isinstance(search, dict) and search.get("type") == "optuna":
        problems.append(Problem(file, "search.type", "optuna", "an Optuna search runs with `dlzoo search FILE`."))
    elif isinstance(search, dict):
        kind = search.get("type", "grid")
        if kind not in SEARCH_TYPES:
            problems.append(Problem(file, "search.type", kind, f"must be one of {', '.join(SEARCH_TYPES)}."))
        for k in search:
            if k not in ("type", "samples", "seed"):
                problems.append(Problem(file, f"search.{k}", search[k], "unknown key. Allowed: type, samples, seed."))
        if kind == "random":
            samples = search.get("samples")
            if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
                problems.append(Problem(file, "search.samples", samples, "random search needs a positive integer."))
        seed = search.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            problems.append(Problem(file, "search.seed", seed, "must be an integer >= 0."))
    else:
        problems.append(Problem(file, "search", search, "must be 'grid', 'random' or {type, samples, seed}."))
    return problems


def _marker_problems(node: Any, path: E.Path, file: str, random: bool) -> List[Problem]:
    problems = []
    if isinstance(node, dict):
        if "grid" in node and len(node) > 1:
            problems.append(Problem(file, E.path_str(path), node, "`grid:` must be the only key of its mapping."))
        if E.is_grid(node) and (not isinstance(node["grid"], list) or not node["grid"]):
            problems.append(Problem(file, E.path_str(path), node, "`grid:` needs a non-empty list of values."))
        if E.is_distribution(node):
            kind, bounds = next(iter(node.items()))
            if not random:
                problems.append(Problem(file, E.path_str(path), node,
                                        f"the distribution {kind!r} needs `search: {{type: random, samples: N}}`."))
            ok = (isinstance(bounds, list) and len(bounds) == 2
                  and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds) and bounds[0] <= bounds[1])
            if ok and kind == "loguniform" and bounds[0] <= 0:
                ok = False
            if not ok:
                problems.append(Problem(file, E.path_str(path), node, f"`{kind}` needs [low, high] numbers with low <= high"
                                        + (" and low > 0." if kind == "loguniform" else ".")))
        for k, v in node.items():
            problems += _marker_problems(v, path + (k,), file, random)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            problems += _marker_problems(v, path + (i,), file, random)
    return problems


def _known_keys_only(raw: Dict[str, Any]) -> Dict[str, Any]:
    """`raw` without the unknown keys of fixed sections (already reported), so checking can go on."""
    raw = copy.deepcopy(raw)
    for section, allowed in SECTIONS.items():
        node = raw
        for part in section:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            for key in [k for k in node if k not in allowed]:
                del node[key]
    return raw


def _variants(raw: Dict[str, Any], file: str):
    """`[(config, choices)]`: the file itself, or one config per entry of `variants:` merged onto it.

    A variant is a partial composition (e.g. a model with its own loss); its
    optional `label` names it in the run names (default: its index).
    """
    variants = raw.get("variants")
    base = {k: v for k, v in raw.items() if k != "variants"}
    if variants is None:
        return [(base, [])], []
    if not isinstance(variants, list) or not variants or not all(isinstance(v, dict) for v in variants):
        return [(base, [])], [Problem(file, "variants", variants, "must be a non-empty list of mappings (partial compositions).")]
    out = []
    for i, variant in enumerate(variants):
        variant = dict(variant)
        label = variant.pop("label", i)
        merged = copy.deepcopy(base)
        for key, value in variant.items():
            if key in ("data", "model", "training") and isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = configs.deep_merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        out.append((merged, [(("variant",), label)]))
    return out, []


# ------------------------------------------------------------ run checks
def _num(value, minimum=None, integer=False, maximum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        return f"must be {'an integer' if integer else 'a number'}{' or null' if allow_none else ''}."
    if minimum is not None and value < minimum:
        return f"must be >= {minimum}."
    if maximum is not None and value > maximum:
        return f"must be <= {maximum}."
    return None


def _spec_list(value) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _component_problems(kind: str, spec: Any, key: str, file: str, instantiate: bool = False,
                        provided: Tuple[str, ...] = (), extra: Optional[dict] = None,
                        unknown_ok: bool = False) -> List[Problem]:
    try:
        name, options, reserved = C.split_spec(kind, spec)
    except TypeError as exc:
        return [Problem(file, key, spec, str(exc))]
    if unknown_ok:  # plugins not imported (listing): a name they would register cannot be judged
        try:
            C.lookup(kind, name, has_options=bool(options))
        except ValueError:
            return []
    problems = [Problem(file, f"{key}.{option}", value, msg) for option, value, msg in _range_problems(kind, options)]
    problems += [Problem(file, f"{key}.name" if isinstance(spec, dict) else key, name, msg)
                 for msg in C.option_problems(kind, name, options, provided=provided)]
    if problems or not instantiate:
        return problems
    try:
        C.make(kind, spec, **(extra or {}))
    except Exception as exc:  # a bad option value
        problems.append(Problem(file, key, spec, f"the {kind} {name!r} rejects its options: {str(exc).splitlines()[0]}"))
    return problems


def _range_problems(kind: str, options: Mapping[str, Any]) -> List[Tuple[str, Any, str]]:
    """`(option, value, message)` for each numeric option outside its range (`ranges.py`)."""
    found = []
    for option, value in options.items():
        allowed = ranges.option_range(kind, option)
        if allowed is not None and value is not None:
            message = allowed.problem(value)
            if message:
                found.append((option, value, message))
    return found


def data_file_problems(spec: Any, file: str) -> List[Problem]:
    """A problem per data file the dataset names that does not exist (checked before any run starts)."""
    try:
        name, options, _ = C.split_spec("dataset", spec)
        _, obj = C.lookup("dataset", name, has_options=bool(options))
    except (TypeError, ValueError):
        return []  # reported by the component check
    list_files = getattr(obj, "data_files", None)
    if list_files is None:
        return []
    try:
        files = list_files(**options)
    except TypeError:
        return []  # unknown options: reported by the component check
    return [Problem(file, f"data.dataset.{option}", path, "no such file.")
            for option, path in files if not os.path.isfile(path)]


_LABEL_CACHE: Dict[str, Any] = {}


def _label_range(dataset: Any) -> Optional[Tuple[int, int, np.ndarray]]:
    """`(min, max, labels)` of a dataset's integer targets (loaded once per spec), or None."""
    key = E.canonical_json(dataset)
    if key not in _LABEL_CACHE:
        data = C.make("dataset", dataset)
        y = getattr(data, "y", None)
        labels = np.asarray(y) if isinstance(y, np.ndarray) and np.issubdtype(y.dtype, np.integer) and y.size else None
        _LABEL_CACHE[key] = None if labels is None else (int(labels.min()), int(labels.max()), labels)
    return _LABEL_CACHE[key]


def label_problems(config: Dict[str, Any], resolved: Dict[str, Any], file: str) -> List[Problem]:
    """A problem when the dataset's integer labels fall outside `[0, classes)` of the model's head."""
    head = num_classes(resolved)
    if head is None:
        return []
    try:
        found = _label_range(config["data"]["dataset"])
    except Exception as exc:  # the dataset cannot be read: say so now, not in the middle of a run
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Problem(file, "data.dataset", config["data"]["dataset"], f"cannot be loaded: {message}")]
    if found is None:
        return []
    low, high, labels = found
    classes, where = head
    if low >= 0 and high < classes:
        return []
    outside = int(((labels < 0) | (labels >= classes)).sum())
    key = "model." + where.split(" ")[0]
    return [Problem(file, key, classes,
                    f"the dataset's labels run from {low} to {high}: {outside} of {labels.size} "
                    f"({outside / labels.size:.0%}) are outside [0, {classes}), the classes of the model's head "
                    f"({where}). Use at least {high + 1} classes.")]


_MODEL_CACHE: Dict[str, Any] = {}


def _model_problems(model: Dict[str, Any], file: str) -> Tuple[List[Problem], Optional[Dict[str, Any]]]:
    from dlzoo import inspection, resolution  # imports Keras: only to check a run's model

    key = E.canonical_json(model)
    if key in _MODEL_CACHE:
        return _MODEL_CACHE[key]
    problems: List[Problem] = []
    resolved = None
    name = model.get("name")
    params = model.get("params") or {}
    if not isinstance(params, dict):
        problems.append(Problem(file, "model.params", params, "must be a mapping of parameter names to values."))
        params = {}
    try:
        resolved = resolution.resolve(name, extensions=model.get("extensions") or None, **params)
        inspection.count_params(resolved)  # instantiates every block unbuilt: their own checks run
    except Exception as exc:
        resolved = None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problems.append(Problem(file, "model", {"name": name, **({"params": params} if params else {})},
                                f"the builder rejects this model: {message}"))
    _MODEL_CACHE[key] = (problems, resolved)
    return problems, resolved


def output_names(resolved_model: Dict[str, Any]) -> Optional[List[str]]:
    """Output names of a model with several (dict) outputs, from its plan (nothing is built); else `None`."""
    from dlzoo import inspection  # lazy: keras

    return inspection.output_names(resolved_model)


def run_problems(config: Dict[str, Any], file: str, unknown_ok: bool = False, check_data: bool = True) -> List[Problem]:
    """Everything wrong with one resolved run config.

    `unknown_ok`: component and model names that nothing registers are not
    problems (plugins not imported, for a listing). `check_data`: load the
    dataset to check its labels against the model's head.
    """
    problems: List[Problem] = []
    backend = config["backend"]
    if backend not in BACKENDS:
        problems.append(Problem(file, "backend", backend, f"must be one of {', '.join(BACKENDS)}."))
    elif importlib.util.find_spec({"torch": "torch", "jax": "jax", "tensorflow": "tensorflow"}[backend]) is None:
        problems.append(Problem(file, "backend", backend, f"the {backend} package is not installed here."))
    msg = _num(config["seed"], minimum=0, integer=True)
    if msg:
        problems.append(Problem(file, "seed", config["seed"], msg))
    try:
        launchers.check(config["launcher"], backend)
    except (ValueError, ImportError) as exc:
        problems.append(Problem(file, "launcher", config["launcher"], str(exc)))
    if config.get("distribution") is not None:
        problems += _distribution_problems(config["distribution"], backend, file)

    data = config["data"]
    if data["dataset"] is None:
        problems.append(Problem(file, "data.dataset", None, "a dataset is required (e.g. {name: digits})."))
    else:
        problems += _component_problems("dataset", data["dataset"], "data.dataset", file, unknown_ok=unknown_ok)
        problems += data_file_problems(data["dataset"], file)
    if not isinstance(data["transforms"], list):
        problems.append(Problem(file, "data.transforms", data["transforms"], "must be a list of transforms."))
    else:
        for i, spec in enumerate(data["transforms"]):
            problems += _component_problems("transform", spec, f"data.transforms[{i}]", file, instantiate=True,
                                            unknown_ok=unknown_ok)
    if not isinstance(data["augment"], list):
        problems.append(Problem(file, "data.augment", data["augment"], "must be a list of augmentations."))
    else:
        for i, spec in enumerate(data["augment"]):
            problems += _component_problems("augmentation", spec, f"data.augment[{i}]", file, instantiate=True,
                                            unknown_ok=unknown_ok)
    split = data["split"]
    for k in ("validation", "test"):
        msg = _num(split[k], minimum=0.0, maximum=0.95)
        if msg:
            problems.append(Problem(file, f"data.split.{k}", split[k], msg))
    if not _num(split["validation"]) and not _num(split["test"]) and split["validation"] + split["test"] >= 1:
        problems.append(Problem(file, "data.split", {"validation": split["validation"], "test": split["test"]},
                                "validation + test must leave training data (< 1)."))
    for k in ("stratify", "shuffle"):
        if not isinstance(split[k], bool):
            problems.append(Problem(file, f"data.split.{k}", split[k], "must be true or false."))
    msg = _num(split["seed"], minimum=0, integer=True, allow_none=True)
    if msg:
        problems.append(Problem(file, "data.split.seed", split["seed"], msg))
    msg = _num(data["cv"], minimum=2, integer=True, allow_none=True)
    if msg:
        problems.append(Problem(file, "data.cv", data["cv"], msg + " (the number of folds, >= 2)"))
    if data["cv"] is None and not _num(split["validation"]) and split["validation"] == 0:
        problems.append(Problem(file, "data.split.validation", 0,
                                "without cv, a validation split is needed (monitoring, best checkpoint)."))

    model = config["model"]
    resolved = None
    if not isinstance(model.get("name"), str):
        problems.append(Problem(file, "model.name", model.get("name"), "a model is required (a zoo name, e.g. image-mlp-tiny)."))
    else:
        model_problems, resolved = _model_problems(model, file)
        problems += [] if unknown_ok else model_problems

    losses = _spec_list(config["losses"])
    if not losses:
        problems.append(Problem(file, "losses", config["losses"], "at least one loss is required."))
    outputs_needed = []
    for i, spec in enumerate(losses):
        key = f"losses[{i}]" if isinstance(config["losses"], list) else "losses"
        problems += _component_problems("loss", spec, key, file, instantiate=True, unknown_ok=unknown_ok)
        if isinstance(spec, dict):
            msg = _num(spec.get("weight", 1.0), minimum=0.0)
            if msg:
                problems.append(Problem(file, f"{key}.weight", spec.get("weight"), msg))
            if spec.get("output") is not None:
                outputs_needed.append((f"{key}.output", spec["output"]))
    for i, spec in enumerate(_spec_list(config["metrics"])):
        problems += _component_problems("metric", spec, f"metrics[{i}]", file, unknown_ok=unknown_ok)
        if isinstance(spec, dict) and spec.get("output") is not None:
            outputs_needed.append((f"metrics[{i}].output", spec["output"]))
    if config["regularizer"] is not None:
        problems += _component_problems("regularizer", config["regularizer"], "regularizer", file, unknown_ok=unknown_ok)
        spec = config["regularizer"]
        if isinstance(spec, dict):
            msg = _num(spec.get("weight", 1.0), minimum=0.0)
            if msg:
                problems.append(Problem(file, "regularizer.weight", spec.get("weight"), msg))
    problems += _component_problems("optimizer", config["optimizer"], "optimizer", file, instantiate=True,
                                    unknown_ok=unknown_ok)
    if config["schedule"] is not None:
        problems += _component_problems("schedule", config["schedule"], "schedule", file, unknown_ok=unknown_ok,
                                        provided=("decay_steps", "initial_learning_rate", "first_decay_steps"))
    for i, spec in enumerate(_spec_list(config["callbacks"])):
        problems += _component_problems("callback", spec, f"callbacks[{i}]", file, unknown_ok=unknown_ok)

    training = config["training"]
    for k, minimum in (("epochs", 1), ("batch_size", 1)):
        msg = _num(training[k], minimum=minimum, integer=True)
        if msg:
            problems.append(Problem(file, f"training.{k}", training[k], msg))
    msg = _num(training["validation_batch_size"], minimum=1, integer=True, allow_none=True)
    if msg:
        problems.append(Problem(file, "training.validation_batch_size", training["validation_batch_size"], msg))
    for k in ("shuffle", "tensorboard", "save_checkpoints", "save_predictions", "analysis"):
        if not isinstance(training[k], bool):
            problems.append(Problem(file, f"training.{k}", training[k], "must be true or false."))
    if training["mode"] not in MODES:
        problems.append(Problem(file, "training.mode", training["mode"], f"must be one of {', '.join(MODES)}."))
    if training["jit_compile"] not in ("auto", True, False):
        problems.append(Problem(file, "training.jit_compile", training["jit_compile"], "must be auto, true or false."))
    if not isinstance(training["monitor"], str):
        problems.append(Problem(file, "training.monitor", training["monitor"], "must be a metric name (e.g. val_loss)."))

    if outputs_needed and resolved is not None:
        try:
            names = output_names(resolved)
        except Exception:
            names = None
        for key, value in outputs_needed:
            if names is None:
                problems.append(Problem(file, key, value, "the model has a single (unnamed) output: use output: null."))
            elif value not in names:
                problems.append(Problem(file, key, value, f"the model has no output named so. Allowed: {', '.join(names)}."))
    if check_data and resolved is not None and not problems:
        problems += label_problems(config, resolved, file)
    return problems


# ---------------------------------------------------------------- the API
def resolve_defaults(raw: Dict[str, Any]) -> Dict[str, Any]:
    """`raw` with every default filled in.

    The sections `data` (and `data.split`), `model` and `training` are merged
    key by key with their defaults; every other value (a component spec such
    as `optimizer`) replaces its default as a whole.
    """
    merged = copy.deepcopy(DEFAULTS)
    for key, value in raw.items():
        if key in ("data", "model", "training") and isinstance(value, dict):
            merged[key] = configs.deep_merge(DEFAULTS[key], value)
        elif value is not None or key in ("schedule", "regularizer", "backend", "output_dir"):
            merged[key] = copy.deepcopy(value)
    return merged


def load_experiment(
    source: Any,
    overrides: Sequence[str] = (),
    plugins: Sequence[str] = (),
    output_dir: Optional[str] = None,
    *,
    trust_plugins: bool = False,
    import_plugins: bool = True,
    allow_outside_workdir: bool = False,
    check_data: bool = True,
    launcher: Optional[Mapping[str, Any]] = None,
) -> Experiment:
    """Read, check and expand a composition file.

    Args:
        source: path to a YAML/JSON file, or a mapping.
        overrides: `key=value` strings (dotted keys; values may be lists).
        plugins: plugin modules to import first (they register components):
            names of installed modules, or paths to `.py` files. Naming a
            module of the file's `plugins:` here is the opt-in to import it.
        output_dir: where runs go (the caller's explicit choice, anywhere).
            Defaults to the file's `output_dir`, else `runs/<name>` under the
            current directory.
        trust_plugins: bool. Import every module of the file's `plugins:`.
            Defaults to `False`: a file's plugin not named in `plugins` is a
            problem.
        import_plugins: bool. `False` imports no plugin at all (a listing):
            names that only a plugin could register are then not checked.
        allow_outside_workdir: bool. Accept a file `output_dir` outside the
            working directory. Defaults to `False` (a problem).
        check_data: bool. Load each dataset to check its labels against the
            model's head. Defaults to `True`. (Data files named in the
            dataset options are always checked to exist.)
        launcher: the command line's launcher (`{"name": ..., options}`),
            merged into the file's `launcher:` section by `launchers.merge`.

    Raises:
        ExperimentError: every problem found, before anything runs.
    """
    if isinstance(source, Mapping):
        raw, file = copy.deepcopy(dict(source)), "<config>"
        stem = "experiment"
    else:
        file = os.fspath(source)
        raw = read_file(file)
        stem = FilePath(file).stem
    try:
        raw = apply_overrides(raw, overrides)
    except ValueError as exc:
        raise ExperimentError([Problem(file, "<overrides>", list(overrides), str(exc))]) from None
    if launcher:
        raw["launcher"] = launchers.merge(raw.get("launcher"), launcher)
    _LABEL_CACHE.clear()
    explicit = [os.fspath(p) for p in plugins]
    declared = [m for m in E.alternatives(raw.get("plugins") or [], True)[0] if isinstance(m, str)]
    # A path given by the caller covers the file's plugin of the same module name (its stem).
    covered = set(explicit) | {FilePath(p).stem for p in explicit if p.endswith(".py")}
    untrusted = [] if trust_plugins else [m for m in declared if m not in covered]
    approved = explicit + [m for m in declared if m not in covered and m not in untrusted]
    problems: List[Problem] = []
    if import_plugins:
        if untrusted:
            problems.append(Problem(file, "plugins", untrusted,
                                    "a composition file cannot import code on its own: pass --plugins NAME for each "
                                    "module you trust (or --trust-plugins for all of them); see guides/experiments.md."))
        try:
            load_plugins(approved)
        except (ImportError, FileNotFoundError) as exc:
            problems.append(Problem(file, "plugins", approved, f"cannot import: {exc}"))
    unknown_ok = not import_plugins and bool(explicit or declared)
    C.ensure_builtins()
    problems += _structure_problems(raw, file)
    search = raw.get("search", "grid")
    search = {"type": search} if isinstance(search, str) else dict(search or {})
    problems += _marker_problems(raw, (), file, search.get("type") == "random")
    raw = _known_keys_only(raw)
    name = safe_name(raw.get("name") or stem)
    file_out = raw.get("output_dir")
    if output_dir is None and file_out is not None:
        if not isinstance(file_out, str) or not file_out:
            problems.append(Problem(file, "output_dir", file_out, "must be a directory path (a string)."))
        elif not allow_outside_workdir and not inside(file_out, os.getcwd()):
            problems.append(Problem(file, "output_dir", file_out,
                                    f"resolves to {os.path.realpath(file_out)}, outside the working directory "
                                    f"{os.path.realpath(os.getcwd())}; pass --allow-outside-workdir to write there "
                                    f"(or choose the directory yourself with --out)."))

    bases, variant_problems = _variants(raw, file)
    problems += variant_problems
    combos = []
    try:
        for base, prefix in bases:
            problems += _structure_problems(base, file) if prefix else []
            base = _known_keys_only(base)
            for concrete, choices in E.expand_node(base, (), _Schema(base).context(), False):
                combos.append((concrete, prefix + choices))
        if search.get("type") == "random" and not problems:
            combos = E.random_search(combos, int(search["samples"]), int(search.get("seed", 0)))
    except Exception as exc:  # malformed markers, already reported
        problems.append(Problem(file, "<expansion>", None, f"cannot expand the dimensions: {exc}"))
        raise ExperimentError(problems) from None
    backend_now = None
    runs: List[Tuple[Dict[str, Any], List[E.Choice]]] = []
    for concrete, choices in combos:
        config = resolve_defaults(concrete)
        config["name"] = name
        config["search"] = "grid"
        if config["backend"] is None:
            backend_now = backend_now or current_backend()
            config["backend"] = backend_now
        if config["data"]["split"]["seed"] is None:
            config["data"]["split"]["seed"] = config["seed"]
        runs.append((config, choices))

    seen_problems = set()
    for config, _ in runs:
        for problem in run_problems(config, file, unknown_ok=unknown_ok, check_data=check_data and not problems):
            key = (problem.key, problem.message)
            if key not in seen_problems:
                seen_problems.add(key)
                problems.append(problem)
    if problems:
        raise ExperimentError(problems)

    varying = E.varying_choices([c for _, c in runs])
    specs: List[RunSpec] = []
    used = {}
    for index, ((config, _), choices) in enumerate(zip(runs, varying)):
        digest = E.run_hash(config)
        run_id = E.run_name(choices, digest)
        if run_id in used:  # the same combination twice (e.g. a repeated grid value)
            continue
        used[run_id] = True
        specs.append(RunSpec(
            run_id=run_id,
            index=len(specs),
            config=config,
            choices={E.path_str(p): v for p, v in choices},
            digest=digest,
        ))
    out = output_dir or file_out or os.path.join("runs", name)
    dims = sorted({k for s in specs for k in s.choices})
    return Experiment(name=name, file=file, raw=raw, runs=specs, output_dir=out, dimensions=dims, plugins=approved,
                      unchecked=(explicit + declared) if unknown_ok else [])
