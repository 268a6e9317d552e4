"""Reading run directories back: configs, summaries, histories, analyses (for reports and comparisons)."""

import dataclasses
import os
from typing import Any, Dict, List, Optional

import numpy as np

from dlzoo import yaml_io
from dlzoo.experiments import locking, runfiles
from dlzoo.experiments.expand import IDENTITY_EXCLUDED

LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "perplexity", "hinge", "divergence", "crossentropy")


@dataclasses.dataclass
class RunRecord:
    """Everything a finished (or unfinished) run directory holds."""

    path: str
    run_id: str
    config: Dict[str, Any]
    info: Dict[str, Any]
    summary: Optional[Dict[str, Any]]
    histories: List[List[Dict[str, Any]]]
    analysis: Optional[Dict[str, Any]]

    @property
    def status(self) -> str:
        if self.summary is not None:
            return self.summary.get("status", "unknown")
        return self.info.get("status", "created")

    @property
    def metrics(self) -> Dict[str, Dict[str, Any]]:
        return (self.summary or {}).get("metrics") or {}

    @property
    def backend(self) -> str:
        return self.config.get("backend", "?")

    def curve(self, key: str):
        """`(epochs, mean, low, high)` of a history column over folds (`None` if absent)."""
        series = [[row.get(key) for row in h] for h in self.histories]
        series = [[v for v in s if v is not None] for s in series]
        series = [s for s in series if s]
        if not series:
            return None
        length = min(len(s) for s in series)
        arr = np.asarray([s[:length] for s in series], dtype="float64")
        return np.arange(1, length + 1), arr.mean(0), arr.min(0), arr.max(0)


def is_run_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "run.json")) and os.path.isfile(os.path.join(path, "config.yaml"))


def _load_yaml(path: str) -> Dict[str, Any]:
    with open(path, "r", encoding="utf-8") as f:
        return yaml_io.safe_load(f) or {}


def load_run(path: str) -> RunRecord:
    """One run directory (raises `FileNotFoundError` if `path` is not one); a dead `running` run becomes `interrupted`."""
    if not is_run_dir(path):
        raise FileNotFoundError(f"Not a run directory (no run.json / config.yaml): {path!r}.")
    locking.refresh_status(path)
    histories = []
    folds = sorted(
        (d for d in os.listdir(path) if d.startswith("fold_") and os.path.isdir(os.path.join(path, d))),
        key=lambda d: int(d.split("_")[1]) if d.split("_")[1].isdigit() else 0,
    )
    for directory in ([os.path.join(path, d) for d in folds] or [path]):
        rows = runfiles.read_history(os.path.join(directory, "history.csv"))
        if rows:
            histories.append(rows)
    return RunRecord(
        path=path,
        run_id=os.path.basename(os.path.normpath(path)),
        config=_load_yaml(os.path.join(path, "config.yaml")),
        info=runfiles.read_json(os.path.join(path, "run.json")) or {},
        summary=runfiles.read_json(os.path.join(path, "summary.json")),
        histories=histories,
        analysis=runfiles.read_json(os.path.join(path, "analysis.json")),
    )


def load_runs(root: str) -> List[RunRecord]:
    """Every run directory at or below `root` (two levels deep), ordered by run index then name."""
    if is_run_dir(root):
        return [load_run(root)]
    if not os.path.isdir(root):
        raise FileNotFoundError(f"No runs directory at {root!r}.")
    found = []
    for name in sorted(os.listdir(root)):
        child = os.path.join(root, name)
        if is_run_dir(child):
            found.append(load_run(child))
        elif os.path.isdir(child):
            for sub in sorted(os.listdir(child)):
                if is_run_dir(os.path.join(child, sub)):
                    found.append(load_run(os.path.join(child, sub)))
    found.sort(key=lambda r: (r.config.get("name", ""), r.info.get("index", 0), r.run_id))
    return found


def flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    """Nested config -> `{"optimizer.learning_rate": 0.001, "losses[0].weight": 1.0, ...}`."""
    flat: Dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and prefix:
            flat[prefix] = {}
        for k, v in value.items():
            flat.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            flat.update(flatten(v, f"{prefix}[{i}]"))
    else:
        flat[prefix] = value
    return flat


def config_differences(records: List[RunRecord]) -> List[str]:
    """Flattened config keys whose values differ between the runs."""
    flats = [{k: v for k, v in flatten(r.config).items() if k.split(".")[0].split("[")[0] not in IDENTITY_EXCLUDED}
             for r in records]
    keys: List[str] = []
    for flat in flats:
        for k in flat:
            if k not in keys:
                keys.append(k)
    missing = object()
    return [k for k in keys if len({repr(f.get(k, missing)) for f in flats}) > 1]


def lower_is_better(metric: str) -> bool:
    name = metric.lower()
    return any(word in name for word in LOWER_IS_BETTER) and "accuracy" not in name


def format_value(metric: Dict[str, Any], digits: int = 4) -> str:
    if metric is None:
        return "-"
    text = f"{metric['mean']:.{digits}f}"
    if metric.get("n", 1) > 1:
        text += f" ± {metric['std']:.{digits}f}"
    return text


def short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, float):
        text = f"{value:g}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
