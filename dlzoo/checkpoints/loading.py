"""Hugging Face checkpoint directory -> zoo config, and its tensors -> a built model's weights.

`zoo_config(path)` reads `config.json` and the shard headers (names, dtypes,
shapes; no tensor) and gives the zoo config of the family the converter
names: `dlzoo.build`, `count_params` and `describe` use it like a named model.
`load_weights(model, path)` then checks the whole mapping before reading
anything (every weight of the model assigned exactly once, every checkpoint
tensor used or deliberately ignored, every shape right) and reads the tensors
one at a time, each cast to its weight's dtype and assigned.
"""

import os
import re
import warnings
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from dlzoo.checkpoints.converter import Converter, TensorRule, converter_named
from dlzoo.checkpoints.files import CheckpointError, CheckpointFiles, is_checkpoint_config, read_config
from dlzoo.registry import CONVERTERS

CHECKPOINT_KEY = "checkpoint"  # the zoo config's metadata entry naming the source
# Special-token ids of config.json: kept in the metadata, written back by `save_pretrained`.
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id")


def is_checkpoint_dir(source) -> bool:
    """Whether `source` is a directory with a Hugging Face `config.json` (`model_type`, no dlzoo `model` key)."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = Path(source).expanduser()
    if not (path / "config.json").is_file():
        return False
    try:
        return is_checkpoint_config(read_config(path))
    except (ValueError, OSError):
        return False


def converter_of(config: Dict[str, Any], path) -> Converter:
    model_type = config.get("model_type")
    try:
        return converter_named(model_type)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{os.path.join(os.fspath(path), 'config.json')}: {exc}") from None


def _model_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.resolve().name) or "checkpoint"
    return name


def zoo_config(path) -> Dict[str, Any]:
    """The zoo config of a checkpoint directory (config.json and shard headers only).

    Raises:
        FileNotFoundError: no `config.json`, no weights, or a missing shard.
        ValueError: an unknown `model_type` (the error lists the supported
            ones), a config field dlzoo cannot represent, a truncated shard.
    """
    path = Path(path).expanduser()
    config = read_config(path)
    if not is_checkpoint_config(config):
        raise ValueError(
            f"{str(path / 'config.json')!r} is not a Hugging Face config: it needs `model_type`. "
            f"Received keys: {sorted(config)[:12]}."
        )
    converter = converter_of(config, path)
    files = CheckpointFiles(path)
    names = list(converter.strip_prefix(files.tensors))
    try:
        params = converter.params(config, names)
    except ValueError as exc:
        raise ValueError(f"{str(path / 'config.json')!r}: {exc}") from None
    return {
        "name": _model_name(path),
        "model": converter.family,
        "description": f"Hugging Face {converter.model_type} checkpoint {str(path.resolve())}",
        "reference": CONVERTERS.get(converter.model_type).paper,
        "metadata": {CHECKPOINT_KEY: {"model_type": converter.model_type, "path": str(path.resolve()),
                                      "token_ids": {k: config.get(k) for k in TOKEN_ID_FIELDS}}},
        "params": params,
    }


# ------------------------------------------------------------------ plan
def plan_loading(model, path) -> Dict[str, Any]:
    """Check the whole mapping of a checkpoint onto a built model, reading no tensor.

    Returns:
        dict: `files` (`CheckpointFiles`), `rules` (`TensorRule` list, names
        as in the checkpoint), `ignored` (`{name: reason}`), `unassigned`
        (weights of extension-added blocks, left as initialized).

    Raises:
        ValueError: naming every tensor or weight that does not fit.
    """
    path = Path(path).expanduser()
    config = read_config(path)
    converter = converter_of(config, path)
    zoo = model.zoo_config
    params = zoo["params"]
    files = CheckpointFiles(path)
    full_names = converter.strip_prefix(files.tensors)
    rules = converter.rules(params)
    variables = {v.path: v for v in model.weights}
    has_extensions = bool(zoo.get("extensions"))
    where = f"checkpoint {str(path)!r}"

    problems: List[str] = []
    targets: Dict[str, str] = {}
    for rule in rules:
        for weight in rule.weights:
            if weight in targets:
                problems.append(f"weight {weight!r} is assigned twice ({targets[weight]!r}, {rule.checkpoint[0]!r})")
            targets[weight] = rule.checkpoint[0]
            if weight not in variables:
                problems.append(f"the model has no weight {weight!r} (for tensor {rule.checkpoint[0]!r})")
    unassigned = [p for p in variables if p not in targets]
    if unassigned and not has_extensions:
        problems.append(f"model weights with no checkpoint tensor: {unassigned[:8]}"
                        + (f" (+{len(unassigned) - 8} more)" if len(unassigned) > 8 else ""))

    used = set()
    resolved_rules, missing = [], []
    for rule in rules:
        names = []
        for short in rule.checkpoint:
            if short not in full_names:
                missing.append(f"{short!r} (for weight {rule.weights[0]!r})")
                continue
            names.append(full_names[short])
            used.add(short)
        if len(names) == len(rule.checkpoint):
            resolved_rules.append(TensorRule(tuple(names), rule.weights, rule.transform, rule.to_weights,
                                             rule.to_checkpoint))
    ignored, unused = {}, []
    for short, name in full_names.items():
        if short in used:
            continue
        reason = converter.is_ignored(short, params)
        if reason is None and has_extensions and short in converter.head_tensors:
            reason = "the model's head was replaced by an extension"
        if reason is None:
            unused.append(name)
        else:
            ignored[name] = reason
    if missing:
        problems.append("tensors missing from the checkpoint: " + ", ".join(missing[:8])
                        + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else ""))
    if unused:
        problems.append(f"checkpoint tensors that no weight of the {zoo['model']} model takes: {unused[:8]}"
                        + (f" (+{len(unused) - 8} more)" if len(unused) > 8 else ""))
    if not problems:
        problems += _shape_problems(resolved_rules, files, variables)
    if problems:
        raise CheckpointError(
            f"The {where} does not fit the {zoo['model']} model built from it (params={_short(params)}): "
            + "; ".join(problems) + "."
        )
    if unassigned:
        warnings.warn(f"Weights added by extensions keep their initial values (not in the {where}): {unassigned}.",
                      stacklevel=3)
    return {"files": files, "rules": resolved_rules, "ignored": ignored, "unassigned": unassigned}


def _short(params):
    text = repr({k: v for k, v in params.items() if not isinstance(v, dict)})
    return text if len(text) < 300 else text[:297] + "..."


def _shape_problems(rules, files: CheckpointFiles, variables) -> List[str]:
    """Each rule's checkpoint shapes against those its weights' shapes imply (zero-size stand-ins, no data)."""
    problems = []
    for rule in rules:
        stand_ins = [_stand_in(tuple(variables[w].shape)) for w in rule.weights]
        expected = [tuple(a.shape) for a in rule.to_checkpoint(stand_ins)]
        for name, shape in zip(rule.checkpoint, expected):
            info = files.tensors[name]
            if info.shape != shape:
                weights = ", ".join(f"{w} {tuple(variables[w].shape)}" for w in rule.weights)
                problems.append(
                    f"tensor {name!r} in {os.path.basename(info.file)!r} has shape {info.shape}, the model needs "
                    f"{shape} (for {weights}; {rule.transform})"
                )
            elif not info.dtype.startswith(("F", "BF")):
                problems.append(f"tensor {name!r} in {os.path.basename(info.file)!r} is {info.dtype}, not a float")
    return problems


def _stand_in(shape):
    """An array of `shape` that holds no memory (every stride 0): transposes and reshapes stay views."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, "float32"), shape=shape, strides=(0,) * len(shape))


