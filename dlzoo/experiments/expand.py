"""Expansion of a composition file into runs: grid or random search, run names and identities.

Where a list is a dimension:

* where a single value is expected (`backend`, `model.name`,
  `optimizer.learning_rate`, a scalar model parameter, ...), a list is the
  set of values to try: `learning_rate: [1e-3, 3e-3]`;
* where a list is expected (`metrics`, `callbacks`, `losses`,
  `data.transforms`, `model.extensions`, a list-valued model parameter such
  as `hidden_dims`, a list-valued component option), a list is the value, and
  a **list of lists** is the set of values to try:
  `hidden_dims: [[32, 64], [64, 128]]`;
* anywhere, `{grid: [a, b, ...]}` is the set of values to try, explicitly.

With `search: {type: random, samples: N, seed: S}` the runner samples N of
the combinations (without replacement while no distribution is involved),
and these distributions may be used as values: `{uniform: [low, high]}`,
`{loguniform: [low, high]}`, `{randint: [low, high]}` (both ends included).

Each combination becomes a run whose identity is a hash of its resolved
config (every key except `name`, `description`, `output_dir` and `search`),
and whose name is readable and predictable:
`<dimension>=<value>_..._<hash8>` (e.g. `model=image-mlp-tiny_learning_rate=0.001_backend=jax-1a2b3c4d`).
"""

import copy
import dataclasses
import hashlib
import json
import math
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

DISTRIBUTIONS = ("uniform", "loguniform", "randint")
IDENTITY_EXCLUDED = ("name", "description", "output_dir", "search", "launcher", "distribution")  # how a run is started is not what it is

Path = Tuple[Any, ...]
Choice = Tuple[Path, Any]


def is_grid(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and "grid" in node


def is_distribution(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)) in DISTRIBUTIONS


def path_str(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def alternatives(node: Any, list_typed: bool = False) -> List[Any]:
    """The values a node may take (one for a plain value)."""
    if is_grid(node):
        return [v for alt in node["grid"] for v in alternatives(alt, list_typed)]
    if isinstance(node, list):
        if list_typed:
            if node and all(isinstance(e, list) for e in node):
                return list(node)
            return [node]
        return [v for alt in node for v in alternatives(alt, False)]
    return [node]


@dataclasses.dataclass
class Context:
    """What the expansion needs to know: is the value at a path list-typed?"""

    list_typed: Callable[[Path, Optional[dict]], bool]
    spec_kind: Callable[[Path], Optional[str]]
    option_is_list: Callable[[str, List[str], str], bool]


def expand_node(node: Any, path: Path, ctx: Context, list_typed: Optional[bool] = None) -> List[Tuple[Any, List[Choice]]]:
    """Every concrete value of `node` with the choices that made it."""
    if list_typed is None:
        list_typed = ctx.list_typed(path, None)
    if is_grid(node):
        out = []
        for alt in node["grid"]:
            for value, choices in expand_node(alt, path, ctx, list_typed):
                out.append((value, [(path, alt)] + choices))
        return out
    if is_distribution(node):
        return [(node, [])]
    if isinstance(node, list):
        if list_typed:
            if node and all(isinstance(e, list) for e in node):
                out = []
                for alt in node:
                    for value, choices in _expand_elements(alt, path, ctx):
                        out.append((value, [(path, alt)] + choices))
                return out
            return _expand_elements(node, path, ctx)
        out = []
        for alt in node:
            for value, choices in expand_node(alt, path, ctx, False):
                out.append((value, [(path, alt)] + choices))
        return out
    if isinstance(node, dict):
        kind = ctx.spec_kind(path)
        names = [str(n) for n in alternatives(node.get("name"))] if kind else []
        combos: List[Tuple[dict, List[Choice]]] = [({}, [])]
        for key, child in node.items():
            child_list = None
            if kind and key != "name":
                child_list = ctx.option_is_list(kind, names, key)
            sub = expand_node(child, path + (key,), ctx, child_list)
            combos = [({**d, key: v}, c + c2) for d, c in combos for v, c2 in sub]
        return combos
    return [(node, [])]


def _expand_elements(items: list, path: Path, ctx: Context) -> List[Tuple[Any, List[Choice]]]:
    combos: List[Tuple[list, List[Choice]]] = [([], [])]
    for i, item in enumerate(items):
        sub = expand_node(item, path + (i,), ctx, ctx.list_typed(path + (i,), None))
        combos = [(lst + [v], c + c2) for lst, c in combos for v, c2 in sub]
    return combos


# ----------------------------------------------------------------- random
def find_distributions(node: Any, path: Path = ()) -> List[Path]:
    if is_distribution(node):
        return [path]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in find_distributions(v, path + (k,))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in find_distributions(v, path + (i,))]
    return []


