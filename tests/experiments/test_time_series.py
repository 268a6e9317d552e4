"""Time-series data: time-ordered windows without leakage, train-only scaling, errors, forecast metrics.

The metrics are checked against explicit loops over windows, steps and
channels (float64), the baselines against their definitions step by step.
"""

import numpy as np
import pytest

from dlzoo.experiments import forecasting, time_series
from dlzoo.testing import TestCase


class WindowsTest(TestCase):
    def test_no_test_window_overlaps_a_training_window(self):
        values = np.arange(100, dtype="float64")[:, None]  # each value is its own time step
        w = time_series.make_windows(values, context_length=8, prediction_length=4, stride=2, validation=0.2, test=0.25)
        steps = {name: set(w["time_index"][idx].ravel().tolist()) for name, idx in w["splits"].items()}
        self.assertFalse(steps["train"] & steps["test"])
        self.assertFalse(steps["train"] & steps["validation"])
        self.assertFalse(steps["validation"] & steps["test"])
        # Time order: every training step precedes every validation step, which precede the test steps.
        self.assertLess(max(steps["train"]), min(steps["validation"]))
        self.assertLess(max(steps["validation"]), min(steps["test"]))
        self.assertEqual(w["segments"], {"train": (0, 55), "validation": (55, 75), "test": (75, 100)})
        # Windows: the context is followed by the target, stride 2 inside each segment.
        np.testing.assert_array_equal(w["past_values"][:, :, 0], w["time_index"][:, :8])
        np.testing.assert_array_equal(w["future_values"][:, :, 0], w["time_index"][:, 8:])
        train_starts = w["time_index"][w["splits"]["train"], 0]
        np.testing.assert_array_equal(train_starts, np.arange(1, 55 - 12 + 1, 2))  # the last one ends at step 54
        self.assertEqual(w["time_index"][w["splits"]["test"]].max(), 99)

    def test_errors_name_the_argument_and_value(self):
        values = np.zeros((50, 2))
        with self.assertRaisesNamed(ValueError, "prediction_length=60", "50 steps"):
            time_series.make_windows(values, context_length=4, prediction_length=60)
        with self.assertRaisesNamed(ValueError, "context_length=48", "prediction_length=4"):
            time_series.make_windows(values, context_length=48, prediction_length=4)
        with self.assertRaisesNamed(ValueError, "test=0.1", "test part (5 of 50 steps)"):
            time_series.make_windows(values, context_length=8, prediction_length=4, validation=0.3, test=0.1)
        with self.assertRaisesNamed(ValueError, "validation + test=0.9"):
            time_series.make_windows(values, context_length=8, prediction_length=4, validation=0.45, test=0.45)
        with self.assertRaisesNamed(ValueError, "stride", "0"):
            time_series.make_windows(values, context_length=8, prediction_length=4, stride=0)

    def test_scaling_is_fitted_on_the_training_part_only(self):
        rng = np.random.default_rng(0)
        values = rng.standard_normal((120, 2)) * [3.0, 0.5] + [10.0, -2.0]
        changed = values.copy()
        changed[80:] *= 1000.0  # validation and test parts
        original, altered = ({"loaded": v} for v in (values, changed))
        datasets = []
        for series in (original, altered):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(time_series, "load_series", lambda name, columns=None, s=series: (s["loaded"], {}))
                datasets.append(time_series.time_series(series="co2", context_length=12, prediction_length=4,
                                                        validation=0.15, test=0.2))
        first, second = datasets
        train_stop = first.info["segments"]["train"][1]
        self.assertEqual(train_stop, 78)
        self.assertAllClose(first.info["scaling"]["mean"], values[:78].mean(axis=0), atol=1e-12)
        self.assertAllClose(first.info["scaling"]["std"], values[:78].std(axis=0), atol=1e-12)
        self.assertEqual(first.info["scaling"], second.info["scaling"])
        train = first.splits["train"]
        np.testing.assert_array_equal(first.x["past_values"][train], second.x["past_values"][train])
        np.testing.assert_array_equal(first.y[train], second.y[train])
        self.assertEqual(first.info["mase_scale"], second.info["mase_scale"])

    def test_builtin_series(self):
        co2 = time_series.time_series(series="co2", context_length=36, prediction_length=12)
        self.assertEqual(co2.x["past_values"].shape[1:], (36, 1))
        self.assertEqual(co2.info["steps"], 526)
        self.assertEqual(co2.info["seasonal_period"], 12)
        self.assertEqual(co2.info["interpolated_steps"], 5)
        macro = time_series.time_series(series="macrodata", context_length=16, prediction_length=4)
        self.assertEqual(macro.y.shape[1:], (4, 3))
        self.assertEqual(macro.info["columns"], ["realgdp", "cpi", "tbilrate"])
        with self.assertRaisesNamed(ValueError, "columns", "gdp"):
            time_series.time_series(series="macrodata", columns=["gdp"])
        with self.assertRaisesNamed(ValueError, "series", "sunspots"):
            time_series.time_series(series="sunspots")


