"""The `two_tower_lcm` family: exact parameter counts, structure, the training graph, saving."""

import os
import tempfile

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo.lcm import DiffusionMSE
from dlzoo.testing import TestCase


def two_tower_closed_form(s, d, f, Le, Ld):
    """lcm.md 7: P = 3sd + s + d^2 + 262d + L_e (4d^2 + 3df + 2f + 7d) + L_d (17d^2 + 3df + 2f + 21d)."""
    D = 4 * d * d + 3 * d * f + 2 * f + 7 * d
    E = 17 * d * d + 3 * d * f + 2 * f + 21 * d
    return 3 * s * d + s + d * d + 262 * d + Le * D + Ld * E


def _batch(s=384, b=2, n=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, n, s)).astype("float32")
    mask = np.ones((b, n), bool)
    mask[1, 3:] = False
    x[~mask] = 0.0
    return {"embeddings": x, "padding_mask": mask}


class TwoTowerCountTest(TestCase):
    def test_reference_counts(self):
        # lcm.md 6-7: built by the reference code (its docstring says 1,635,101,696).
        self.assertEqual(dlzoo.count_params("lcm-two-tower"), 1_645_538_304)
        self.assertEqual(two_tower_closed_form(1024, 2048, 5632, 5, 13), 1_645_538_304)
        self.assertEqual(dlzoo.count_params("lcm-two-tower-toy"), 84_235_264)

    def test_7b_from_the_closed_form(self):
        expected = two_tower_closed_form(1024, 4096, 11008, 5, 14)
        self.assertEqual(expected, 6_930_781_696)
        self.assertEqual(dlzoo.count_params("lcm-two-tower-7b"), expected)

    def test_overrides(self):
        self.assertEqual(
            dlzoo.count_params("lcm-two-tower", model_dim=512, num_encoder_layers=1, num_denoiser_layers=2),
            two_tower_closed_form(1024, 512, 5632, 1, 2),
        )

    def test_tiny_count_equals_built(self):
        for params in ({}, {"num_denoiser_layers": 1, "hidden_dim": 48}, {"position": "learned"}):
            model = dlzoo.build("lcm-two-tower-tiny", **params)
            self.assertEqual(model.count_params(), dlzoo.count_params("lcm-two-tower-tiny", **params), params)

    def test_rejects_bad_parameters(self):
        with self.assertRaisesNamed(ValueError, "diffusion.beta_schedule"):
            dlzoo.count_params("lcm-two-tower", **{"diffusion.beta_schedule": "cosine"})
        with self.assertRaisesNamed(ValueError, "cf_guidance_probability"):
            dlzoo.count_params("lcm-two-tower", cf_guidance_probability=1.5)
        with self.assertRaisesNamed(ValueError, "num_layers"):
            dlzoo.count_params("lcm-two-tower", num_layers=2)


class TwoTowerModelTest(TestCase):
    def test_structure_matches_the_reference(self):
        model = dlzoo.build("lcm-two-tower-tiny")
        for name in ("encoder_prenet", "encoder", "noising", "denoiser"):
            self.assertIn(name, [layer.name for layer in model.layers])
        denoiser = model.get_layer("denoiser")
        layer = denoiser.stack.transformer_layers[0]
        self.assertEqual(layer.self_attention_mask, "diagonal")
        self.assertTrue(layer.use_cross_attention and layer.use_adaptive_norm)
        self.assertTrue(layer.self_attention.use_qkv_bias and layer.self_attention.use_output_bias)
        self.assertFalse(layer.cross_attention.use_rotary_embedding)
        self.assertFalse(layer.self_attention.use_rotary_embedding)
        self.assertEqual(tuple(layer.adaptive_modulation.modulation.kernel.shape), (32, 9 * 32))
        self.assertEqual(float(np.abs(keras.ops.convert_to_numpy(layer.adaptive_modulation.modulation.kernel)).max()), 0.0)
        self.assertEqual(denoiser.timestep_embedding.frequency_dim, 256)
        self.assertEqual(denoiser.timestep_embedding.order, "cos_sin")
        self.assertEqual(denoiser.cf_guidance_probability, 0.15)
        encoder = model.get_layer("encoder").transformer_layers[0]
        self.assertTrue(encoder.self_attention.use_rotary_embedding)
        self.assertEqual(model.get_layer("noising").num_train_timesteps, 100)
        learned = dlzoo.build("lcm-two-tower-tiny", position="learned").get_layer("encoder_prenet")
        self.assertEqual(learned.position_embedding.initializer_stddev, 1.0)

    def test_fit_with_the_diffusion_loss_and_save(self):
        keras.utils.set_random_seed(0)
        model = dlzoo.build("lcm-two-tower-tiny")
        batch = _batch()
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=DiffusionMSE())
        history = model.fit(batch, batch["embeddings"], sample_weight=batch["padding_mask"].astype("float32"),
                            epochs=4, batch_size=2, verbose=0)
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        # Outside training the noising uses a fixed seed: predictions are reproducible and survive saving.
        expected = keras.ops.convert_to_numpy(model(batch))
        self.assertAllClose(model(batch), expected, atol=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tt.keras")
            model.save(path)
            restored = dlzoo.load(path)
        self.assertAllClose(restored(batch), expected, atol=1e-6)

    def test_context_is_causal(self):
        # The prediction for position i may depend on x_i (noised) and on context < i only.
        model = dlzoo.build("lcm-two-tower-tiny")
        rng = np.random.default_rng(0)
        for w in model.get_layer("denoiser").weights:  # wake the zero-initialised AdaLN modulators
            w.assign(rng.standard_normal(w.shape).astype("float32") * 0.2)
        batch = _batch()
        out = keras.ops.convert_to_numpy(model(batch))
        changed = {k: v.copy() for k, v in batch.items()}
        changed["embeddings"][:, 2] += 1.0
        out2 = keras.ops.convert_to_numpy(model(changed))
        self.assertAllClose(out2[:, :2], out[:, :2], atol=1e-5)
        self.assertGreater(np.abs(out2[:, 3:] - out[:, 3:]).max(), 1e-4)


@pytest.mark.slow
class TwoTowerToyTest(TestCase):
    def test_toy_builds_with_the_reference_count(self):
        model = dlzoo.build("lcm-two-tower-toy")
        self.assertEqual(model.count_params(), 84_235_264)
        table = keras.ops.convert_to_numpy(model.get_layer("encoder_prenet").position_embedding.embeddings)
        self.assertAllClose(table.std(), 1.0, atol=0.01, rtol=0)
        self.assertEqual(model.get_layer("noising").num_train_timesteps, 1000)
        self.assertEqual(model.get_layer("denoiser").cf_guidance_probability, 0.0)
