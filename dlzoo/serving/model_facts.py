"""Facts about a model read from its resolved zoo config: longest sequence, id ranges, classes of its head.

A resolved config is what `dlzoo.builder.resolve` returns and what an
export's `manifest.json` stores under `model.config`: `{"name", "model",
"params": {...}, "extensions": [name or {"name": ..., **kwargs}]}`. This
module is the one place that reads these facts, for the server's request
limits and for the experiment checks (labels against the head's classes).
Standard library only: `dlzoo serve` loads it without the dlzoo package.
Each function returns `None` (or nothing) for a config that does not say.
"""

from typing import Any, Dict, Optional, Tuple

#: Integer inputs that index a table of the model: input name -> the params key of the table size.
ID_INPUTS = {"token_ids": "vocabulary_size", "segment_ids": "num_segments"}


def _params(config: Any) -> Dict[str, Any]:
    params = config.get("params") if isinstance(config, dict) else None
    return params if isinstance(params, dict) else {}


def _positive_int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def max_sequence_length(config: Any) -> Optional[int]:
    """`params.max_sequence_length`: the longest sequence the model accepts."""
    return _positive_int(_params(config).get("max_sequence_length"))


def id_ranges(config: Any) -> Dict[str, Tuple[int, int, str]]:
    """Input name -> `(low, high_exclusive, "params.<key>")` for the id inputs the config sizes."""
    params = _params(config)
    ranges = {}
    for name, key in ID_INPUTS.items():
        size = _positive_int(params.get(key))
        if size is not None:
            ranges[name] = (0, size, f"params.{key}")
    return ranges


def num_classes(config: Any) -> Optional[Tuple[int, str]]:
    """`(classes, where)` of the model's classification head: the last extension that sets
    `num_classes` (e.g. `classification_head`), else `params.num_classes`."""
    extensions = config.get("extensions") if isinstance(config, dict) else None
    for i, ext in reversed(list(enumerate(extensions or []))):
        if isinstance(ext, dict) and _positive_int(ext.get("num_classes")) is not None:
            return ext["num_classes"], f"extensions[{i}].num_classes ({ext.get('name')})"
    classes = _positive_int(_params(config).get("num_classes"))
    return (classes, "params.num_classes") if classes is not None else None
