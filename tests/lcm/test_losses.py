"""LCM losses: NumPy references (sum over dims, shift, masking), serialization, use in fit."""

import json

import numpy as np

import keras

from dlzoo.lcm import DiffusionMSE, NextConceptMSE
from dlzoo.testing import TestCase


def next_concept_reference(y_true, y_pred, mask, min_context=1, rmse=False):
    """lcm.md 3.2: sum_k (out[:, t-1] - in[:, t])^2 over targets t >= min_context with mask[t], averaged."""
    total, count = 0.0, 0
    for b in range(y_true.shape[0]):
        for t in range(1, y_true.shape[1]):
            if mask[b, t] and t >= min_context:
                e = float(np.sum((y_pred[b, t - 1].astype("float64") - y_true[b, t]) ** 2))
                total += np.sqrt(e + 1e-5) if rmse else e
                count += 1
    return total / count


def diffusion_reference(y_true, y_pred, mask):
    """lcm.md 4.4: no shift; every real position counts."""
    e = np.sum((y_pred.astype("float64") - y_true) ** 2, axis=-1)
    return float(np.sum(e * mask) / np.sum(mask))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.standard_normal((3, 6, 5)).astype("float32")
    y_pred = rng.standard_normal((3, 6, 5)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[1, 4:] = False
    mask[2, 2:] = False
    y_true[~mask] = 0.0
    return y_true, y_pred, mask


class LossesTest(TestCase):
    def test_next_concept_mse_matches_reference(self):
        y_true, y_pred, mask = _data()
        loss = NextConceptMSE()
        self.assertAllClose(loss(y_true, y_pred, mask.astype("float32")), next_concept_reference(y_true, y_pred, mask), atol=1e-4)
        # Without sample_weight, padding is recognised as all-zero target rows.
        self.assertAllClose(loss(y_true, y_pred), next_concept_reference(y_true, y_pred, mask), atol=1e-4)
        self.assertAllClose(NextConceptMSE(min_context_size=3)(y_true, y_pred, mask),
                            next_concept_reference(y_true, y_pred, mask, min_context=3), atol=1e-4)
        self.assertAllClose(NextConceptMSE(compute_rmse=True)(y_true, y_pred, mask),
                            next_concept_reference(y_true, y_pred, mask, rmse=True), atol=1e-4)

    def test_next_concept_mse_is_shifted(self):
        x = np.random.default_rng(1).standard_normal((1, 4, 3)).astype("float32")
        shifted = np.concatenate([x[:, 1:], x[:, :1]], axis=1)  # out[t] = in[t + 1]
        self.assertAllClose(NextConceptMSE()(x, shifted), 0.0, atol=1e-6)
        self.assertGreater(float(NextConceptMSE()(x, x)), 0.1)

    def test_diffusion_mse_matches_reference(self):
        y_true, y_pred, mask = _data(1)
        self.assertAllClose(DiffusionMSE()(y_true, y_pred, mask), diffusion_reference(y_true, y_pred, mask), atol=1e-4)
        self.assertAllClose(DiffusionMSE()(y_true, y_true), 0.0, atol=0)

    def test_serialization_round_trip(self):
        for loss in (NextConceptMSE(min_context_size=2, compute_rmse=True), DiffusionMSE()):
            config = json.loads(json.dumps(keras.saving.serialize_keras_object(loss)))
            again = keras.saving.deserialize_keras_object(config)
            self.assertIsInstance(again, type(loss))
            self.assertEqual(again.get_config(), loss.get_config())
        self.assertIsInstance(keras.losses.get(keras.losses.serialize(NextConceptMSE())), NextConceptMSE)

    def test_trains_a_model_with_sample_weights(self):
        y_true, _, mask = _data()
        inputs = keras.Input((None, 5))
        model = keras.Model(inputs, keras.layers.Dense(5)(inputs))
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=NextConceptMSE())
        history = model.fit(y_true, y_true, sample_weight=mask.astype("float32"), epochs=2, verbose=0)
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "min_context_size"):
            NextConceptMSE(min_context_size=0)
        with self.assertRaisesNamed(TypeError, "compute_rmse"):
            DiffusionMSE(compute_rmse="no")