# ------------------------------------------------------------------ load
def load_weights(model, path) -> Dict[str, Any]:
    """Assign a checkpoint's tensors to a model built from it (`dlzoo.build(path)` does this).

    The mapping is checked first (`plan_loading`); then tensors are read one
    at a time, shard by shard, transformed, cast to the weight's dtype
    (float16/bfloat16 tensors to float32 weights, or kept bfloat16 for
    bfloat16 weights) and assigned.

    Returns:
        dict: `loaded` (number of tensors read), `ignored` (`{name: reason}`),
        `unassigned` (weights left as initialized), `rules` (the tensor
        rules applied, each naming the `weights` it assigned), `size_on_disk`
        (bytes).
    """
    plan = plan_loading(model, path)
    files: CheckpointFiles = plan["files"]
    variables = {v.path: v for v in model.weights}
    pending: Dict[int, Dict[str, np.ndarray]] = {}
    rule_of = {name: index for index, rule in enumerate(plan["rules"]) for name in rule.checkpoint}
    loaded = 0
    for file in files.files:
        for name in [n for n, info in files.tensors.items() if info.file == file and n in rule_of]:
            index = rule_of[name]
            rule = plan["rules"][index]
            arrays = pending.setdefault(index, {})
            arrays[name] = files.read(name)
            loaded += 1
            if len(arrays) == len(rule.checkpoint):
                values = rule.to_weights([arrays[n] for n in rule.checkpoint])
                del pending[index], arrays
                for weight, value in zip(rule.weights, values):
                    _assign(variables[weight], value)
                del values
    return {"loaded": loaded, "ignored": plan["ignored"], "unassigned": plan["unassigned"],
            "rules": plan["rules"], "size_on_disk": files.size_on_disk}


def _assign(variable, value: np.ndarray) -> None:
    dtype = np.dtype(variable.dtype)
    if value.dtype != dtype:
        value = value.astype(dtype)
    variable.assign(value)  # each backend makes its own (contiguous) copy


__all__ = ["is_checkpoint_dir", "load_weights", "plan_loading", "zoo_config"]
