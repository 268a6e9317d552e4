"""Time series for forecasting experiments: built-in series, a time-ordered split, sliding windows.

The `time_series` dataset turns one multivariate series `(time, channels)`
into forecasting examples without leakage:

1. **Split by time**: the series is cut into three consecutive segments,
   train (the oldest), validation, test (the most recent `test` fraction).
2. **Windows inside each segment**: an example is `context_length` steps
   (`past_values`) followed by the next `prediction_length` steps (the
   target), one every `stride` steps, the last one ending at the segment's
   last step. A window never crosses a
   segment border, so no test window shares a single time step with a
   training window (the price: the first `context_length +
   prediction_length - 1` steps of the validation and test segments are
   only ever inputs or targets of windows inside them).
3. **Scaling fitted on the training segment only** (`scaling="standard"`:
   per-channel mean and standard deviation of the training steps), applied
   to the whole series.

Built-in series (offline, from `statsmodels.datasets`):

* `co2`: the Mauna Loa weekly atmospheric CO2 (ppm, March 1958 to December
  2001), averaged to **monthly** means (526 months; the 5 months without any
  weekly value are linearly interpolated). Seasonal period 12.
* `macrodata`: US quarterly macro-economic data 1959Q1-2009Q3 (203
  quarters): by default real GDP (`realgdp`), the consumer price index
  (`cpi`) and the 3-month Treasury bill rate (`tbilrate`); `columns`
  picks others. Seasonal period 4 (the series are seasonally adjusted, so
  the seasonal-naive forecast is the value a year earlier).
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from dlzoo.experiments import forecasting
from dlzoo.experiments.datasets import Data
from dlzoo.registry import register_component
from dlzoo.validation import check_choice, check_float, check_positive_int

SERIES = ("co2", "macrodata")
SEASONAL_PERIODS = {"co2": 12, "macrodata": 4}
MACRODATA_COLUMNS = (
    "realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop", "infl", "realint",
)
SCALINGS = ("standard", "none")


def load_series(series: str, columns: Optional[Sequence[str]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """`(values (time, channels) float64, facts)` of a built-in statsmodels series (see the module doc)."""
    import statsmodels.datasets as sm_datasets  # lazy: optional dependency (statsmodels)

    check_choice("series", series, SERIES)
    if series == "co2":
        if columns not in (None, ["co2"], ("co2",)):
            raise ValueError(f"The co2 series has one column, 'co2'. Received: columns={columns!r}.")
        weekly = sm_datasets.co2.load_pandas().data["co2"]
        monthly = weekly.resample("MS").mean()
        missing = int(monthly.isna().sum())
        monthly = monthly.interpolate("linear")
        facts = {
            "columns": ["co2"],
            "frequency": "monthly (means of the weekly values)",
            "start": str(monthly.index[0].date()),
            "interpolated_steps": missing,
        }
        return monthly.to_numpy(dtype="float64")[:, None], facts
    columns = list(columns) if columns is not None else ["realgdp", "cpi", "tbilrate"]
    if not columns:
        raise ValueError(f"`columns` must name at least one macrodata column. Received: columns={columns!r}.")
    for column in columns:
        check_choice("columns", column, MACRODATA_COLUMNS)
    frame = sm_datasets.macrodata.load_pandas().data
    return frame[columns].to_numpy(dtype="float64"), {"columns": columns, "frequency": "quarterly", "start": "1959Q1"}


def _series_files(series: str) -> List[str]:
    import os

    import statsmodels.datasets as sm_datasets  # lazy: optional dependency (statsmodels)

    module = getattr(sm_datasets, series)
    path = os.path.join(os.path.dirname(module.__file__), f"{series}.csv")
    return [path] if os.path.exists(path) else []


def time_segments(length: int, validation: float, test: float) -> Dict[str, Tuple[int, int]]:
    """`{"train": (0, a), "validation": (a, b), "test": (b, length)}`: consecutive steps, oldest first."""
    test_steps = int(round(length * test))
    validation_steps = int(round(length * validation))
    train_stop = length - test_steps - validation_steps
    return {
        "train": (0, train_stop),
        "validation": (train_stop, length - test_steps),
        "test": (length - test_steps, length),
    }


def window_starts(start: int, stop: int, window: int, stride: int) -> np.ndarray:
    """First steps of the windows of `window` steps inside `[start, stop)`, every `stride` steps.

    The last window ends at the segment's last step (the most recent data is
    always used); with `stride > 1` the first steps may be left out.
    """
    return np.arange(stop - window, start - 1, -stride, dtype="int64")[::-1]


def make_windows(
    values: np.ndarray,
    context_length: int,
    prediction_length: int,
    stride: int = 1,
    validation: float = 0.1,
    test: float = 0.2,
) -> Dict[str, Any]:
    """Time-split sliding windows of a `(time, channels)` series.

    Returns:
        dict with `past_values (n, context_length, c)`, `future_values (n,
        prediction_length, c)`, `splits` (split -> window indices),
        `segments` (split -> `(start, stop)` steps) and `time_index (n,
        context_length + prediction_length)`: the series step of every
        value of every window.

    Raises:
        ValueError: naming the argument and its value, when the context or
            the horizon does not fit in the series, or a split leaves no window.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"The series must be (time, channels). Received: shape={values.shape}.")
    length = len(values)
    context_length = check_positive_int("context_length", context_length)
    prediction_length = check_positive_int("prediction_length", prediction_length)
    stride = check_positive_int("stride", stride)
    check_float("validation", validation, min_value=0.0, max_value=1.0, max_inclusive=False)
    check_float("test", test, min_value=0.0, max_value=1.0, max_inclusive=False)
    window = context_length + prediction_length
    if window > length:
        raise ValueError(
            "A window (context_length + prediction_length steps) must fit in the series. Received: "
            f"context_length={context_length}, prediction_length={prediction_length} for a series of {length} steps."
        )
    segments = time_segments(length, validation, test)
    starts, splits, first = [], {}, 0
    for name, (start, stop) in segments.items():
        part = window_starts(start, stop, window, stride)
        wanted = name == "train" or (validation if name == "validation" else test) > 0
        if wanted and not len(part):
            option = {"train": "validation + test", "validation": "validation", "test": "test"}[name]
            amount = {"train": validation + test, "validation": validation, "test": test}[name]
            raise ValueError(
                f"The {name} part ({stop - start} of {length} steps) is shorter than one window of "
                f"context_length + prediction_length = {window} steps. Received: {option}={amount:g}; "
                "give it a larger fraction or shorten the window."
            )
        splits[name] = np.arange(first, first + len(part), dtype="int64")
        first += len(part)
        starts.append(part)
    starts = np.concatenate(starts)
    time_index = starts[:, None] + np.arange(window)[None, :]
    windows = values[time_index]  # (n, window, c)
    return {
        "past_values": windows[:, :context_length],
        "future_values": windows[:, context_length:],
        "splits": splits,
        "segments": segments,
        "time_index": time_index,
    }


