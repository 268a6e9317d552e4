"""The report of an Optuna search: best trial, Pareto front plot, importances, infeasible trials, best YAML.

Written into the search's output directory: `search_report.md`,
`search.json`, `pareto.png` and `<study>-best.yaml` (a zoo config of the
best architecture that `dlzoo.build` accepts).
"""

import collections
import json
import os
from typing import Any, Dict, List, Optional

from dlzoo.experiments.search import SIZE_OBJECTIVES, SearchSpec, composition_for


def _trials(study, state):
    import optuna  # lazy

    return study.get_trials(deepcopy=False, states=(getattr(optuna.trial.TrialState, state),))


def _values_of(trial, spec: SearchSpec) -> Dict[str, Any]:
    """The trial's searched values as the composition takes them (JSON-encoded choices decoded)."""
    values = {}
    for dimension in spec.dimensions:
        value = trial.params[dimension.key]
        if dimension.kind == "categorical" and isinstance(value, str) and value not in dimension.choices:
            value = json.loads(value)
        values[dimension.key] = value
    return values


def _best(study, spec: SearchSpec):
    """The best trial: the best of the first objective, among the Pareto front for several objectives."""
    complete = _trials(study, "COMPLETE")
    if not complete:
        return None, []
    front = study.best_trials if len(spec.objectives) > 1 else [study.best_trial]
    sign = 1 if spec.objectives[0][1] == "maximize" else -1
    return max(front, key=lambda t: sign * t.values[0]), front


def best_zoo_config(spec: SearchSpec, trial) -> Dict[str, Any]:
    """A zoo config (name, model, description, params) of a trial's architecture, for `dlzoo.build`."""
    from dlzoo import inspection  # lazy: keras

    model = composition_for(spec, _values_of(trial, spec))["model"]
    resolved = inspection.config_of(model["name"], extensions=model.get("extensions") or None, **(model.get("params") or {}))
    config = {
        "name": f"{spec.study_name}-best",
        "model": resolved["model"],
        "description": f"Best architecture of the search {spec.study_name!r} (trial {trial.number}), from {model['name']}.",
        "params": resolved["params"],
    }
    if resolved.get("extensions"):
        config["extensions"] = resolved["extensions"]
    return config


def _importances(study, spec) -> Optional[Dict[str, float]]:
    import optuna  # lazy

    if len(_trials(study, "COMPLETE")) < 2:
        return None
    try:
        target = None if len(spec.objectives) == 1 else (lambda t: t.values[0])
        return {k: round(float(v), 4) for k, v in optuna.importance.get_param_importances(study, target=target).items()}
    except (RuntimeError, ValueError, ZeroDivisionError):  # no variation yet
        return None


def _pareto_png(spec, study, front, path) -> Optional[str]:
    """Metric (first objective that is a metric) against parameters for every completed trial, the front marked."""
    from matplotlib.figure import Figure  # lazy: matplotlib

    complete = _trials(study, "COMPLETE")
    metric = next((name for name, _ in spec.objectives if name not in SIZE_OBJECTIVES), None)
    if not complete or metric is None:
        return None
    index = [name for name, _ in spec.objectives].index(metric)
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot(1, 1, 1)
    for group, style, label in ((complete, dict(color="#999999", s=20), "trials"),
                                (front, dict(color="#DD8452", s=45, marker="D"), "Pareto front" if len(spec.objectives) > 1 else "best")):
        axes.scatter([t.user_attrs.get("parameters") for t in group], [t.values[index] for t in group], label=label, **style)
    axes.set_xlabel("parameters")
    axes.set_ylabel(metric)
    if "max_params" in spec.budgets:
        axes.axvline(spec.budgets["max_params"], color="#C44E52", linestyle="--", label="max_params")
    axes.set_title(f"{spec.study_name}: {metric} vs parameters")
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def write_report(spec: SearchSpec, study, output_dir: str) -> Dict[str, Any]:
    """Write the search report files; returns their facts (`best`, `front`, counts, `infeasible_reasons`, paths)."""
    import yaml  # lazy

    complete, pruned, failed = (_trials(study, s) for s in ("COMPLETE", "PRUNED", "FAIL"))
    infeasible = [t for t in pruned if "infeasible" in t.user_attrs]
    stopped = [t for t in pruned if "infeasible" not in t.user_attrs]
    reasons = collections.Counter(_reason_kind(t.user_attrs["infeasible"]) for t in infeasible)
    best, front = _best(study, spec)
    facts: Dict[str, Any] = {
        "study": spec.study_name,
        "objectives": [list(o) for o in spec.objectives],
        "budgets": spec.budgets,
        "trials": {"complete": len(complete), "infeasible": len(infeasible), "pruned": len(stopped), "failed": len(failed)},
        "infeasible_reasons": dict(reasons),
        "rejection_seconds": max([t.user_attrs.get("rejected_seconds", 0.0) for t in infeasible], default=None),
        "best": None if best is None else _trial_facts(best, spec),
        "front": [_trial_facts(t, spec) for t in front],
        "importances": _importances(study, spec),
    }
    facts["pareto_png"] = _pareto_png(spec, study, front, os.path.join(output_dir, "pareto.png"))
    if best is not None:
        facts["best_yaml"] = os.path.join(output_dir, f"{spec.study_name}-best.yaml")  # a zoo config's name is its stem
        with open(facts["best_yaml"], "w") as f:
            yaml.safe_dump(best_zoo_config(spec, best), f, sort_keys=False, default_flow_style=None, width=120)
    with open(os.path.join(output_dir, "search.json"), "w") as f:
        json.dump(facts, f, indent=1, default=str)
    facts["markdown"] = os.path.join(output_dir, "search_report.md")
    with open(facts["markdown"], "w") as f:
        f.write(render_markdown(facts))
    return facts


