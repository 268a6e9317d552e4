import numpy as np

import keras

from dlzoo.blocks import DropPath
from dlzoo.testing import TestCase


def drop_path_reference(x, keep_mask, rate):
    """Stochastic depth (Huang et al. 2016) with inverted scaling, in float64:
    example b's branch is kept (scaled by 1/(1-rate)) iff keep_mask[b]."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    return x.astype("float64") * keep_mask.reshape(shape) / (1.0 - rate)


class DropPathTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            DropPath,
            init_kwargs={"rate": 0.2, "seed": 0},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=0,
            expected_num_seed_generators=1,
        )

    def test_identity_at_inference(self):
        x = np.random.default_rng(0).standard_normal((4, 3, 8)).astype("float32")
        layer = DropPath(rate=0.5, seed=1)
        self.assertAllClose(layer(x), x, atol=0)
        self.assertAllClose(layer(x, training=False), x, atol=0)
        self.assertAllClose(DropPath(rate=0.0)(x, training=True), x, atol=0)

    def test_per_sample_all_or_nothing_in_training(self):
        rate = 0.4
        x = (np.random.default_rng(1).standard_normal((64, 3, 5)) + 3.0).astype("float32")
        out = keras.ops.convert_to_numpy(DropPath(rate=rate, seed=2)(x, training=True))
        flat = out.reshape(64, -1)
        dropped = np.all(flat == 0.0, axis=1)
        kept = ~dropped
        # No example is partly dropped: every example is all-zero or fully kept.
        self.assertFalse(np.any(flat[kept] == 0.0))
        self.assertTrue(dropped.any() and kept.any(), f"dropped {dropped.sum()} of 64")
        self.assertAllClose(out, drop_path_reference(x, kept, rate), atol=1e-5)

    def test_expected_value_preserved(self):
        rate, n = 0.3, 4000
        x = np.ones((n, 4), dtype="float32")
        out = keras.ops.convert_to_numpy(DropPath(rate=rate, seed=3)(x, training=True))
        # Per-example value is 0 or 1/(1-rate); mean std is ~0.01, drop-fraction std ~0.007.
        self.assertLess(abs(out.mean() - 1.0), 0.05)
        self.assertLess(abs(np.mean(out[:, 0] == 0.0) - rate), 0.03)

    def test_fresh_mask_each_call(self):
        x = np.ones((64, 2), dtype="float32")
        layer = DropPath(rate=0.5, seed=4)
        first = keras.ops.convert_to_numpy(layer(x, training=True))
        second = keras.ops.convert_to_numpy(layer(x, training=True))
        self.assertFalse(np.array_equal(first, second))

    def test_trains_inside_a_model_with_unknown_batch(self):
        inputs = keras.Input(shape=(5, 8))
        branch = keras.layers.Dense(8)(inputs)
        outputs = keras.layers.Add()([inputs, DropPath(rate=0.5, seed=5)(branch)])
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="sgd", loss="mse", jit_compile="auto")
        rng = np.random.default_rng(6)
        x = rng.standard_normal((8, 5, 8)).astype("float32")
        y = rng.standard_normal((8, 5, 8)).astype("float32")
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        self.assertAllClose(model.predict(x, verbose=0), model(x), atol=1e-6)

    def test_count_params_for(self):
        self.assertEqual(DropPath(rate=0.1).count_params_for((2, 3, 4)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "rate", "1.0"):
            DropPath(rate=1.0)
        with self.assertRaisesNamed(ValueError, "rate", "-0.1"):
            DropPath(rate=-0.1)
        with self.assertRaisesNamed(TypeError, "rate"):
            DropPath(rate="0.1")
        with self.assertRaisesNamed(TypeError, "seed"):
            DropPath(rate=0.1, seed=1.5)
