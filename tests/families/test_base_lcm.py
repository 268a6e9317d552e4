"""The `base_lcm` family: exact parameter counts, structure, causality, training, saving."""

import os
import tempfile

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo.lcm import NextConceptMSE
from dlzoo.testing import TestCase


def base_lcm_closed_form(s, d, f, L):
    """lcm.md 7: P = 2sd + 2d + s + L (4d^2 + 3df + 2f + 7d) (SwiGLU, RMSNorm, all biases)."""
    return 2 * s * d + 2 * d + s + L * (4 * d * d + 3 * d * f + 2 * f + 7 * d)


def toy_base_closed_form(s=1024, d=1024, ffn=4096, L=2, max_len=2048):
    """lcm.md 6 toy_base_lcm: learned positions, LayerNorm, ReLU FFN, no attention output bias."""
    attention = 3 * (d * d + d) + d * d
    layer = attention + (d * ffn + ffn + ffn * d + d) + 2 * 2 * d
    return (s * d + d) + max_len * d + L * layer + 2 * d + (d * s + s)


def _batch(s=384, b=2, n=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, n, s)).astype("float32")
    mask = np.ones((b, n), bool)
    mask[1, 4:] = False
    x[~mask] = 0.0
    return {"embeddings": x, "padding_mask": mask}


class BaseLCMCountTest(TestCase):
    def test_reference_counts(self):
        # lcm.md 6-7: the counts the reference code builds (its docstring says 1,647,635,456).
        self.assertEqual(dlzoo.count_params("lcm-base"), 1_649_185_792)
        self.assertEqual(base_lcm_closed_form(1024, 2048, 5632, 32), 1_649_185_792)
        self.assertEqual(dlzoo.count_params("lcm-base-toy"), 29_388_800)
        self.assertEqual(toy_base_closed_form(), 29_388_800)

    def test_overrides_move_the_count_by_the_closed_form(self):
        # f = 256 * ceil(floor(8192 * 2/3) / 256) = 5632 whatever the width.
        self.assertEqual(dlzoo.count_params("lcm-base", num_layers=4, model_dim=512), base_lcm_closed_form(1024, 512, 5632, 4))
        self.assertEqual(dlzoo.count_params("lcm-base", num_layers=4, hidden_dim=512), base_lcm_closed_form(1024, 512, 5632, 4))
        self.assertEqual(dlzoo.count_params("lcm-base", embedding_dim=384, num_layers=1), base_lcm_closed_form(384, 2048, 5632, 1))
        with self.assertRaisesNamed(ValueError, "'sonar_embed_dim'", "renamed", "`embedding_dim`"):
            dlzoo.count_params("lcm-base", sonar_embed_dim=384)
        self.assertEqual(
            dlzoo.count_params("lcm-base", num_layers=2, **{"feedforward.intermediate_dim": 16384}),
            base_lcm_closed_form(1024, 2048, 11008, 2),
        )

    def test_tiny_count_equals_built(self):
        for params in ({}, {"num_layers": 3, "model_dim": 48}, {"position": "learned"}, {"position": "sine"},
                       {"norm.type": "layer_norm", "attention.use_output_bias": False}):
            model = dlzoo.build("lcm-base-tiny", **params)
            self.assertEqual(model.count_params(), dlzoo.count_params("lcm-base-tiny", **params), params)

    def test_rejects_bad_parameters(self):
        with self.assertRaisesNamed(ValueError, "position"):
            dlzoo.count_params("lcm-base", position="alibi")
        with self.assertRaisesNamed(ValueError, "attention.num_heads", "hidden_dim"):
            dlzoo.count_params("lcm-base", hidden_dim=100)
        # A ReLU MLP takes no GLU width rounding: switching the type drops it, setting it is an error.
        self.assertNotIn("width_factor", dlzoo.builder.resolve("lcm-base", **{"feedforward.type": "mlp"})["params"]["feedforward"])
        with self.assertRaisesNamed(ValueError, "feedforward.width_factor", "'mlp'"):
            dlzoo.count_params("lcm-base", feedforward={"type": "mlp", "width_factor": 0.5})
        with self.assertRaisesNamed(ValueError, "num_layer"):
            dlzoo.count_params("lcm-base", num_layer=2)


