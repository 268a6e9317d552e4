"""Reversible instance normalization (RevIN): normalize each series by its own statistics, undo it on the forecast."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_float


def _series_shape(input_shape):
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise ValueError(
            "ReversibleInstanceNorm expects series of shape (batch, time, channels) with a known number of "
            f"channels. Received: input_shape={tuple(input_shape)}."
        )
    return int(input_shape[-1])


@register_block(
    "reversible_instance_norm",
    paper="https://openreview.net/forum?id=cGDAkQo1C0p",
    example={"init_kwargs": {"use_affine": True}, "inputs": (2, 6, 3)},
)
class ReversibleInstanceNorm(keras.layers.Layer):
    """Reversible instance normalization (RevIN) of multivariate time series.

    Real series drift: the mean and spread of the window a model sees at test
    time differ from the ones it was trained on. RevIN removes them per
    instance: each series of each example is normalized by the mean and
    standard deviation of its own input window (over time), optionally
    followed by a learned per-channel affine map, and the model's output is
    mapped back with the same statistics, so the model only has to predict
    the *shape* of the future and the level and scale are put back exactly.

    One layer does both directions, so the affine weights are shared:
    the normalizing call returns the normalized series **and** the statistics
    `(normalized, mean, std)`; the reverse call (`reverse=True`) takes the
    model's output with that `mean` and `std` and undoes the normalization:

        std = sqrt(var_t(x) + epsilon);  y = (x - mean_t(x)) / std * weight + bias
        x'  = (y' - bias) / (weight + epsilon**2) * std + mean

    Args:
        epsilon: float. Added to the variance (and, squared, to the affine
            weight in the reverse map, as the authors' code does). Defaults
            to `1e-5`.
        use_affine: bool. Learn a per-channel `weight` (ones) and `bias`
            (zeros) applied after normalizing. Defaults to `True` (the RevIN
            paper; PatchTST's scripts and Hugging Face's `scaling="std"` use
            no affine map).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, time, channels)`: the input window, or (with
            `reverse=True`) the normalized forecast `(batch, horizon, channels)`.
        mean: Tensor `(batch, 1, channels)`. Only with `reverse=True`.
        std: Tensor `(batch, 1, channels)`. Only with `reverse=True`.
        reverse: bool. Denormalize instead of normalize. Defaults to `False`.

    Returns:
        Normalizing: the tuple `(normalized (batch, time, channels), mean
        (batch, 1, channels), std (batch, 1, channels))`. Reverse: the
        denormalized tensor, shaped like `inputs`.

    Example:

    >>> layer = dlzoo.blocks.ReversibleInstanceNorm()
    >>> normalized, mean, std = layer(np.arange(12.0).reshape(1, 4, 3))
    >>> tuple(normalized.shape), tuple(mean.shape)
    ((1, 4, 3), (1, 1, 3))
    >>> tuple(layer(normalized, mean=mean, std=std, reverse=True).shape)
    (1, 4, 3)

    Notes:
        The variance is the population variance (divide by `time`), as in
        the authors' code and Hugging Face's `PatchTSTStdScaler` (with
        `minimum_scale = epsilon`); with `use_affine=False` the two agree
        exactly. The statistics are not stopped from carrying gradients
        (neither does the authors' code).

    Reference:
        - [Kim et al., 2022. Reversible Instance Normalization for Accurate Time-Series Forecasting against Distribution Shift (ICLR)](https://openreview.net/forum?id=cGDAkQo1C0p)
    """

    def __init__(self, epsilon=1e-5, use_affine=True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_float("epsilon", epsilon, min_value=0.0, min_inclusive=False)
        self.use_affine = check_bool("use_affine", use_affine)

    def build(self, inputs_shape, mean_shape=None, std_shape=None):
        # Shape legend: b = batch, t = time, c = channels.
        channels = _series_shape(inputs_shape)
        if self.use_affine:
            self.weight = self.add_weight(name="weight", shape=(channels,), initializer="ones")
            self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")
        self.built = True

    def call(self, inputs, mean=None, std=None, reverse=False):
        if reverse:
            if mean is None or std is None:
                raise ValueError(
                    "The reverse call needs the `mean` and `std` the normalizing call returned. "
                    f"Received: mean={mean!r}, std={std!r}."
                )
            return self._denormalize(inputs, mean, std)
        return self._normalize(inputs)

    def _normalize(self, x):
        mean = ops.mean(x, axis=1, keepdims=True)  # (b, 1, c)
        variance = ops.mean(ops.square(x - mean), axis=1, keepdims=True)
        std = ops.sqrt(variance + self.epsilon)
        y = (x - mean) / std
        if self.use_affine:
            y = y * ops.cast(self.weight, y.dtype) + ops.cast(self.bias, y.dtype)
        return y, mean, std

    def _denormalize(self, y, mean, std):
        if self.use_affine:
            y = (y - ops.cast(self.bias, y.dtype)) / (ops.cast(self.weight, y.dtype) + self.epsilon**2)
        return y * ops.cast(std, y.dtype) + ops.cast(mean, y.dtype)

    def compute_output_shape(self, input_shape, mean_shape=None, std_shape=None, reverse=False):
        channels = _series_shape(input_shape)
        if reverse:
            return tuple(input_shape)
        statistics = (input_shape[0], 1, channels)
        return tuple(input_shape), statistics, statistics

    def compute_output_spec(self, inputs, mean=None, std=None, reverse=False):
        shapes = self.compute_output_shape(inputs.shape, reverse=reverse)
        if reverse:
            return keras.KerasTensor(shapes, dtype=self.compute_dtype)
        return tuple(keras.KerasTensor(s, dtype=self.compute_dtype) for s in shapes)

    def count_params_for(self, input_shape, **other_shapes):
        return 2 * _series_shape(input_shape) if self.use_affine else 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (elementwise, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "use_affine": self.use_affine})
        return config
