"""The files of a run directory: JSON written atomically and the CSV history of the finished epochs.

Plain file bookkeeping (standard library and NumPy, no Keras), shared by the
runner, the Keras callbacks, the run locks, `dlzoo report` and
`dlzoo compare`.
"""

import csv
import json
import os
from typing import Any, Dict, List, Optional

import numpy as np


def read_history(path: str) -> List[Dict[str, Any]]:
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, "r", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            parsed = {}
            for k, v in row.items():
                if v in ("", None):
                    continue
                try:
                    parsed[k] = int(v) if k == "epoch" else float(v)
                except ValueError:
                    parsed[k] = v
            rows.append(parsed)
    return rows


def write_history(path: str, rows: List[Dict[str, Any]]) -> None:
    keys: List[str] = ["epoch"]
    for row in rows:
        for k in row:
            if k not in keys:
                keys.append(k)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in keys})
    os.replace(tmp, path)


def write_json(path: str, data: Dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
