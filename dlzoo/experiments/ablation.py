"""Ablations: which switches help. `dlzoo ablate BASE --switch KEY=VALUE ... [--seeds N]`.

A base composition (a file describing one run) and a list of one-parameter
switches become one experiment of the runner: the base and each one-switch
variant (`variants:`, labelled by the switch), each trained with the same
seeds (`seed: {grid: [...]}`, the data split following the seed). The report
gives, per switch, the metric (mean ± std over the seeds), its paired
difference with the base (same seed, same split), and the exact parameters
and FLOPs (`count_params` / `count_flops`) with their change.

A composition file can carry the ablation itself:

    ablation:
      switches: [norm.type=batch_norm, use_layer_scale=false]   # or {norm.type: batch_norm, ...}
      seeds: [0, 1, 2]                                          # or a count: 3 (seeds 0, 1, 2)
      metric: test_accuracy                                     # default: test_<first metric>, else val_

A switch's key is a model parameter (dotted: `norm.type`, `attention.use_qk_norm`)
or a composition key (`optimizer.learning_rate`, `training.epochs`, ...). A
switch naming an unknown parameter, or a value the family or a block refuses,
is reported before anything trains.
"""

import copy
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlzoo import configs
from dlzoo.experiments.schema import ExperimentError, Problem
from dlzoo.experiments.search import _get, _path_of, _set
from dlzoo.registry import did_you_mean

ABLATION_KEYS = ("switches", "seeds", "metric")
BASE_LABEL = "base"


@dataclasses.dataclass
class Switch:
    key: str  # as written: `norm.type`
    value: Any
    path: Tuple[str, ...]  # in the composition

    @property
    def label(self) -> str:
        return f"{self.key}={_text(self.value)}"


@dataclasses.dataclass
class AblationSpec:
    name: str
    base: Dict[str, Any]  # the composition without its ablation section
    switches: List[Switch]
    seeds: List[int]
    metric: Optional[str]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def parse_switches(items: Any, file: str, problems: List[Problem]) -> List[Switch]:
    """`["a.b=1", ...]` or `{"a.b": 1, ...}` -> switches (values read as YAML scalars)."""
    if isinstance(items, dict):
        pairs = [(str(k), v) for k, v in items.items()]
    elif isinstance(items, list):
        pairs = []
        for item in items:
            if isinstance(item, dict) and len(item) == 1:
                pairs.append(next(iter(item.items())))
            elif isinstance(item, str) and "=" in item:
                key, _, text = item.partition("=")
                try:
                    pairs.append((key.strip(), configs.parse_overrides(["value=" + text])["value"]))
                except ValueError as exc:
                    problems.append(Problem(file, "ablation.switches", item, str(exc)))
            else:
                problems.append(Problem(file, "ablation.switches", item, "a switch is KEY=VALUE (e.g. norm.type=rms_norm)."))
    else:
        problems.append(Problem(file, "ablation.switches", items, "must be a list of KEY=VALUE or a mapping KEY: VALUE."))
        return []
    return [Switch(key=str(k), value=v, path=_path_of(str(k))) for k, v in pairs]


