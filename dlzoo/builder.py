"""Build and load named models: `dlzoo.build`, `dlzoo.load`, `dlzoo.apply_extension`.

`build` resolves a config (`dlzoo.resolution`: YAML, `base:` chain,
extensions, overrides; every name and type checked), asks the family for
its plan, makes each block once (every block's own checks run before
anything is allocated) and wires them (`dlzoo.zoo_model.build_resolved`).
Counting, memory estimates, descriptions and diffs live in
`dlzoo.inspection`; listing in `dlzoo.catalog`.
"""

import os

import keras

import dlzoo.lcm.losses  # noqa: F401  (a saved, compiled LCM names its loss: registered before loading)
from dlzoo import checkpoints, configs
from dlzoo.checkpoints import placeholder_weights
from dlzoo.compat import legacy_files
from dlzoo.extensions import check_conflicts, make_extension, transfer_weights
from dlzoo.extensions.lora import lora_layers
from dlzoo.resolution import resolve
from dlzoo.zoo_model import ZooModel, _graph_of, build_resolved


def build(source, extensions=None, check_memory=True, **params) -> ZooModel:
    """Build a named model: `dlzoo.build("gpt-tiny", num_layers=4)`.

    Args:
        source: a zoo model name (`dlzoo.list_models()`), a path to a
            `.yaml`/`.json` config, a preset directory (`save_to_preset`;
            its weights are loaded), a Hugging Face checkpoint directory
            (`config.json` + safetensors; its weights are loaded, see
            `dlzoo.checkpoints`), a config dict (e.g. a
            `model.get_config()`), or a registered family name (its
            defaults).
        extensions: list of extension names or `{"name": ..., **kwargs}`
            mappings, applied after those of the config.
        check_memory: bool. Refuse, before allocating anything, a model whose
            weights cannot fit in the available memory (a `MemoryError`
            stating the estimate and the memory available). Defaults to `True`;
            `DLZOO_SKIP_MEMORY_CHECK=1` also switches it off.
        **params: parameter overrides. Nested parameters by dotted name
            (`**{"attention.num_key_value_heads": 2}`), double underscore
            (`attention__num_key_value_heads=2`) or a partial dict
            (`attention={"num_key_value_heads": 2}`).

    Returns:
        A `ZooModel` (functional `keras.Model`).

    Raises:
        ValueError: unknown model, parameter or extension (with the closest
            names), a value out of range, or an invalid combination.
        TypeError: a parameter of the wrong type.
        MemoryError: the weights would not fit in the available memory.
    """
    config = resolve(source, extensions=extensions, **params)
    if checkpoints.is_checkpoint_dir(source):
        return _build_from_checkpoint(config, source, check_memory)
    model = build_resolved(config, check_memory=check_memory)
    if isinstance(source, (str, os.PathLike)) and configs.is_preset_dir(source):
        weights = os.path.join(os.fspath(source), configs.PRESET_WEIGHTS_FILE)
        if os.path.exists(weights):
            _load_preset_weights(model, weights, source, params, extensions)
    return model


def _build_from_checkpoint(config, path, check_memory) -> ZooModel:
    """The model of a Hugging Face checkpoint, its weights created as zeros and then filled from the files."""
    initializers = {}
    with placeholder_weights.zero_initialized_variables(initializers):
        model = build_resolved(config, check_memory=check_memory)
    report = checkpoints.load_weights(model, path)
    loaded = {weight for rule in report["rules"] for weight in rule.weights}
    report["initialized"] = placeholder_weights.initialize_unloaded(initializers, loaded)
    model.checkpoint_report = report
    return model