def standard_scaling(values: np.ndarray, train_stop: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel `(mean, std)` of the first `train_stop` steps only (a zero spread counts as 1)."""
    train = np.asarray(values, "float64")[:train_stop]
    std = train.std(axis=0)
    return train.mean(axis=0), np.where(std > 0, std, 1.0)


@register_component("dataset", "time_series")
def time_series(
    series: str = "co2",
    columns: Optional[List[str]] = None,
    context_length: int = 36,
    prediction_length: int = 12,
    stride: int = 1,
    validation: float = 0.15,
    test: float = 0.2,
    scaling: str = "standard",
    seasonal_period: Optional[int] = None,
) -> Data:
    """Forecasting windows of a built-in series, split by time (see `dlzoo.experiments.time_series`).

    Args:
        series: str. `"co2"` (monthly, 1 channel) or `"macrodata"` (quarterly).
            Defaults to `"co2"`.
        columns: list of str or None. macrodata columns (default `realgdp`,
            `cpi`, `tbilrate`). Defaults to `None`.
        context_length: int. Input steps of a window. Defaults to `36`.
        prediction_length: int. Forecast steps (the horizon). Defaults to `12`.
        stride: int. Steps between window starts. Defaults to `1`.
        validation: float. Fraction of the series (after training, before
            test) for validation windows. Defaults to `0.15`.
        test: float. Most recent fraction of the series for test windows.
            Defaults to `0.2`.
        scaling: str. `"standard"` (per-channel mean and standard deviation
            of the training segment only) or `"none"`. Defaults to `"standard"`.
        seasonal_period: int or None. Season of the seasonal-naive baseline
            and of MASE's scale; `None` is the series' own (co2 12, macrodata 4).

    Returns:
        `Data` with `x = {"past_values": (n, context_length, channels)}`, `y`
        `(n, prediction_length, channels)` (float32, scaled), predefined
        time-ordered `splits`, and `extra_metrics` reporting MSE, MAE, MASE
        of the model and of the last-value and seasonal-naive baselines.
    """
    scaling = check_choice("scaling", scaling, SCALINGS)
    values, facts = load_series(series, columns)
    period = check_positive_int("seasonal_period", SEASONAL_PERIODS[series] if seasonal_period is None else seasonal_period)
    windows = make_windows(values, context_length, prediction_length, stride, validation, test)
    train_stop = windows["segments"]["train"][1]
    if scaling == "standard":
        mean, std = standard_scaling(values, train_stop)
    else:
        mean, std = np.zeros(values.shape[1]), np.ones(values.shape[1])
    scaled = (values - mean) / std
    mase_scale = forecasting.seasonal_naive_scale(scaled[:train_stop], period)
    past = ((windows["past_values"] - mean) / std).astype("float32")
    future = ((windows["future_values"] - mean) / std).astype("float32")

    def extra_metrics(part: Data, predictions) -> Dict[str, float]:
        return forecasting.forecast_report(part.x["past_values"], part.y, predictions, mase_scale, period)

    return Data(
        x={"past_values": past},
        y=future,
        splits=windows["splits"],
        files=_series_files(series),
        info={
            "source": f"statsmodels.datasets.{series}",
            "series": series,
            **facts,
            "steps": int(len(values)),
            "seasonal_period": period,
            "segments": {k: list(v) for k, v in windows["segments"].items()},
            "windows": {k: int(len(v)) for k, v in windows["splits"].items()},
            "scaling": {"kind": scaling, "mean": mean.tolist(), "std": std.tolist()},
            "mase_scale": mase_scale.tolist(),
        },
        extra_metrics=extra_metrics,
    )


def _time_series_files(series="co2", **options):
    return [("series", path) for path in _series_files(series)] if series in SERIES else []


time_series.data_files = _time_series_files

__all__ = ["load_series", "make_windows", "standard_scaling", "time_segments", "time_series", "window_starts"]
