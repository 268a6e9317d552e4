"""DiffusionNoising: harness, the forward-diffusion formula, statistics, argument checks."""

import numpy as np

import keras

from dlzoo.diffusion import DDIMScheduler
from dlzoo.blocks.lcm import DiffusionNoising
from dlzoo.testing import TestCase


class DiffusionNoisingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            DiffusionNoising,
            init_kwargs={"num_train_timesteps": 100, "seed": 1},
            input_shape=(2, 5, 12),
            expected_output_shape=(2, 5, 12),
            expected_num_trainable_weights=0,
            expected_num_seed_generators=1,
        )

    def test_fresh_draws_in_training_fixed_draws_otherwise(self):
        x = np.ones((2, 6, 4), "float32")
        layer = DiffusionNoising(num_train_timesteps=100, seed=7)
        a, ta = layer(x)
        b, tb = layer(x)
        self.assertAllClose(a, b, atol=0, rtol=0)
        c, tc = layer(x, training=True)
        d, td = layer(x, training=True)
        self.assertGreater(float(np.abs(keras.ops.convert_to_numpy(c) - keras.ops.convert_to_numpy(d)).max()), 1e-3)

    def test_matches_forward_diffusion_formula(self):
        # x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps: with x0 = 0 the output is the scaled noise, and
        # with two calls on x0 and -x0 sharing a seed, (x_t(x0) - x_t(-x0)) / 2 = sqrt(ab_t) x0.
        x0 = np.random.default_rng(0).standard_normal((3, 7, 16)).astype("float32")
        a = DiffusionNoising(num_train_timesteps=100, seed=3)
        b = DiffusionNoising(num_train_timesteps=100, seed=3)
        noisy_a, t_a = a(x0)
        noisy_b, t_b = b(-x0)
        t_a = keras.ops.convert_to_numpy(t_a)
        self.assertEqual(t_a.tolist(), keras.ops.convert_to_numpy(t_b).tolist())
        ab = DDIMScheduler(num_train_timesteps=100).alphas_cumprod[t_a][..., None].astype("float64")
        half_diff = (keras.ops.convert_to_numpy(noisy_a) - keras.ops.convert_to_numpy(noisy_b)) / 2
        self.assertAllClose(half_diff, np.sqrt(ab) * x0, atol=1e-5)
        eps = (keras.ops.convert_to_numpy(noisy_a) - np.sqrt(ab) * x0) / np.sqrt(np.maximum(1 - ab, 1e-12))
        self.assertAllClose(np.std(eps), 1.0, atol=0.1, rtol=0)

    def test_timesteps_are_uniform_per_position(self):
        layer = DiffusionNoising(num_train_timesteps=10, seed=0)
        _, t = layer(np.zeros((64, 50, 2), "float32"))
        t = keras.ops.convert_to_numpy(t)
        self.assertEqual(t.dtype, np.int32)
        self.assertEqual((int(t.min()), int(t.max())), (0, 9))
        counts = np.bincount(t.ravel(), minlength=10) / t.size
        self.assertAllClose(counts, np.full(10, 0.1), atol=0.02, rtol=0)
        self.assertGreater(len(np.unique(t[0])), 3)  # not one timestep per sequence

    def test_count_params_for(self):
        self.assertEqual(DiffusionNoising().count_params_for((2, 3, 4)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "beta_schedule"):
            DiffusionNoising(beta_schedule="cosine")
        with self.assertRaisesNamed(ValueError, "num_train_timesteps"):
            DiffusionNoising(num_train_timesteps=0)