def _load_preset_weights(model, weights, source, params, extensions):
    try:
        if legacy_files.is_legacy_config(configs.load_file(os.path.join(os.fspath(source), configs.PRESET_CONFIG_FILE))):
            legacy_files.load_legacy_weights(model, weights)
        else:
            model.load_weights(weights)
    except ValueError as exc:
        raise ValueError(
            f"The weights in {weights!r} do not fit the model built with params={params!r}, "
            f"extensions={extensions!r}: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from None


def from_pretrained(path, dtype=None, extensions=None, check_memory=True, **params) -> ZooModel:
    """`dlzoo.build(path)` for a Hugging Face checkpoint directory, with a dtype for its weights.

    `dlzoo.build(path)` is the primary entry point; this adds `dtype`: the
    model is built under that Keras dtype policy (`"bfloat16"` keeps
    bfloat16 checkpoint tensors as they are; `"float32"` casts float16 and
    bfloat16 tensors up), which stays the model's policy.

    Args:
        path: a Hugging Face checkpoint directory (or any `dlzoo.build` source).
        dtype: str or None. A Keras dtype policy (`"float32"`, `"bfloat16"`,
            `"mixed_bfloat16"`, ...). Defaults to `None`: the global policy.
        extensions: extensions to apply (their new weights keep their
            initial values; a warning names them).
        check_memory: bool. See `dlzoo.build`.
        **params: parameter overrides that keep the weights' shapes
            (`dropout`, `use_position_ids`, ...).
    """
    if dtype is None:
        return build(path, extensions=extensions, check_memory=check_memory, **params)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        return build(path, extensions=extensions, check_memory=check_memory, **params)
    finally:
        keras.config.set_dtype_policy(previous)


def load(path) -> keras.Model:
    """Load a model saved by `model.save("x.keras")` (safe mode) or `model.save_to_preset(dir)`.

    Files written by dlzoo 0.1 are converted on the way in (`dlzoo.compat.legacy_files`).
    """
    path = os.fspath(path)
    if configs.is_preset_dir(path):
        return build(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No saved model at {path!r}.")
    if path.endswith(".keras") and legacy_files.is_legacy_keras_file(path):
        return legacy_files.load_legacy_keras_file(path)
    return keras.saving.load_model(path, safe_mode=True)


def apply_extension(model: keras.Model, name: str, **kwargs) -> keras.Model:
    """Apply a registered extension to a built model.

    For a `ZooModel`, the extension is checked against the model's own
    extensions (conflicts raise) and the model is rebuilt with it (its
    config, plan and model transforms); every weight whose path and shape
    still fit is copied over, and the report (`kept`, `reinitialized`,
    `dropped` weight paths) is in `new_model.extension_report`. The result
    is a `ZooModel` whose config lists the extension, so it saves and loads
    like any other. An extension with only a model transform changes the
    model's layers in place (LoRA adapters, frozen weights) and reports
    `None`.

    Args:
        model: a `ZooModel` (or any functional `keras.Model`: then only the
            model transform applies and a plain `keras.Model` is returned).
        name: str. Registered extension name (`dlzoo.list_extensions()`).
        **kwargs: the extension's arguments.
    """
    extension = make_extension(name, kwargs)
    if not isinstance(model, ZooModel):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model. Received: model={type(model).__name__}.")
        if extension.changes_config or extension.changes_plan:
            raise ValueError(
                f"Extension {name!r} transforms the zoo config or plan; apply it to a model built by dlzoo.build. "
                f"Received: model of type {type(model).__name__}."
            )
        inputs, outputs = _graph_of(extension.apply_model(model), f"Extension {name!r}")
        return keras.Model(inputs, outputs, name=model.name)

    config = model.zoo_config
    existing = [n for n, _ in configs.normalize_extensions(config.get("extensions"))]
    check_conflicts(existing + [name])
    new_config = resolve(config, extensions=[configs.extension_entry(name, kwargs)])
    if extension.changes_config or extension.changes_plan:
        result = build_resolved(new_config)
        report = _transfer_unmerged(model, result)
    else:
        inputs, outputs = _graph_of(extension.apply_model(model), f"Extension {name!r}")
        result = ZooModel(inputs=inputs, outputs=outputs, zoo_config=new_config, feature_info=model.feature_info)
        report = None
    result.extension_report = report
    return result


def _transfer_unmerged(source, target):
    """`transfer_weights`, with merged LoRA updates taken out for the copy and merged again in both models."""
    merged = [path for path, layer in lora_layers(source).items() if layer.lora_merged]
    for path in merged:
        lora_layers(source)[path].unmerge()
    try:
        report = transfer_weights(source, target)
    finally:
        for model in (source, target):
            found = lora_layers(model)
            for path in merged:
                if path in found:
                    found[path].merge()
    return report


__all__ = ["apply_extension", "build", "build_resolved", "from_pretrained", "load", "resolve"]