def _seeds(value: Any, file: str, problems: List[Problem]) -> List[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            problems.append(Problem(file, "ablation.seeds", value, "a number of seeds must be >= 1."))
            return []
        return list(range(value))
    if (isinstance(value, list) and value and len(set(value)) == len(value)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        return list(value)
    problems.append(Problem(file, "ablation.seeds", value, "must be a count (3) or a list of distinct integers >= 0."))
    return []


def load_ablation(source: Any, switches: Sequence[str] = (), seeds: Any = None, metric: Optional[str] = None,
                  overrides: Sequence[str] = ()) -> AblationSpec:
    """Read and check an ablation: every problem (unknown parameter, refused value, ...) before anything trains.

    Args:
        source: composition file path or mapping (one run), optionally with an `ablation:` section.
        switches: `KEY=VALUE` strings added to the file's switches.
        seeds: a count or a list of seeds (default: the file's, else 3).
        metric: the compared metric (default: the file's, else test_/val_ of the first metric).
        overrides: `key=value` overrides of the composition.

    Raises:
        ExperimentError: every problem found, each naming the switch or key.
    """
    from dlzoo.experiments.schema import load_experiment, read_with_overrides  # lazy: components

    file, raw = read_with_overrides(source, overrides)
    section = raw.pop("ablation", None) or {}
    problems: List[Problem] = []
    if not isinstance(section, dict):
        raise ExperimentError([Problem(file, "ablation", section, "must be a mapping: {switches, seeds, metric}.")])
    for key in section:
        if key not in ABLATION_KEYS:
            problems.append(Problem(file, f"ablation.{key}", section[key], f"unknown key. Allowed: {', '.join(ABLATION_KEYS)}."))
    found = parse_switches(section.get("switches") or [], file, problems)
    found += parse_switches(list(switches), "<command line>", problems)
    if not found and not problems:
        problems.append(Problem(file, "ablation.switches", None, "name at least one switch: --switch KEY=VALUE."))
    labels = [s.label for s in found]
    for label in sorted({l for l in labels if labels.count(l) > 1}):
        problems.append(Problem(file, "ablation.switches", label, "the same switch twice."))
    chosen_seeds = _seeds(seeds if seeds is not None else section.get("seeds", 3), file, problems)
    base = copy.deepcopy(raw)
    try:
        experiment = load_experiment(base, check_data=False)
        if len(experiment.runs) != 1:
            problems.append(Problem(file, "<composition>", len(experiment.runs),
                                    "an ablation's base composition must describe one run (no grid markers or variants)."))
    except ExperimentError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ExperimentError(problems)
    problems += switch_problems(base, found, file)
    if problems:
        raise ExperimentError(problems)
    return AblationSpec(name=str(base.get("name") or "ablation"), base=base, switches=found, seeds=chosen_seeds,
                        metric=metric or section.get("metric"))


def _resolved(model: Dict[str, Any]) -> Dict[str, Any]:
    from dlzoo import inspection  # lazy: keras

    return inspection.config_of(model.get("name"), extensions=model.get("extensions") or None, **(model.get("params") or {}))


def switch_problems(base: Dict[str, Any], switches: Sequence[Switch], file: str) -> List[Problem]:
    """Unknown parameters, and values the family or a block refuses (counted, nothing allocated)."""
    from dlzoo.experiments.schema import load_experiment  # lazy: components

    problems = []
    flat = configs.flatten(_resolved(base["model"])["params"])
    model_name = base["model"].get("name")
    for switch in switches:
        where = f"switch {switch.label}"
        if switch.path[:2] == ("model", "params"):
            key = ".".join(switch.path[2:])
            if key not in flat and not any(k.startswith(key + ".") for k in flat):
                problems.append(Problem(file, where, switch.key, f"unknown parameter of {model_name!r}.{did_you_mean(key, list(flat))}"))
                continue
        else:
            try:
                _get(base, switch.path)
            except KeyError:
                if switch.path[0] not in base and switch.path[0] not in ("optimizer", "training", "data", "schedule"):
                    problems.append(Problem(file, where, switch.key, "unknown key of the composition."))
                    continue
        config = apply_switch(base, switch)
        try:
            measure_model(config["model"])
            load_experiment(config, check_data=False)
        except ExperimentError as exc:
            problems += [Problem(file, where, p.value, f"{p.key}: {p.message}") for p in exc.problems]
        except (ValueError, TypeError) as exc:
            problems.append(Problem(file, where, switch.value, str(exc).splitlines()[0][:300]))
        except Exception as exc:  # a model that cannot even be counted: refused too, with what went wrong
            problems.append(Problem(file, where, switch.value,
                                    f"the model cannot be counted ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"))
    return problems


def apply_switch(base: Dict[str, Any], switch: Switch) -> Dict[str, Any]:
    config = copy.deepcopy(base)
    _set(config, switch.path, copy.deepcopy(switch.value))
    return config


def measure_model(model: Dict[str, Any]) -> Dict[str, Optional[int]]:
    """Exact parameters and forward FLOPs of one example, without allocating (raises on a refused architecture)."""
    from dlzoo import inspection  # lazy: keras

    resolved = _resolved(model)
    facts = {"parameters": inspection.count_params(resolved)}
    try:
        facts["flops"] = inspection.count_flops(resolved)
    except ValueError:
        facts["flops"] = None
    return facts


def composition(spec: AblationSpec) -> Dict[str, Any]:
    """One runner composition: `variants:` (the base and each switch, labelled) x `seed: {grid: seeds}`."""
    config = copy.deepcopy(spec.base)
    variants = [{"label": BASE_LABEL}]
    for switch in spec.switches:
        # the whole top-level section with the switch set: variants replace sections other than data/model/training
        top = switch.path[0]
        variants.append({"label": switch.label, top: apply_switch(spec.base, switch)[top]})
    config["variants"] = variants
    config["seed"] = {"grid": list(spec.seeds)}
    return config


def ablate(source: Any, switches: Sequence[str] = (), seeds: Any = None, metric: Optional[str] = None,
           overrides: Sequence[str] = (), output_dir: Optional[str] = None, quiet: bool = False,
           isolate: Optional[str] = None) -> Dict[str, Any]:
    """Train the base and every one-switch variant with the same seeds, then write the report; returns its facts.

    `isolate` is the runner's (`None`: in this process when every run uses this process's backend, else a
    subprocess per run).
    """
    from dlzoo.experiments.runner import run_experiment  # lazy: keras
    from dlzoo.experiments.schema import load_experiment  # lazy: components

    spec = load_ablation(source, switches=switches, seeds=seeds, metric=metric, overrides=overrides)
    output_dir = output_dir or os.path.join("runs", f"{spec.name}-ablation")
    runs_dir = os.path.join(output_dir, "runs")
    config = composition(spec)
    experiment = load_experiment(config, output_dir=runs_dir, check_data=False)
    where = {}
    for run in experiment.runs:
        where[run.run_id] = (run.choices.get("variant"), run.config["seed"])
    if isolate is None:  # in this process when every run is on this process's backend (the usual case)
        import keras  # lazy: keras

        isolate = "never" if {r.backend for r in experiment.runs} == {keras.backend.backend()} else "always"
    summaries = run_experiment(config, output_dir=runs_dir, quiet=quiet, isolate=isolate)
    results: Dict[str, Dict[int, Dict[str, float]]] = {}
    for summary in summaries:
        label, seed = where[summary["run_id"]]
        results.setdefault(str(label), {})[seed] = {k: v["mean"] for k, v in summary["metrics"].items()}
    from dlzoo.experiments.ablation_report import write_report  # lazy: matplotlib

    return write_report(spec, results, output_dir)