def sample_distribution(node: dict, rng: np.random.Generator) -> Any:
    kind, bounds = next(iter(node.items()))
    low, high = bounds
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return int(rng.integers(low, high + 1))


def _set(node: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def random_search(combos: List[Tuple[dict, List[Choice]]], samples: int, seed: int) -> List[Tuple[dict, List[Choice]]]:
    """`samples` combinations: without replacement when no distribution is used, else sampled."""
    rng = np.random.default_rng(seed)
    has_distributions = any(find_distributions(c) for c, _ in combos)
    if not has_distributions:
        if samples >= len(combos):
            return combos
        picks = sorted(rng.choice(len(combos), size=samples, replace=False).tolist())
        return [combos[i] for i in picks]
    out = []
    for _ in range(samples):
        config, choices = combos[int(rng.integers(len(combos)))]
        config = copy.deepcopy(config)
        choices = list(choices)
        for path in find_distributions(config):
            node = config
            for part in path:
                node = node[part]
            value = sample_distribution(node, rng)
            _set(config, path, value)
            choices.append((path, value))
        out.append((config, choices))
    return out


# ------------------------------------------------------------ identities
def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def run_hash(config: Dict[str, Any]) -> str:
    """sha256 of the resolved run config without its presentation keys."""
    payload = {k: v for k, v in config.items() if k not in IDENTITY_EXCLUDED}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _label(path: Path) -> str:
    names = [p for p in path if isinstance(p, str)]
    if not names:
        return "value"
    if names[-1] == "name" and len(names) > 1:
        return names[-2]
    return names[-1]


def _display(value: Any) -> str:
    if isinstance(value, dict) and "name" in value:
        return str(value["name"])
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return canonical_json(value)
    return str(value)


def sanitize(text: str) -> str:
    """Characters outside `[A-Za-z0-9._=+-]` become `-` (no path separator survives)."""
    text = re.sub(r"[^A-Za-z0-9._=+-]+", "-", text)
    return re.sub(r"-{2,}", "-", text).strip("-")


def run_name(choices: Sequence[Choice], digest: str, max_length: int = 96) -> str:
    """`label=value_..._<hash8>`; only the dimensions that vary in the experiment are named."""
    seen = {}
    for path, value in choices:
        seen[_label(path)] = _display(value)
    slug = "_".join(f"{k}={v}" for k, v in seen.items())
    slug = sanitize(slug)[:max_length].rstrip("_-=")
    return f"{slug}-{digest[:8]}" if slug else f"run-{digest[:8]}"


def varying_choices(runs_choices: List[List[Choice]]) -> List[List[Choice]]:
    """Drop the choices whose value is the same in every run (a one-value dimension)."""
    values: Dict[str, set] = {}
    for choices in runs_choices:
        for path, value in choices:
            values.setdefault(path_str(path), set()).add(canonical_json(value))
    varying = {k for k, v in values.items() if len(v) > 1}
    return [[(p, v) for p, v in choices if path_str(p) in varying] for choices in runs_choices]
