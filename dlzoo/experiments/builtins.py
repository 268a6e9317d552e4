"""Built-in experiment components that are not datasets or transforms: dlzoo's own losses and metrics.

Keras built-ins need no registration (they are found by their Keras names,
see `dlzoo.experiments.components`). Registered here:

* loss `weighted_sum`: several losses on one output, each with a weight
  (what the runner builds when a composition file gives several losses
  for one output);
* metric `loss_component`: the value of one loss, logged as a metric, so
  every part of a multi-loss objective appears in the history.
"""

import keras

from dlzoo.registry import register_component


class _FunctionLoss(keras.losses.Loss):
    """A loss function as a `keras.losses.Loss` (Keras's reduction and sample weights)."""

    def __init__(self, fn, name=None):
        super().__init__(name=name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def as_loss_object(loss):
    """A Keras loss object for a loss object, a function or a Keras loss name."""
    if isinstance(loss, (str, dict)):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss
    return _FunctionLoss(loss)


def _call_loss(loss, y_true, y_pred, sample_weight=None):
    return as_loss_object(loss)(y_true, y_pred, sample_weight=sample_weight)


@register_component("loss", "weighted_sum")
@keras.saving.register_keras_serializable(package="dlzoo", name="WeightedSumLoss")
class WeightedSumLoss(keras.losses.Loss):
    """`sum_i weight_i * loss_i(y_true, y_pred)` over several losses of one output.

    Args:
        losses: list of Keras losses (objects or functions).
        weights: list of float. One weight per loss.
        name: str. Defaults to `"weighted_sum"`.
    """

    def __init__(self, losses, weights, name="weighted_sum", **kwargs):
        super().__init__(name=name, **kwargs)
        if len(losses) != len(weights):
            raise ValueError(f"`losses` and `weights` must have the same length. Received: {len(losses)} and {len(weights)}.")
        self.losses = [keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss for loss in losses]
        self.weights = [float(w) for w in weights]

    def __call__(self, y_true, y_pred, sample_weight=None):
        total = 0.0
        for loss, weight in zip(self.losses, self.weights):
            total = total + weight * keras.ops.cast(_call_loss(loss, y_true, y_pred, sample_weight), "float32")
        return total

    def call(self, y_true, y_pred):
        return self(y_true, y_pred)

    def get_config(self):
        config = super().get_config()
        config.update({"losses": [keras.losses.serialize(loss) for loss in self.losses], "weights": self.weights})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["losses"] = [keras.losses.deserialize(loss) for loss in config["losses"]]
        return cls(**config)


@register_component("metric", "loss_component")
@keras.saving.register_keras_serializable(package="dlzoo", name="LossComponent")
class LossComponent(keras.metrics.Mean):
    """The running mean of one loss (with its sample weights), logged as a metric.

    Args:
        loss: a Keras loss (object or function).
        name: str. Metric name in the history.
    """

    def __init__(self, loss, name="loss_component", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.loss = keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss

    def update_state(self, y_true, y_pred, sample_weight=None):
        value = _call_loss(self.loss, y_true, y_pred, sample_weight)
        return super().update_state(value)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "loss": keras.losses.serialize(self.loss)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)
