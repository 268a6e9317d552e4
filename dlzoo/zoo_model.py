"""`ZooModel`: the functional Keras model `dlzoo.build` returns, serialized by its zoo config."""

import json
import os

import keras

from dlzoo import configs


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
      `metadata.json`), loaded back by `dlzoo.build(directory)`.

    Args:
        inputs: The functional inputs (a dict of `keras.Input`).
        outputs: The functional outputs (a tensor or a dict of tensors).
        zoo_config: dict. The resolved zoo config.
        **kwargs: Other `keras.Model` arguments (`name`, `trainable`).

    Example:

    >>> model = dlzoo.build("gpt-tiny")
    >>> model.zoo_name
    'gpt-tiny'
    """

    def __init__(self, inputs, outputs, zoo_config, **kwargs):
        if not isinstance(zoo_config, dict):
            raise TypeError(f"`zoo_config` must be a dict. Received: zoo_config={zoo_config!r}.")
        kwargs.setdefault("name", str(zoo_config.get("name") or zoo_config.get("model") or "zoo_model"))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # Stored as JSON text: immune to Keras attribute tracking and to callers mutating it.
        self._zoo_config_json = json.dumps(zoo_config, sort_keys=False)

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
        from dlzoo.builder import build

        return build(dict(config))

    def save_to_preset(self, directory):
        """Write `config.json`, `model.weights.h5` and `metadata.json` to `directory`.

        `dlzoo.build(directory)` (or `dlzoo.load(directory)`) rebuilds the
        model from the config and loads the weights.
        """
        import dlzoo

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
