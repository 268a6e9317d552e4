"""Architecture search under a budget, with Optuna: `dlzoo search FILE`.

A composition file describing one run becomes a search with a `search:`
section of type `optuna`:

    search:
      type: optuna
      space:                                   # model parameters (dotted), or optimizer./training./data. keys
        hidden_dims: [[16, 32], [24, 48], [32, 64]]
        norm.type: [rms_norm, layer_norm]
        attention.num_key_value_heads: {int: [1, 8], divides: attention.num_heads}
        optimizer.learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
      objectives: [{metric: test_accuracy, direction: maximize}, {metric: parameters, direction: minimize}]
      budgets: {max_params: 50000, max_flops: 2.0e6, max_memory: 1.0e8}
      trials: 20
      seed: 0

Every trial is a normal run of the experiments runner (its own traced run
directory under `<out>/trials`). Before any weight is allocated, a trial's
architecture is resolved and counted (`count_params`, `count_flops`,
`estimate_memory`); one that breaks a budget, a `divides` rule or the
family's own validation is rejected in milliseconds, recorded as infeasible
with its reason (Optuna state PRUNED, user attribute `infeasible`) and
counts towards `trials`. One objective uses TPE and a `MedianPruner` fed by
each epoch's validation metric (`pruner: none` turns it off), several
objectives NSGA-II. The study
lives in an Optuna storage, by default SQLite in the output directory, so
a search killed at any moment resumes where it stopped (the interrupted
trial is marked failed by Optuna's heartbeat and not counted), and several
workers (`--workers N`, or the same command started twice) share it; any
Optuna RDB URL (`--storage postgresql://...`) lets a cluster share one study.
"""

import copy
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlzoo import configs
from dlzoo.experiments.schema import DEFAULTS, ExperimentError, Problem
from dlzoo.registry import did_you_mean

SEARCH_KEYS = ("type", "space", "objectives", "budgets", "trials", "seed", "storage", "study_name", "pruner")
PRUNERS = ("median", "none")
BUDGETS = ("max_params", "max_flops", "max_memory")
SIZE_OBJECTIVES = ("parameters", "flops")
DIRECTIONS = ("maximize", "minimize")
COMPOSITION_SECTIONS = tuple(k for k in DEFAULTS if isinstance(DEFAULTS[k], dict)) + ("seed",)


@dataclasses.dataclass
class Dimension:
    """One searched value: `path` in the composition, and its distribution."""

    key: str  # as written in the file
    path: Tuple[str, ...]  # in the composition
    kind: str  # "categorical", "int" or "float"
    choices: Optional[List[Any]] = None
    low: Optional[float] = None
    high: Optional[float] = None
    step: Optional[int] = None
    log: bool = False
    divides: Optional[Tuple[str, ...]] = None  # path whose value this one must divide


@dataclasses.dataclass
class SearchSpec:
    base: Dict[str, Any]  # the composition without its search section
    dimensions: List[Dimension]
    objectives: List[Tuple[str, str]]  # (metric or "parameters"/"flops", direction)
    budgets: Dict[str, float]
    trials: int
    seed: int
    storage: Optional[str]
    study_name: str
    pruner: str = "median"

    def pruning_monitor(self) -> Optional[str]:
        """The per-epoch log the pruner watches: the one objective's validation metric (`None`: no pruning)."""
        if self.pruner == "none" or len(self.objectives) != 1 or self.objectives[0][0] in SIZE_OBJECTIVES:
            return None
        metric = self.objectives[0][0]
        for prefix in ("val_", "test_", "train_"):
            if metric.startswith(prefix):
                metric = metric[len(prefix):]
        return "val_" + metric


# ------------------------------------------------------------------ the file
def _path_of(key: str) -> Tuple[str, ...]:
    parts = tuple(key.split("."))
    return parts if parts[0] in COMPOSITION_SECTIONS else ("model", "params") + parts


