"""The `dlinear` family: DLinear, a decomposition and two linear maps over time (the linear baseline)."""

from dlzoo.families.patchtst import series_input
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_bool, check_positive_int


@register_model(
    "dlinear",
    paper="arXiv:2205.13504",
    params=dict(
        context_length=336,
        prediction_length=96,
        num_channels=7,
        kernel_size=25,
        use_per_channel_weights=False,
    ),
)
def dlinear(p):
    """DLinear: forecast the trend and the remainder of each channel with one linear map each.

    `past_values (batch, context_length, num_channels)` is split by a
    moving average of `kernel_size` steps into trend and remainder
    (`series_decomposition`); each part is mapped to the horizon by a linear
    map over time (`temporal_linear`, shared by the channels unless
    `use_per_channel_weights`), and the two forecasts are added. Zeng et al.
    (2023) show that this one-layer model matches or beats the Transformer
    forecasters of its time on the long-horizon benchmarks: the baseline a
    forecasting Transformer must beat to be worth its cost.

    Args:
        context_length: int. Look-back window (input steps). Defaults to `336`.
        prediction_length: int. Forecast horizon (output steps). Defaults to `96`.
        num_channels: int. Channels (variables) of the series. Defaults to `7`.
        kernel_size: int. Odd moving-average window. Defaults to `25`.
        use_per_channel_weights: bool. One pair of maps per channel
            (DLinear's "individual"). Defaults to `False`.

    Returns:
        A plan with the input `past_values (batch, context_length,
        num_channels)` and the output `predictions (batch,
        prediction_length, num_channels)`.

    Reference:
        - [Zeng et al., 2023. Are Transformers Effective for Time Series Forecasting? (DLinear)](https://arxiv.org/abs/2205.13504)
    """
    horizon = check_positive_int("prediction_length", p["prediction_length"])
    per_channel = check_bool("use_per_channel_weights", p["use_per_channel_weights"])
    plan = Plan()
    x = series_input(plan, p)
    seasonal, trend = plan.block("decomposition", "series_decomposition", kernel_size=p["kernel_size"])(
        x, num_outputs=2
    )
    linear = dict(units=horizon, use_per_channel_weights=per_channel)
    seasonal = plan.block("seasonal_linear", "temporal_linear", **linear)(seasonal)
    trend = plan.block("trend_linear", "temporal_linear", **linear)(trend)
    plan.set_outputs(plan.block("predictions", "add")([seasonal, trend]))
    return plan
