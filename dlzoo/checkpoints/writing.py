"""A dlzoo model -> a Hugging Face checkpoint directory (`config.json` + safetensors).

The converter is the one the model was loaded with (its zoo config's
`metadata.checkpoint.model_type`), or the first registered for the model's
family whose format can hold the model's params. The directory is written
under a temporary name and renamed at the end: a failed write leaves nothing.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import keras
import numpy as np

from dlzoo.checkpoints.converter import Converter, converter_named, converters_of_family
from dlzoo.checkpoints.files import CONFIG_FILE, DEFAULT_MAX_SHARD_SIZE, write_shards
from dlzoo.checkpoints.loading import CHECKPOINT_KEY, TOKEN_ID_FIELDS


def converter_for_model(zoo_config: Dict[str, Any], model_type: Optional[str] = None) -> Converter:
    """The converter that writes a model: `model_type` if given, else its source's, else the first that fits."""
    family, params = zoo_config["model"], zoo_config["params"]
    source = ((zoo_config.get("metadata") or {}).get(CHECKPOINT_KEY) or {}).get("model_type")
    if model_type is not None:
        candidates = [converter_named(model_type)]
        if candidates[0].family != family:
            raise ValueError(
                f"A {model_type!r} checkpoint holds a {candidates[0].family!r} model, not a {family!r} one. "
                f"Received: model_type={model_type!r} for model {zoo_config.get('name')!r}."
            )
    else:
        candidates = converters_of_family(family)
        if source is not None:
            candidates.sort(key=lambda c: c.model_type != source)
    if not candidates:
        from dlzoo.registry import CONVERTERS

        raise ValueError(
            f"No checkpoint converter writes the {family!r} family. Received: model {zoo_config.get('name')!r}. "
            f"Converters exist for: {sorted({e.metadata['family'] for e in CONVERTERS.entries()})}."
        )
    reasons = {}
    for converter in candidates:
        problems = converter.unsupported(params)
        if not problems:
            return converter
        reasons[converter.model_type] = problems
    detail = "; ".join(f"{name}: {', '.join(problems)}" for name, problems in reasons.items())
    raise ValueError(f"Model {zoo_config.get('name')!r} cannot be written as a Hugging Face checkpoint: {detail}.")


def checkpoint_tensors(model, converter: Converter) -> Iterator[Tuple[str, np.ndarray]]:
    """`(checkpoint name, array)` of every tensor, made from the model's weights one rule at a time."""
    params = model.zoo_config["params"]
    task_model = converter.has_task_head(params)
    variables = {v.path: v for v in model.weights}
    rules = converter.rules(params)
    covered = {w for rule in rules for w in rule.weights}
    missing = [w for w in rules_targets(rules) if w not in variables]
    extra = [p for p in variables if p not in covered]
    if missing or extra:
        raise ValueError(
            f"Model {model.zoo_name!r} does not match the {converter.model_type} layout: "
            + (f"weights the layout needs but the model lacks: {missing[:8]}; " if missing else "")
            + (f"weights the layout has no place for: {extra[:8]}" if extra else "")
            + "."
        )
    for rule in rules:
        arrays = [_numpy(variables[w]) for w in rule.weights]
        for name, array in zip(rule.checkpoint, rule.to_checkpoint(arrays)):
            yield converter.full_name(name, task_model), array


def rules_targets(rules):
    return [w for rule in rules for w in rule.weights]


def _numpy(variable) -> np.ndarray:
    """A weight's value in its own dtype (bfloat16 stays bfloat16)."""
    array = keras.ops.convert_to_numpy(variable.value)
    dtype = np.dtype(variable.dtype)
    return array if array.dtype == dtype else array.astype(dtype)


def save_pretrained(model, directory, max_shard_size=DEFAULT_MAX_SHARD_SIZE, model_type: Optional[str] = None,
                    overwrite: bool = False) -> str:
    """Write `model` as a Hugging Face checkpoint that `transformers` loads with `from_pretrained`.

    Args:
        model: a `ZooModel` of a family some converter writes (`gpt`, `bert`,
            `llama`), without extensions.
        directory: path. Created; it must not exist or be empty unless
            `overwrite=True`.
        max_shard_size: int or str (`"5GB"`). Largest shard; a larger model is
            written as `model-0000i-of-0000n.safetensors` shards with
            `model.safetensors.index.json`. Defaults to 5 GB.
        model_type: str. The Hugging Face `model_type` to write (for the
            `llama` family: `llama`, `mistral`, `qwen2` or `qwen3`). Defaults
            to `None`: the one the model was loaded from, else the first
            whose format fits the model's params.
        overwrite: bool. Replace a non-empty `directory`. Defaults to `False`.

    Returns:
        str: the directory.
    """
    zoo = model.zoo_config
    if zoo.get("extensions"):
        raise ValueError(
            f"Model {zoo.get('name')!r} has extensions {zoo['extensions']}: only a family's own model can be "
            "written as a Hugging Face checkpoint."
        )
    converter = converter_for_model(zoo, model_type)
    target = Path(directory).expanduser().absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise FileExistsError(f"{str(target)!r} exists and is not an empty directory; pass overwrite=True to replace it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write_shards(staging, checkpoint_tensors(model, converter), max_shard_size)
        dtypes = {str(v.dtype) for v in model.weights}
        source = (zoo.get("metadata") or {}).get(CHECKPOINT_KEY) or {}
        config = dict(
            {"model_type": converter.model_type,
             "architectures": [converter.architectures[converter.has_task_head(zoo["params"])]]},
            **converter.checkpoint_config(zoo["params"]),
            # The loaded checkpoint's special tokens; none for a model dlzoo made (it knows no tokenizer).
            **{k: (source.get("token_ids") or {}).get(k) for k in TOKEN_ID_FIELDS},
            dtype=dtypes.pop() if len(dtypes) == 1 else "float32",
        )
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(target)


__all__ = ["checkpoint_tensors", "converter_for_model", "save_pretrained"]