def _get(node: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise KeyError(".".join(path))
        node = node[part]
    return node


def _set(node: Dict[str, Any], path: Sequence[str], value: Any) -> None:
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _dimension(key: str, spec: Any, file: str) -> Tuple[Optional[Dimension], List[Problem]]:
    where = f"search.space.{key}"
    if isinstance(spec, list):
        if not spec:
            return None, [Problem(file, where, spec, "an empty choice: list at least one value.")]
        return Dimension(key, _path_of(key), "categorical", choices=list(spec)), []
    if not isinstance(spec, dict) or len({"int", "float"} & set(spec)) != 1:
        return None, [Problem(file, where, spec, "must be a list of choices, {int: [low, high]} or {float: [low, high]}.")]
    kind = "int" if "int" in spec else "float"
    unknown = set(spec) - {kind, "step", "log", "divides"}
    if unknown:
        return None, [Problem(file, where, spec, f"unknown key(s) {sorted(unknown)}. Allowed: {kind}, step, log, divides.")]
    bounds = spec[kind]
    numbers = isinstance(bounds, list) and len(bounds) == 2 and all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and (kind == "float" or float(b).is_integer()) for b in bounds
    )
    if not numbers:
        return None, [Problem(file, where, bounds, f"`{kind}` must be [low, high] with {kind} bounds.")]
    low, high = bounds
    if low > high:
        return None, [Problem(file, where, bounds, f"a range with low > high ({low} > {high}).")]
    log = spec.get("log", False)
    if log and low <= 0:
        return None, [Problem(file, where, bounds, "a log range needs low > 0.")]
    step = spec.get("step")
    if step is not None and (kind != "int" or isinstance(step, bool) or not isinstance(step, int) or step < 1):
        return None, [Problem(file, where, step, "`step` is for int ranges: a positive integer.")]
    divides = spec.get("divides")
    if divides is not None and (kind != "int" or not isinstance(divides, str)):
        return None, [Problem(file, where, divides, "`divides` names another parameter (for int ranges).")]
    dimension = Dimension(key, _path_of(key), kind, low=low, high=high, step=step, log=bool(log),
                          divides=None if divides is None else _path_of(divides))
    return dimension, []


def load_search(source: Any, overrides: Sequence[str] = ()) -> SearchSpec:
    """Read and check a search file; every problem is reported at once, before any trial (`ExperimentError`)."""
    from dlzoo.experiments.schema import load_experiment, read_with_overrides  # lazy: components

    file, raw = read_with_overrides(source, overrides)
    search = raw.pop("search", None)
    problems: List[Problem] = []
    if not isinstance(search, dict) or search.get("type") != "optuna":
        raise ExperimentError([Problem(file, "search", search, "a search file needs `search: {type: optuna, space: ...}`.")])
    for key in search:
        if key not in SEARCH_KEYS:
            problems.append(Problem(file, f"search.{key}", search[key], f"unknown key. Allowed: {', '.join(SEARCH_KEYS)}."))
    base = copy.deepcopy(raw)
    try:
        experiment = load_experiment(base)
        if len(experiment.runs) != 1:
            problems.append(Problem(file, "<composition>", len(experiment.runs),
                                    "a search's composition must describe one run (no grid markers or variants)."))
    except ExperimentError as exc:
        problems.extend(exc.problems)
    space = search.get("space")
    dimensions: List[Dimension] = []
    if not isinstance(space, dict) or not space:
        problems.append(Problem(file, "search.space", space, "must map at least one parameter to its values."))
        space = {}
    for key, spec in space.items():
        dimension, found = _dimension(str(key), spec, file)
        problems += found
        if dimension is not None:
            dimensions.append(dimension)
    objectives = _objectives(search.get("objectives"), file, problems)
    budgets = search.get("budgets") or {}
    if not isinstance(budgets, dict):
        problems.append(Problem(file, "search.budgets", budgets, f"must map {', '.join(BUDGETS)} to numbers."))
        budgets = {}
    for key, value in budgets.items():
        if key not in BUDGETS:
            problems.append(Problem(file, f"search.budgets.{key}", value, f"unknown budget. Allowed: {', '.join(BUDGETS)}."))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(Problem(file, f"search.budgets.{key}", value, "must be a positive number."))
    trials = search.get("trials", 20)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        problems.append(Problem(file, "search.trials", trials, "must be a positive integer."))
    seed = search.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(Problem(file, "search.seed", seed, "must be an integer >= 0."))
    pruner = search.get("pruner", "median")
    if pruner not in PRUNERS:
        problems.append(Problem(file, "search.pruner", pruner, f"must be one of {', '.join(PRUNERS)}."))
    if problems:
        raise ExperimentError(problems)
    spec = SearchSpec(base=base, dimensions=dimensions, objectives=objectives, budgets=dict(budgets), trials=trials,
                      seed=seed, storage=search.get("storage"),
                      study_name=str(search.get("study_name") or base.get("name") or "search"), pruner=pruner)
    problems += _space_problems(spec, file)
    if problems:
        raise ExperimentError(problems)
    return spec


