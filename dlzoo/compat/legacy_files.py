"""`.keras` files and presets written by dlzoo 0.1: build today's model, then map the old weights onto it.

The config is converted by `dlzoo.compat.legacy.migrate_params` (through
`resolve`). The weights file is read with h5py: today's model writes its own
weights file (`save_weights`) to learn every weight's path; each path is
mapped to its 0.1 path (`legacy_weight_path`), the old values are copied in,
and the file is loaded back with `load_weights`. A 0.1 LoRA adapter is
folded into its kernel (outputs are unchanged; the new adapter starts at
zero). Nothing is executed from the file: JSON and HDF5 only.
"""

import json
import os
import re
import tempfile
import zipfile

import h5py
import numpy as np

from dlzoo.compat.legacy import is_legacy, legacy_weight_path, merge_legacy_lora
from dlzoo.resolution import resolve
from dlzoo.zoo_model import build_resolved

_TOP_NORM = re.compile(r"^(layer_norm|rms_norm|batch_normalization)(_\d+)?$")


def is_legacy_config(config) -> bool:
    """Whether a saved zoo config (resolved or not) was written with dlzoo 0.1 names."""
    return isinstance(config, dict) and is_legacy(config.get("params") or {})


def _zoo_config_of(path):
    with zipfile.ZipFile(path) as archive:
        outer = json.loads(archive.read("config.json"))
    if outer.get("class_name") != "ZooModel":
        return None
    return outer.get("config")


def is_legacy_keras_file(path) -> bool:
    """Whether a `.keras` file holds a `ZooModel` written by dlzoo 0.1."""
    try:
        return is_legacy_config(_zoo_config_of(path))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        return False


def load_legacy_keras_file(path):
    """Today's `ZooModel` for a dlzoo 0.1 `.keras` file, with the file's weights."""
    model = build_resolved(resolve(_zoo_config_of(path)))
    with tempfile.TemporaryDirectory(prefix="dlzoo-legacy-") as tmp:
        with zipfile.ZipFile(path) as archive:
            archive.extract("model.weights.h5", tmp)
        load_legacy_weights(model, os.path.join(tmp, "model.weights.h5"))
    return model


def load_legacy_weights(model, weights_file) -> None:
    """Load a dlzoo 0.1 weights file (`.keras` content or preset) into today's `model`.

    Raises:
        ValueError: a weight of today's model has no value of the same shape
            in the file (naming both paths and shapes).
    """
    config = model.zoo_config
    with tempfile.TemporaryDirectory(prefix="dlzoo-legacy-") as tmp:
        converted = os.path.join(tmp, "converted.weights.h5")
        model.save_weights(converted)
        with h5py.File(weights_file, "r") as old, h5py.File(converted, "r+") as new:
            top_norms = sorted(k for k in old["layers"].keys() if _TOP_NORM.match(k)) if "layers" in old else []
            datasets = []
            new.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in datasets:
                _copy_one(old, new, name, config, top_norms)
        model.load_weights(converted)


def _lora_group(old, path):
    """For today's `<projection>/vars/<i>`, the 0.1 LoRA wrapper group at that projection, if any."""
    group = path.rsplit("/vars/", 1)[0]
    return group if group in old and f"{group}/layer" in old else None


def _copy_one(old, new, name, config, top_norms):
    source = legacy_weight_path(config["model"], config["params"], name, top_norms)
    if source is None:
        return  # not part of the 0.1 model: keeps its initial value
    key = name.rsplit("/", 1)[-1]
    wrapper = _lora_group(old, source)
    if wrapper is not None:
        if key in ("lora_a", "lora_b", "lora_stashed_b"):
            return  # a fresh adapter: the old update is folded into the kernel below
        value = old[f"{wrapper}/layer/vars/{key}"][()]
        merged_flag = f"{wrapper}/vars/merged"
        merged = merged_flag in old and bool(np.asarray(old[merged_flag][()]))
        if key == "0" and not merged:
            rank = old[f"{wrapper}/vars/0"].shape[-1]
            value = merge_legacy_lora(
                value, old[f"{wrapper}/vars/0"][()], old[f"{wrapper}/vars/1"][()], rank, _lora_alpha(config)
            )
    else:
        if source not in old:
            raise ValueError(
                f"The dlzoo 0.1 weights file has no value for {name!r} (looked for {source!r}); "
                "it does not match the model its config describes."
            )
        value = old[source][()]
    if tuple(np.shape(value)) != tuple(new[name].shape):
        raise ValueError(
            f"Weight {name!r} has shape {tuple(new[name].shape)} in the model but {tuple(np.shape(value))} "
            f"in the dlzoo 0.1 file (at {source!r})."
        )
    new[name][...] = value


def _lora_alpha(config):
    for entry in config.get("extensions") or []:
        if isinstance(entry, dict) and entry.get("name") == "lora":
            return entry.get("alpha")
    return None


__all__ = ["is_legacy_config", "is_legacy_keras_file", "load_legacy_keras_file", "load_legacy_weights"]