class BaseLCMModelTest(TestCase):
    def test_structure_matches_the_reference(self):
        model = dlzoo.build("lcm-base-tiny")
        names = [layer.name for layer in model.layers]
        for name in ("prenet", "decoder", "postnet"):
            self.assertIn(name, names)
        decoder = model.get_layer("decoder")
        layer = decoder.transformer_layers[0]
        attention = layer.self_attention
        self.assertTrue(attention.use_qkv_bias)
        self.assertTrue(attention.use_output_bias)
        self.assertTrue(attention.use_rotary_embedding)
        self.assertEqual(attention.rope_layout, "interleaved")
        self.assertEqual(decoder.norm, "rms_norm")
        self.assertEqual(layer.self_attention_norm.epsilon, 1e-5)
        self.assertIsNotNone(decoder.final_norm)
        self.assertEqual(layer.feedforward_block.inner_dim, 64)  # 16 * ceil(floor(96 * 2/3) / 16)
        self.assertTrue(layer.feedforward_block.use_bias)
        self.assertEqual(model.get_layer("prenet").position, "none")  # RoPE lives in attention
        self.assertEqual(tuple(model.get_layer("postnet").projection.kernel.shape), (32, 384))
        learned = dlzoo.build("lcm-base-tiny", position="learned").get_layer("prenet")
        self.assertEqual(learned.position_embedding.initializer_stddev, 0.006)

    def test_output_is_causal_and_ignores_padding(self):
        model = dlzoo.build("lcm-base-tiny")
        batch = _batch()
        out = keras.ops.convert_to_numpy(model(batch))
        changed = {k: v.copy() for k, v in batch.items()}
        changed["embeddings"][:, 3] += 1.0
        out2 = keras.ops.convert_to_numpy(model(changed))
        self.assertAllClose(out2[:, :3], out[:, :3], atol=1e-5)
        self.assertGreater(np.abs(out2[:, 3:] - out[:, 3:]).max(), 1e-4)
        padded = {k: v.copy() for k, v in batch.items()}
        padded["embeddings"][1, 4:] = 5.0  # padded positions
        out3 = keras.ops.convert_to_numpy(model(padded))
        self.assertAllClose(out3[1, :4], out[1, :4], atol=1e-5)

    def test_fit_with_the_next_concept_loss_and_save(self):
        keras.utils.set_random_seed(0)
        model = dlzoo.build("lcm-base-tiny")
        batch = _batch()
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=NextConceptMSE())
        history = model.fit(batch, batch["embeddings"], sample_weight=batch["padding_mask"].astype("float32"),
                            epochs=3, batch_size=2, verbose=0)
        losses = history.history["loss"]
        self.assertTrue(np.all(np.isfinite(losses)))
        self.assertLess(losses[-1], losses[0])
        expected = keras.ops.convert_to_numpy(model(batch))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "lcm.keras")
            model.save(path)
            restored = dlzoo.load(path)
        self.assertAllClose(restored(batch), expected, atol=1e-6)
        self.assertEqual(restored.get_config(), model.get_config())


@pytest.mark.slow
class BaseLCMToyTest(TestCase):
    def test_toy_builds_with_the_reference_count(self):
        model = dlzoo.build("lcm-base-toy")
        self.assertEqual(model.count_params(), 29_388_800)
        prenet = model.get_layer("prenet")
        self.assertEqual(prenet.position, "learned")
        table = keras.ops.convert_to_numpy(prenet.position_embedding.embeddings)
        self.assertAllClose(table.std(), 0.006, atol=2e-4, rtol=0)
        self.assertFalse(model.get_layer("decoder").transformer_layers[0].self_attention.use_output_bias)
        out = model({"embeddings": np.zeros((1, 3, 1024), "float32"), "padding_mask": np.ones((1, 3), bool)})
        self.assertEqual(tuple(out.shape), (1, 3, 1024))
