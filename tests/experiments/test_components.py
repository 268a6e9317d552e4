"""Components by name: dlzoo registries first, then Keras built-ins by their Keras names."""

import unittest

import keras
import numpy as np

from dlzoo.experiments import components as C
from dlzoo.experiments.builtins import LossComponent, WeightedSumLoss
from dlzoo.registry import register_component


class LookupTest(unittest.TestCase):
    def test_keras_names_in_every_spelling(self):
        self.assertIs(C.lookup("loss", "SparseCategoricalCrossentropy")[1], keras.losses.SparseCategoricalCrossentropy)
        self.assertIs(C.lookup("loss", "sparse_categorical_crossentropy")[1], keras.losses.SparseCategoricalCrossentropy)
        self.assertIs(C.lookup("callback", "reduce_lr_on_plateau")[1], keras.callbacks.ReduceLROnPlateau)
        self.assertIs(C.lookup("optimizer", "adamw")[1], keras.optimizers.AdamW)
        self.assertIs(C.lookup("schedule", "cosine_decay")[1], keras.optimizers.schedules.CosineDecay)
        self.assertIs(C.lookup("regularizer", "l2")[1], keras.regularizers.L2)
        self.assertEqual(C.lookup("loss", "mse")[0], "keras-function")
        self.assertEqual(C.snake_case("KLDivergence"), "kl_divergence")

    def test_dlzoo_components_come_first(self):
        self.assertEqual(C.lookup("dataset", "digits")[0], "dlzoo")
        self.assertEqual(C.lookup("loss", "weighted_sum")[0], "dlzoo")

    def test_unknown_name_suggests(self):
        with self.assertRaisesRegex(ValueError, "Did you mean 'adamax'"):
            C.lookup("optimizer", "adamx")
        with self.assertRaisesRegex(ValueError, "Unknown transform"):
            C.lookup("transform", "no_such_transform")

    def test_option_problems(self):
        self.assertEqual(C.option_problems("optimizer", "adam", {"learning_rate": 0.1}), [])
        problems = C.option_problems("optimizer", "adam", {"learning_rat": 0.1})
        self.assertEqual(len(problems), 1)
        self.assertIn("learning_rate", problems[0])
        self.assertIn("num_classes", C.option_problems("transform", "one_hot", {})[0])

    def test_make_and_user_registration(self):
        optimizer = C.make("optimizer", {"name": "sgd", "learning_rate": 0.5})
        self.assertAlmostEqual(float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 0.5)

        @register_component("metric", "test_only_constant_metric")
        class Constant(keras.metrics.Mean):
            def __init__(self, value=1.0, name="constant"):
                super().__init__(name=name)
                self.value = value

        self.assertEqual(C.make("metric", {"name": "test_only_constant_metric", "value": 2.0}).value, 2.0)
        self.assertIn("test_only_constant_metric", C.canonical_names("metric"))

    def test_split_spec(self):
        self.assertEqual(C.split_spec("loss", "mse"), ("mse", {}, {}))
        name, options, reserved = C.split_spec("loss", {"name": "huber", "delta": 2.0, "weight": 0.5, "output": "y"})
        self.assertEqual((name, options, reserved), ("huber", {"delta": 2.0}, {"weight": 0.5, "output": "y"}))
        with self.assertRaises(TypeError):
            C.split_spec("loss", {"weight": 1})


class LossesTest(unittest.TestCase):
    def test_weighted_sum_matches_the_formula(self):
        y_true = np.array([[0.0, 1.0], [1.0, 3.0]], "float32")
        y_pred = np.array([[0.5, 1.0], [2.0, 1.0]], "float32")
        loss = WeightedSumLoss([keras.losses.MeanSquaredError(), keras.losses.mean_absolute_error], [2.0, 0.5])
        mse = np.mean((y_true - y_pred) ** 2)
        mae = np.mean(np.abs(y_true - y_pred))
        self.assertAlmostEqual(float(loss(y_true, y_pred)), 2.0 * mse + 0.5 * mae, places=5)
        restored = WeightedSumLoss.from_config(loss.get_config())
        self.assertAlmostEqual(float(restored(y_true, y_pred)), 2.0 * mse + 0.5 * mae, places=5)
        with self.assertRaises(ValueError):
            WeightedSumLoss([keras.losses.MeanSquaredError()], [1.0, 2.0])

    def test_loss_component_metric_averages_the_loss(self):
        metric = LossComponent(keras.losses.MeanSquaredError(), name="mse_part")
        metric.update_state(np.zeros((2, 1), "float32"), np.ones((2, 1), "float32"))
        metric.update_state(np.zeros((2, 1), "float32"), np.full((2, 1), 3.0, "float32"))
        self.assertAlmostEqual(float(metric.result()), 5.0, places=5)
