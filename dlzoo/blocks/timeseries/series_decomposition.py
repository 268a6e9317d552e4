"""Series decomposition: a moving-average trend and the remainder (seasonal part) of each channel."""

import keras
import numpy as np
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_positive_int


def _series_shape(input_shape):
    if len(input_shape) != 3 or input_shape[1] is None:
        raise ValueError(
            "SeriesDecomposition expects series of shape (batch, time, channels) with a known length. "
            f"Received: input_shape={tuple(input_shape)}."
        )
    return int(input_shape[1])


@register_block(
    "series_decomposition",
    paper="arXiv:2205.13504",
    example={"init_kwargs": {"kernel_size": 5}, "inputs": (2, 12, 3)},
)
class SeriesDecomposition(keras.layers.Layer):
    """Series decomposition: `trend = moving_average(x)`, `seasonal = x - trend`.

    The decomposition of Autoformer that DLinear keeps: the trend of each
    channel is its centred moving average over `kernel_size` steps (the
    series is extended at both ends by repeating its first and last value,
    so the trend has the input's length), and the remainder is the seasonal
    (and irregular) part. DLinear forecasts each part with its own linear
    map over time and adds the two forecasts.

    Args:
        kernel_size: int. Odd window of the moving average (DLinear uses
            25). Defaults to `25`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, time, channels)` with a known `time`.

    Returns:
        The tuple `(seasonal, trend)`, each `(batch, time, channels)`.

    Example:

    >>> layer = dlzoo.blocks.SeriesDecomposition(kernel_size=3)
    >>> seasonal, trend = layer(np.zeros((2, 8, 3)))
    >>> tuple(seasonal.shape), tuple(trend.shape)
    ((2, 8, 3), (2, 8, 3))

    Reference:
        - [Zeng et al., 2023. Are Transformers Effective for Time Series Forecasting? (DLinear)](https://arxiv.org/abs/2205.13504), section 4
        - [Wu et al., 2021. Autoformer](https://arxiv.org/abs/2106.13008), section 3.1 (series decomposition block)
    """

    def __init__(self, kernel_size=25, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                "`kernel_size` must be odd (a centred moving average keeps the series length). "
                f"Received: kernel_size={kernel_size}."
            )

    def build(self, input_shape):
        length = _series_shape(input_shape)
        half = self.kernel_size // 2
        # Window of step t: t - half .. t + half, clipped to the series (= repeating the end values). A
        # constant of the static length, made here so that tracing `call` (export) needs no NumPy on shapes.
        index = np.clip(np.arange(length)[:, None] + np.arange(-half, half + 1)[None, :], 0, length - 1)
        self._window_index = index.reshape(-1).astype("int32")
        self.built = True

    def call(self, inputs):
        # Shape legend: b = batch, t = time, k = kernel_size, c = channels.
        length = len(self._window_index) // self.kernel_size
        windows = ops.take(inputs, ops.convert_to_tensor(self._window_index), axis=1)  # (b, t*k, c)
        windows = ops.reshape(windows, (-1, length, self.kernel_size, ops.shape(inputs)[-1]))  # (b, t, k, c)
        trend = ops.mean(windows, axis=2)
        return inputs - trend, trend

    def compute_output_shape(self, input_shape):
        _series_shape(input_shape)
        return tuple(input_shape), tuple(input_shape)

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a moving average, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config["kernel_size"] = self.kernel_size
        return config