class ForecastMetricsTest(TestCase):
    def test_metrics_match_loops(self):
        rng = np.random.default_rng(0)
        y, p = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 3, 2))
        train = rng.standard_normal((40, 2)).cumsum(axis=0)
        m = 4
        scale = [np.mean([abs(train[t, c] - train[t - m, c]) for t in range(m, 40)]) for c in range(2)]
        self.assertAllClose(forecasting.seasonal_naive_scale(train, m), scale, atol=1e-12)
        cells = [(i, h, c) for i in range(5) for h in range(3) for c in range(2)]
        self.assertAlmostEqual(forecasting.mse(y, p), np.mean([(y[k] - p[k]) ** 2 for k in cells]), places=12)
        self.assertAlmostEqual(forecasting.mae(y, p), np.mean([abs(y[k] - p[k]) for k in cells]), places=12)
        per_channel = [np.mean([abs(y[i, h, c] - p[i, h, c]) for i in range(5) for h in range(3)]) / scale[c] for c in range(2)]
        self.assertAlmostEqual(forecasting.mase(y, p, scale), np.mean(per_channel), places=12)

    def test_baselines(self):
        past = np.arange(2 * 10 * 1, dtype="float64").reshape(2, 10, 1)
        last = forecasting.last_value_forecast(past, 3)
        self.assertAllClose(last[:, :, 0], [[9, 9, 9], [19, 19, 19]], atol=0)
        seasonal = forecasting.seasonal_naive_forecast(past, 7, seasonal_period=4)
        # Step h repeats the value one season earlier: past[10 - 4 + h % 4].
        self.assertAllClose(seasonal[0, :, 0], [6, 7, 8, 9, 6, 7, 8], atol=0)
        with self.assertRaisesNamed(ValueError, "context_length=10", "seasonal_period=12"):
            forecasting.seasonal_naive_forecast(past, 3, seasonal_period=12)
        # A series that is exactly periodic: the seasonal-naive forecast is perfect, MASE 0.
        series = np.tile([1.0, 3.0, 2.0, 5.0], 10)[:, None]
        w = time_series.make_windows(series, context_length=8, prediction_length=4, validation=0.0, test=0.3)
        report = forecasting.forecast_report(w["past_values"], w["future_values"], w["future_values"] + 1.0, [0.5], 4)
        self.assertEqual(report["seasonal_naive_mse"], 0.0)
        self.assertAlmostEqual(report["mae"], 1.0)
        self.assertAlmostEqual(report["mase"], 2.0)
        with self.assertRaisesNamed(ValueError, "seasonal_period=4", "scale"):
            forecasting.seasonal_naive_scale(series, 4)
        self.assertGreater(report["last_value_mae"], 0.0)


@pytest.mark.slow
@pytest.mark.skipif(__import__("keras").backend.backend() != "torch", reason="one backend's suite is enough")
def test_forecasting_example_runs(tmp_path):
    """A few steps of guides/examples/forecasting.yaml: the runner reports MASE and both baselines."""
    import os

    from dlzoo.experiments import runner

    path = os.path.join(os.path.dirname(__file__), "..", "..", "guides", "examples", "forecasting.yaml")
    summaries = runner.run_experiment(
        path, overrides=["backend=torch", "training.epochs=1", "training.save_checkpoints=false",
                         "data.dataset.stride=6", "training.batch_size=64"],  # 2 training steps
        output_dir=str(tmp_path / "runs"), isolate="never", quiet=True, only=["0"],
    )
    assert [s["choices"]["variant"] for s in summaries] == ["co2-6-patchtst"]
    for summary in summaries:
        metrics = {k: v["mean"] for k, v in summary["metrics"].items()}
        for name in ("mse", "mae", "mase", "last_value_mase", "seasonal_naive_mase"):
            assert np.isfinite(metrics[f"test_{name}"]) and np.isfinite(metrics[f"val_{name}"])
        # The dataset's MSE and Keras' loss (mse) are the same quantity.
        assert abs(metrics["test_mse"] - metrics["test_loss"]) < 1e-4 * max(1.0, metrics["test_loss"])