def _objectives(value, file, problems) -> List[Tuple[str, str]]:
    if value is None:
        problems.append(Problem(file, "search.objectives", value, "name at least one: [{metric: val_accuracy, direction: maximize}]."))
        return []
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        if not isinstance(item, dict) or "metric" not in item or item.get("direction") not in DIRECTIONS:
            problems.append(Problem(file, "search.objectives", item, "each is {metric: NAME, direction: maximize|minimize}."))
            continue
        found.append((str(item["metric"]), item["direction"]))
    return found


# ---------------------------------------------------------- feasibility
def composition_for(spec: SearchSpec, values: Dict[str, Any]) -> Dict[str, Any]:
    """The base composition with the trial's values set."""
    config = copy.deepcopy(spec.base)
    by_key = {d.key: d for d in spec.dimensions}
    for key, value in values.items():
        _set(config, by_key[key].path, value)
    return config


def measure(spec: SearchSpec, config: Dict[str, Any]) -> Dict[str, Any]:
    """Resolve and count a trial's model without allocating: `parameters`, `flops` (and `memory` with a budget).

    Raises:
        ValueError, TypeError: the family or a block refused the architecture.
    """
    from dlzoo import inspection  # lazy: keras

    model = config.get("model") or {}
    resolved = inspection.config_of(model.get("name"), extensions=model.get("extensions") or None, **(model.get("params") or {}))
    facts = {"parameters": inspection.count_params(resolved)}
    batch = int((config.get("training") or {}).get("batch_size", DEFAULTS["training"]["batch_size"]))
    try:
        facts["flops"] = inspection.count_flops(resolved)  # one example
    except ValueError:
        facts["flops"] = None  # a model that cannot be counted in FLOPs (an extension that changes it)
    if "max_memory" in spec.budgets:
        facts["memory"] = inspection.estimate_memory(resolved, batch_size=batch)["bytes"]["total"]
    return facts


def infeasibility(spec: SearchSpec, config: Dict[str, Any], values: Dict[str, Any]) -> Tuple[Optional[str], Dict[str, Any]]:
    """`(reason or None, size facts)` of a trial, decided without allocating any weight."""
    for dimension in spec.dimensions:
        if dimension.divides is not None:
            try:
                other = _get(config, dimension.divides)
            except KeyError:
                other = _resolved_value(config, dimension.divides)
            value = values[dimension.key]
            if not isinstance(other, int) or other % value:
                return f"{dimension.key}={value} does not divide {'.'.join(dimension.divides[2:])}={other}", {}
    try:
        facts = measure(spec, config)
    except (ValueError, TypeError) as exc:
        return f"architecture refused: {str(exc).splitlines()[0][:300]}", {}
    limits = {"max_params": "parameters", "max_flops": "flops", "max_memory": "memory"}
    for budget, fact in limits.items():
        if budget in spec.budgets and facts.get(fact) is not None and facts[fact] > spec.budgets[budget]:
            return f"{fact} {facts[fact]:,} > {budget} {spec.budgets[budget]:,g}", facts
    return None, facts


def _resolved_value(config, path):
    from dlzoo import inspection  # lazy: keras

    model = config.get("model") or {}
    resolved = inspection.config_of(model.get("name"), extensions=model.get("extensions") or None, **(model.get("params") or {}))
    try:
        return _get({"model": {"params": resolved["params"]}}, path)
    except KeyError:
        return None


