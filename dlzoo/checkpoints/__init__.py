"""Hugging Face checkpoints in and out: `dlzoo.build(directory)` and `model.save_pretrained(directory)`.

A checkpoint directory (`config.json` + `model.safetensors`, or shards with
`model.safetensors.index.json`) is a source like a zoo name: `dlzoo.build`,
`dlzoo.count_params` and `dlzoo.describe` accept it (the last two read only
`config.json` and the shard headers). One converter per Hugging Face
`model_type` (`gpt2.py`, `bert.py`, `llama.py`, `vit.py`, `resnet.py`,
`convnext.py`, `efficientnet.py`), registered with
`dlzoo.register_converter`, maps the config to a dlzoo family's params and the
tensors to the model's weights, both ways. See `guides/checkpoints.md`.

Nothing here runs code from the checkpoint: no `trust_remote_code`, no pickle
(`*.bin` files are refused), and tensors are read with `safetensors` as NumPy
arrays (no PyTorch needed).
"""

import os

from dlzoo import configs
from dlzoo.checkpoints import bert, convnext, efficientnet, gpt2, llama, resnet, vit  # noqa: F401  (the converters)
from dlzoo.checkpoints.converter import Converter, TensorRule, converter_named, converters_of_family
from dlzoo.checkpoints.files import CheckpointError, CheckpointFiles, read_config
from dlzoo.checkpoints.loading import is_checkpoint_dir, load_weights, plan_loading, zoo_config
from dlzoo.checkpoints.writing import converter_for_model, save_pretrained
from dlzoo.registry import CONVERTERS


def zoo_config_of(source):
    """`[zoo config]` of a Hugging Face checkpoint directory, or `None` for any other source.

    A Hugging Face checkpoint directory gives its zoo config; a directory
    without `config.json` (and which is not also a zoo name) a
    `FileNotFoundError` naming the file.
    """
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = os.path.expanduser(os.fspath(source))
    if not os.path.isdir(path):
        return None
    if is_checkpoint_dir(path):
        return [zoo_config(path)]
    if configs.is_preset_dir(path) or os.fspath(source) in configs.config_index():
        return None
    read_config(path)  # raises FileNotFoundError naming config.json
    return None


def supported_architectures():
    """One row per registered converter: `model_type`, `family`, `architectures`, `reference`, `summary`."""
    rows = []
    for entry in CONVERTERS.entries():
        converter = entry.obj()
        rows.append({
            "model_type": entry.name,
            "family": entry.metadata["family"],
            "architectures": [a for a in (converter.architectures.get(True), converter.architectures.get(False)) if a],
            "reference": entry.paper,
            "summary": (entry.obj.__doc__ or "").strip().splitlines()[0],
        })
    return rows


def architecture_table() -> str:
    """The supported architectures as a Markdown table (the one in `guides/checkpoints.md`)."""
    lines = ["| `model_type` | dlzoo family | Hugging Face classes | notes |", "|---|---|---|---|"]
    for row in supported_architectures():
        classes = ", ".join(f"`{a}`" for a in row["architectures"])
        lines.append(f"| [`{row['model_type']}`]({row['reference']}) | `{row['family']}` | {classes} | {row['summary']} |")
    return "\n".join(lines)


__all__ = [
    "CheckpointError",
    "CheckpointFiles",
    "Converter",
    "TensorRule",
    "architecture_table",
    "converter_for_model",
    "converter_named",
    "converters_of_family",
    "is_checkpoint_dir",
    "load_weights",
    "plan_loading",
    "read_config",
    "save_pretrained",
    "supported_architectures",
    "zoo_config",
    "zoo_config_of",
]
