"""`ZooModel`, the functional Keras model `dlzoo.build` returns, and `build_resolved`, which makes one.

A resolved config (`dlzoo.resolution.resolve`) gives a plan; its blocks are
made once (their own checks run, nothing allocated), counted, and wired
into a functional graph; each extension's model transform then runs; the
result is a `ZooModel` whose `get_config()` is the resolved config.
"""

import json
import os
import warnings

import keras

import dlzoo
from dlzoo import checkpoints, configs, memory_guard
from dlzoo.compat.keras_internals import one_garbage_collection
from dlzoo.construction import count_plan, make_layers, wire
from dlzoo.extensions import make_extension
from dlzoo.resolution import plan_of, resolve
from dlzoo.registry import MODELS


@keras.saving.register_keras_serializable(package="dlzoo", name="ZooModel")
class ZooModel(keras.Model):
    """A functional `keras.Model` that remembers the zoo config it was built from.

    Returned by `dlzoo.build`. It behaves as any functional model (call,
    `fit`, `summary`, `save`), and adds:

    * `zoo_name` and `zoo_config`: the name and the **resolved** config
      (every parameter filled in, extensions listed, `resolved: true`);
    * `get_config()` returns that plain dict, itself a valid input to
      `dlzoo.build`; `from_config` rebuilds through the builder (re-applying
      extensions), so `.keras` files load with `dlzoo.load(path)` or
      `keras.saving.load_model(path)` on any backend;
    * `save_to_preset(directory)`: `config.json` + `model.weights.h5` (+
      `metadata.json`), loaded back by `dlzoo.build(directory)`;
    * `save_pretrained(directory)`: a Hugging Face checkpoint (see
      `dlzoo.checkpoints`);
    * `quantize(mode)`: Keras' weight quantization, recorded in the zoo
      config (`metadata.quantization`) so that the model is rebuilt
      quantized from `.keras` files and presets;
    * `generate(prompt_ids, ...)`: text generation for the decoder LMs
      (`dlzoo.generate`);
    * `compile_forward(...)`: the fast inference path (`dlzoo.compile_forward`).

    Args:
        inputs: The functional inputs (a dict of `keras.Input`).
        outputs: The functional outputs (a tensor or a dict of tensors).
        zoo_config: dict. The resolved zoo config.
        feature_info: list of dict. Facts about feature outputs (see `feature_info`).
        **kwargs: Other `keras.Model` arguments (`name`, `trainable`).

    Example:

    >>> model = dlzoo.build("gpt-tiny")
    >>> model.zoo_name
    'gpt-tiny'
    """

    def __init__(self, inputs, outputs, zoo_config, feature_info=None, **kwargs):
        if not isinstance(zoo_config, dict):
            raise TypeError(f"`zoo_config` must be a dict. Received: zoo_config={zoo_config!r}.")
        kwargs.setdefault("name", str(zoo_config.get("name") or zoo_config.get("model") or "zoo_model"))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # Stored as JSON text: immune to Keras attribute tracking and to callers mutating it.
        self._zoo_config_json = json.dumps(zoo_config, sort_keys=False)
        self._feature_info_json = json.dumps(feature_info or [])

    @property
    def zoo_config(self):
        """The resolved zoo config (a fresh copy)."""
        return json.loads(self._zoo_config_json)

    @property
    def zoo_name(self):
        return self.zoo_config.get("name")

    def get_config(self):
        return self.zoo_config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return build_resolved(resolve(dict(config)))

    @property
    def feature_info(self):
        """Facts about each feature output (`features_only`): `[{"name", "channels", "stride", ...}]`."""
        return json.loads(self._feature_info_json)

    def save_to_preset(self, directory):
        """Write `config.json`, `model.weights.h5` and `metadata.json` to `directory`.

        `dlzoo.build(directory)` (or `dlzoo.load(directory)`) rebuilds the
        model from the config and loads the weights.
        """
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, configs.PRESET_CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(self.get_config(), f, indent=2)
            f.write("\n")
        self.save_weights(os.path.join(directory, configs.PRESET_WEIGHTS_FILE))
        metadata = {
            "dlzoo_version": dlzoo.__version__,
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "parameter_count": int(self.count_params()),
        }
        with open(os.path.join(directory, "metadata.json"), "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2)
            f.write("\n")
        return directory

    def save_pretrained(self, directory, max_shard_size="5GB", model_type=None, overwrite=False):
        """Write a Hugging Face checkpoint (`config.json` + safetensors) that `transformers` loads.

        See `dlzoo.checkpoints.save_pretrained` (the families with a
        converter: `gpt`, `bert`, `llama`); `dlzoo.build(directory)` loads it
        back.
        """
        return checkpoints.save_pretrained(self, directory, max_shard_size=max_shard_size, model_type=model_type,
                                           overwrite=overwrite)

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Keras' `Model.quantize` (e.g. `"int8"`: weight-only int8 of every `Dense`/`EinsumDense`/`Embedding`).

        A whole-model quantization (no `filters`) is recorded by its mode in
        `zoo_config["metadata"]["quantization"]`; building that config (which
        `.keras` loading and presets do) quantizes again with the mode's
        default config before the weights are read, so quantized files
        round-trip. Layers without a quantized form (norms, dlzoo's own
        embeddings) stay as they are, silently.
        """
        with warnings.catch_warnings(), one_garbage_collection():
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method.*")
            super().quantize(mode, config=config, filters=filters, **kwargs)
        mode = mode or getattr(config, "mode", None)
        if filters is None and mode is not None:
            zoo_config = self.zoo_config
            zoo_config["metadata"] = dict(zoo_config.get("metadata") or {}, quantization=mode)
            self._zoo_config_json = json.dumps(zoo_config, sort_keys=False)

    def generate(self, prompt_ids, **kwargs):
        """Continue token-id prompts with this decoder LM (`gpt`, `llama`): `dlzoo.generate(self, prompt_ids, ...)`.

        See `dlzoo.generation.generate` for the arguments (padding mask,
        `max_new_tokens`, sampling, stop tokens) and guides/generation.md.
        """
        from dlzoo.generation import generate

        return generate(self, prompt_ids, **kwargs)

    def compile_forward(self, **kwargs):
        """This model's fast inference path: `dlzoo.compile_forward(self, **kwargs)` (see guides/performance.md)."""
        from dlzoo.inference import compile_forward

        return compile_forward(self, **kwargs)


# ---------------------------------------------------------------- building
def _graph_of(result, model: str):
    """`(inputs, outputs)` of what an older-form assembler or a model transform returned."""
    if isinstance(result, tuple) and len(result) == 2:
        return result
    if isinstance(result, keras.Model):
        try:
            return result.input, result.output
        except (AttributeError, ValueError):
            pass
    raise TypeError(
        f"{model} must return `(inputs, outputs)` or a functional keras.Model. Received: {type(result).__name__}."
    )


def _feature_info(plan):
    if not isinstance(plan.outputs, dict):
        return []
    found = []
    for name in plan.outputs:
        feature = plan.features.get(name)
        info = {k: v for k, v in (feature.info if feature else {}).items() if k not in ("hidden_state_of", "layer", "level")}
        found.append(dict(name=name, **info))
    return found


def build_resolved(config, check_memory: bool = True) -> ZooModel:
    """Build a resolved config: make its plan's blocks, wire them, apply the extensions' model transforms.

    Args:
        config: dict. A config returned by `dlzoo.resolution.resolve`.
        check_memory: bool. Refuse (`MemoryError`) before allocating when the
            weights cannot fit in the available memory (`dlzoo.memory_guard`).
    """
    plan = plan_of(config)
    if plan is None:  # an assembler of the older form builds its own graph
        result = MODELS.get(config["model"]).obj(**json.loads(json.dumps(config["params"])))
        inputs, outputs = _graph_of(result, f"Assembler {config['model']!r}")
        feature_info = []
    else:
        layers = make_layers(plan)
        counts = count_plan(plan, layers)  # shape-dependent checks of every block, before any weight exists
        memory_guard.check_fits(config["name"], sum(counts.values()), keras.config.dtype_policy().name, check_memory)
        inputs, outputs = wire(plan, layers)
        feature_info = _feature_info(plan)
    for name, kwargs in configs.normalize_extensions(config.get("extensions")):
        extension = make_extension(name, kwargs)
        if extension.changes_model:
            current = keras.Model(inputs, outputs, name=f"{config['name']}_base")
            inputs, outputs = _graph_of(extension.apply_model(current), f"Extension {name!r}")
    model = ZooModel(inputs=inputs, outputs=outputs, zoo_config=config, feature_info=feature_info)
    quantization = (config.get("metadata") or {}).get("quantization")
    if quantization:
        model.quantize(quantization)  # a quantized model's config: rebuild it quantized (see ZooModel.quantize)
    return model


__all__ = ["ZooModel", "build_resolved"]