def _reason_kind(reason: str) -> str:
    """`parameters 12,345 > max_params 10,000` -> `max_params`; other reasons by their first words."""
    for budget in ("max_params", "max_flops", "max_memory"):
        if budget in reason:
            return budget
    return "does not divide" if "does not divide" in reason else "architecture refused"


def _trial_facts(trial, spec) -> Dict[str, Any]:
    return {
        "number": trial.number,
        "values": dict(zip([name for name, _ in spec.objectives], trial.values)),
        "params": _values_of(trial, spec),
        "parameters": trial.user_attrs.get("parameters"),
        "flops": trial.user_attrs.get("flops"),
        "run_id": trial.user_attrs.get("run_id"),
    }


def render_markdown(facts: Dict[str, Any]) -> str:
    counts = facts["trials"]
    lines = [f"# Search {facts['study']}", "",
             f"Objectives: {', '.join(f'{n} ({d})' for n, d in facts['objectives'])}; budgets: "
             f"{', '.join(f'{k} {v:,g}' for k, v in facts['budgets'].items()) or 'none'}.", "",
             f"Trials: {counts['complete']} trained, {counts['pruned']} stopped early by the median pruner, "
             f"{counts['infeasible']} rejected as infeasible before any weight was allocated, "
             f"{counts['failed']} failed (interrupted).", ""]
    if facts["infeasible_reasons"]:
        lines += ["Rejected: " + ", ".join(f"{n} x {k}" for k, n in facts["infeasible_reasons"].items())
                  + f" (slowest rejection {facts['rejection_seconds']:.3f} s).", ""]
    best = facts["best"]
    if best:
        lines += [f"## Best trial: {best['number']}", "",
                  ", ".join(f"{k} = {v:.4g}" for k, v in best["values"].items())
                  + f"; {best['parameters']:,} parameters, {best['flops']:,} FLOPs per example; run `{best['run_id']}`.", "",
                  "| parameter | value |", "|---|---|"]
        lines += [f"| {k} | `{json.dumps(v)}` |" for k, v in best["params"].items()]
        name = os.path.basename(facts["best_yaml"])
        lines += ["", f"Architecture: `{name}` (`dlzoo.build(\"{name}\")`).", ""]
    if len(facts["front"]) > 1 or len(facts["objectives"]) > 1:
        lines += ["## Pareto front", "", "| trial | " + " | ".join(facts["objectives"][i][0] for i in range(len(facts["objectives"])))
                  + " | parameters |", "|---|" + "---|" * (len(facts["objectives"]) + 1)]
        for t in sorted(facts["front"], key=lambda t: t["parameters"] or 0):
            lines.append(f"| {t['number']} | " + " | ".join(f"{v:.4g}" for v in t["values"].values()) + f" | {t['parameters']:,} |")
        lines.append("")
    if facts.get("pareto_png"):
        lines += ["![metric vs parameters](pareto.png)", ""]
    if facts["importances"]:
        lines += ["## Parameter importances (fANOVA)", "", "| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in facts["importances"].items()]
        lines.append("")
    return "\n".join(lines)