def _space_problems(spec: SearchSpec, file: str) -> List[Problem]:
    """Unknown parameters, and a budget that no point of the space meets (checked at the space's smallest corner)."""
    from dlzoo import inspection  # lazy: keras

    problems = []
    model = spec.base.get("model") or {}
    try:
        resolved = inspection.config_of(model.get("name"), extensions=model.get("extensions") or None, **(model.get("params") or {}))
    except (ValueError, TypeError) as exc:
        return [Problem(file, "model", model.get("name"), str(exc).splitlines()[0])]
    flat = configs.flatten(resolved["params"])
    for dimension in spec.dimensions:
        if dimension.path[:2] == ("model", "params"):
            key = ".".join(dimension.path[2:])
            if key not in flat and not any(k.startswith(key + ".") for k in flat):
                hint = did_you_mean(key, list(flat))
                problems.append(Problem(file, f"search.space.{dimension.key}", None,
                                        f"unknown parameter of {resolved['model']!r}.{hint}"))
        if dimension.divides is not None and dimension.divides[:2] == ("model", "params"):
            key = ".".join(dimension.divides[2:])
            if key not in flat and dimension.divides not in [d.path for d in spec.dimensions]:
                problems.append(Problem(file, f"search.space.{dimension.key}.divides", key, "unknown parameter."))
    if problems or not spec.budgets:
        return problems
    reason, facts = infeasibility(spec, composition_for(spec, _smallest_corner(spec)), _smallest_corner(spec))
    if reason is not None and facts:
        problems.append(Problem(file, "search.budgets", spec.budgets,
                                f"no architecture of the space meets the budget: its smallest corner has {reason}."))
    return problems


def _smallest_corner(spec: SearchSpec) -> Dict[str, Any]:
    """Each range at its low end, each choice at the one that gives the fewest parameters with the rest low."""
    values = {d.key: (int(d.low) if d.kind == "int" else d.low) for d in spec.dimensions if d.kind != "categorical"}
    for d in spec.dimensions:
        if d.kind == "categorical":
            values[d.key] = d.choices[0]
    for d in spec.dimensions:
        if d.kind != "categorical" or len(d.choices) == 1:
            continue
        best, best_size = d.choices[0], math.inf
        for choice in d.choices:
            try:
                size = measure(spec, composition_for(spec, dict(values, **{d.key: choice})))["parameters"]
            except (ValueError, TypeError):
                continue
            if size < best_size:
                best, best_size = choice, size
        values[d.key] = best
    return values


# --------------------------------------------------------------- the study
def default_storage(output_dir: str) -> str:
    return "sqlite:///" + os.path.abspath(os.path.join(output_dir, "study.db"))


def open_study(spec: SearchSpec, storage: str, worker: int = 0):
    """Create or load the study (same name, same storage: the same study)."""
    import optuna  # lazy: only for searches

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
    rdb = optuna.storages.RDBStorage(
        storage, heartbeat_interval=1, grace_period=3,
        engine_kwargs={"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None,
    )
    directions = [direction for _, direction in spec.objectives]
    sampler = (optuna.samplers.TPESampler(seed=spec.seed + worker) if len(directions) == 1
               else optuna.samplers.NSGAIISampler(seed=spec.seed + worker))
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2) if spec.pruning_monitor()
              else optuna.pruners.NopPruner())
    return optuna.create_study(study_name=spec.study_name, storage=rdb, directions=directions, sampler=sampler,
                               pruner=pruner, load_if_exists=True)


def _suggest(trial, dimension: Dimension):
    if dimension.kind == "categorical":
        # Optuna stores categorical choices as JSON-able scalars: index lists and mappings by position.
        plain = all(isinstance(c, (str, int, float, bool)) or c is None for c in dimension.choices)
        if plain:
            return trial.suggest_categorical(dimension.key, dimension.choices)
        index = trial.suggest_categorical(dimension.key, [json.dumps(c) for c in dimension.choices])
        return json.loads(index)
    if dimension.kind == "int":
        return trial.suggest_int(dimension.key, int(dimension.low), int(dimension.high), step=dimension.step or 1, log=dimension.log)
    return trial.suggest_float(dimension.key, float(dimension.low), float(dimension.high), log=dimension.log)


