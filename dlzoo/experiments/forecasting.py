"""Forecast metrics and naive baselines (NumPy): MSE, MAE, MASE; last value and seasonal naive.

Every array is `(windows, horizon, channels)` (forecasts and targets) or
`(windows, context_length, channels)` (the inputs the baselines read).

* `mse`, `mae`: mean squared / absolute error over windows, steps and channels.
* `mase`: the mean absolute error of each channel divided by that channel's
  *in-sample seasonal-naive MAE* on the training part of the series,
  `mean_t |y_t - y_{t-m}|` (Hyndman and Koehler, 2006), then averaged over
  the channels. Below 1, the forecast beats, out of sample, what repeating
  last season's value achieved in sample; it is free of the series' units,
  so it compares series and horizons.
* Baselines: `last_value_forecast` repeats the last observed value;
  `seasonal_naive_forecast` repeats the last observed season (period `m`).

Reference:
    - [Hyndman and Koehler, 2006. Another look at measures of forecast accuracy](https://doi.org/10.1016/j.ijforecast.2006.03.001)
"""

from typing import Dict

import numpy as np

BASELINES = ("last_value", "seasonal_naive")


def mse(y_true, y_pred) -> float:
    """Mean squared error."""
    return float(np.mean((np.asarray(y_true, "float64") - np.asarray(y_pred, "float64")) ** 2))


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y_true, "float64") - np.asarray(y_pred, "float64"))))


def seasonal_naive_scale(train_values, seasonal_period: int) -> np.ndarray:
    """Per-channel in-sample MAE of the seasonal-naive forecast `y_t = y_{t-m}` on `(time, channels)` values."""
    values = np.asarray(train_values, "float64")
    if values.ndim != 2 or len(values) <= seasonal_period:
        raise ValueError(
            "The training part must be (time, channels) and longer than `seasonal_period`. "
            f"Received: shape={values.shape}, seasonal_period={seasonal_period}."
        )
    scale = np.mean(np.abs(values[seasonal_period:] - values[:-seasonal_period]), axis=0)
    if np.any(scale <= 0):
        raise ValueError(
            "MASE is undefined for a channel the seasonal-naive forecast fits exactly in sample (its scale is 0). "
            f"Received: seasonal_period={seasonal_period}, scale per channel={scale.tolist()}."
        )
    return scale


def mase(y_true, y_pred, scale) -> float:
    """Mean absolute scaled error: each channel's MAE over its `scale` (`seasonal_naive_scale`), averaged."""
    errors = np.abs(np.asarray(y_true, "float64") - np.asarray(y_pred, "float64"))  # (n, h, c)
    per_channel = errors.reshape(-1, errors.shape[-1]).mean(axis=0)
    return float(np.mean(per_channel / np.asarray(scale, "float64")))


def last_value_forecast(past, horizon: int) -> np.ndarray:
    """`(n, horizon, c)`: every step is the last value of the `(n, context, c)` input."""
    past = np.asarray(past)
    return np.repeat(past[:, -1:, :], horizon, axis=1)


def seasonal_naive_forecast(past, horizon: int, seasonal_period: int) -> np.ndarray:
    """`(n, horizon, c)`: step `h` is the value one season before it, `past[L - m + (h mod m)]`."""
    past = np.asarray(past)
    context = past.shape[1]
    if context < seasonal_period:
        raise ValueError(
            "The seasonal-naive forecast needs a context of at least one season. "
            f"Received: context_length={context}, seasonal_period={seasonal_period}."
        )
    steps = context - seasonal_period + np.arange(horizon) % seasonal_period
    return past[:, steps, :]


def forecast_report(past, y_true, y_pred, scale, seasonal_period: int) -> Dict[str, float]:
    """MSE, MAE and MASE of `y_pred` and of both baselines (`last_value_mse`, `seasonal_naive_mase`, ...)."""
    horizon = np.shape(y_true)[1]
    forecasts = {
        "": y_pred,
        "last_value_": last_value_forecast(past, horizon),
        "seasonal_naive_": seasonal_naive_forecast(past, horizon, seasonal_period),
    }
    report = {}
    for prefix, forecast in forecasts.items():
        report[f"{prefix}mse"] = mse(y_true, forecast)
        report[f"{prefix}mae"] = mae(y_true, forecast)
        report[f"{prefix}mase"] = mase(y_true, forecast, scale)
    return report


__all__ = [
    "forecast_report",
    "last_value_forecast",
    "mae",
    "mase",
    "mse",
    "seasonal_naive_forecast",
    "seasonal_naive_scale",
]