def counted_trials(study) -> int:
    """Trials that count towards the budget: completed, pruned and infeasible ones; failed (interrupted) ones do not."""
    import optuna  # lazy

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def run_worker(spec: SearchSpec, output_dir: str, storage: Optional[str] = None, worker: int = 0, quiet: bool = False) -> None:
    """Run trials until the study holds `spec.trials` completed or infeasible ones."""
    import optuna  # lazy

    from dlzoo.experiments import search_pruning as pruning  # lazy: keras (registers the callback)
    from dlzoo.experiments.runner import run_experiment  # lazy: keras

    os.makedirs(output_dir, exist_ok=True)
    study = open_study(spec, storage or spec.storage or default_storage(output_dir), worker)
    trials_dir = os.path.join(output_dir, "trials")

    def objective(trial):
        trial.set_user_attr("worker", worker)
        values = {d.key: _suggest(trial, d) for d in spec.dimensions}
        config = composition_for(spec, values)
        started = time.perf_counter()
        reason, facts = infeasibility(spec, config, values)
        for key, value in facts.items():
            trial.set_user_attr(key, value)
        if reason is not None:
            trial.set_user_attr("infeasible", reason)
            trial.set_user_attr("rejected_seconds", round(time.perf_counter() - started, 4))
            if not quiet:
                print(f"trial {trial.number}: infeasible ({reason})", flush=True)
            raise optuna.TrialPruned(reason)
        monitor = spec.pruning_monitor()
        if monitor is not None:  # per-epoch validation to the study's MedianPruner, visible in the run's config
            config["callbacks"] = list(config.get("callbacks") or []) + [{"name": "optuna_pruning", "monitor": monitor}]
        pruning.activate(trial)
        try:
            summary = run_experiment(config, output_dir=trials_dir, isolate="never", quiet=True)[0]
        finally:
            pruned_at = pruning.ACTIVE["pruned_at"]
            pruning.activate(None)
        trial.set_user_attr("run_id", summary["run_id"])
        trial.set_user_attr("metrics", {k: v["mean"] for k, v in summary["metrics"].items()})
        if pruned_at is not None:
            trial.set_user_attr("pruned_at_epoch", pruned_at + 1)
            if not quiet:
                print(f"trial {trial.number}: pruned after epoch {pruned_at + 1} (below the median)", flush=True)
            raise optuna.TrialPruned(f"pruned after epoch {pruned_at + 1}")
        results = []
        for name, _ in spec.objectives:
            if name in SIZE_OBJECTIVES:
                results.append(float(facts[name]))
            elif name in summary["metrics"]:
                results.append(float(summary["metrics"][name]["mean"]))
            else:
                raise ValueError(f"Objective {name!r} is not a metric of the run. Received metrics: {sorted(summary['metrics'])}.")
        if not quiet:
            print(f"trial {trial.number}: {', '.join(f'{n}={v:.4g}' for (n, _), v in zip(spec.objectives, results))} "
                  f"({facts['parameters']:,} parameters)", flush=True)
        return results[0] if len(results) == 1 else results

    def enough(study, _trial):
        if counted_trials(study) >= spec.trials:
            study.stop()

    while counted_trials(study) < spec.trials:
        study.optimize(objective, n_trials=1, callbacks=[enough], catch=())


def search(source: Any, overrides: Sequence[str] = (), output_dir: Optional[str] = None, storage: Optional[str] = None,
           workers: int = 1, quiet: bool = False) -> Dict[str, Any]:
    """Run (or resume) a search and write its report; returns the report's facts (see `report`)."""
    spec = load_search(source, overrides)
    output_dir = output_dir or os.path.join("runs", f"{spec.study_name}-search")
    os.makedirs(output_dir, exist_ok=True)
    storage = storage or spec.storage or default_storage(output_dir)
    if workers <= 1:
        run_worker(spec, output_dir, storage, quiet=quiet)
    else:
        open_study(spec, storage)  # created once, before the workers race to create it
        processes = [
            subprocess.Popen([sys.executable, "-m", "dlzoo.experiments.search", "--worker", str(i), "--out", output_dir,
                              "--storage", storage, str(os.path.abspath(source))] + [f"--set={o}" for o in overrides])
            for i in range(workers)
        ]
        codes = [p.wait() for p in processes]
        if any(codes):
            raise RuntimeError(f"A search worker failed (exit codes {codes}); the study is kept in {storage}.")
    from dlzoo.experiments.search_report import write_report  # lazy: matplotlib

    return write_report(spec, open_study(spec, storage), output_dir)


def _worker_main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dlzoo.experiments.search")
    parser.add_argument("file")
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args(argv)
    run_worker(load_search(args.file, args.set), args.out, args.storage, worker=args.worker)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
