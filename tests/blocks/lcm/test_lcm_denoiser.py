"""LCMDenoiser: harness, NumPy reference at init, masks (zero key, shifted causal, diagonal), CF dropout."""

import numpy as np

import keras

from dlzoo.blocks.lcm import LCMDenoiser, prepend_zero_key
from dlzoo.testing import TestCase

SMALL = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "intermediate_dim": 32, "timestep_frequency_dim": 8}


def rms_norm(x, w, eps=1e-5):
    return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps) * w


def _randomize(layer, seed=0, scale=0.3):
    """Give every weight (including the zero-initialised AdaLN modulators) random values."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.standard_normal(w.shape).astype("float32") * scale)


def _inputs(b=2, n=5, s=12, d=16, m=None, seed=0):
    rng = np.random.default_rng(seed)
    m = n if m is None else m
    return (
        rng.standard_normal((b, n, s)).astype("float32"),
        rng.integers(0, 100, (b, n)).astype("int32"),
        rng.standard_normal((b, m, d)).astype("float32"),
    )


class LCMDenoiserTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            LCMDenoiser,
            init_kwargs=dict(SMALL, dropout=0.1, seed=1),
            input_data={
                "noisy": np.random.default_rng(0).standard_normal((2, 5, 12)).astype("float32"),
                "timesteps": np.random.default_rng(1).integers(0, 100, (2, 5)).astype("int32"),
                "context": np.random.default_rng(2).standard_normal((2, 5, 16)).astype("float32"),
                "context_padding_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool),
            },
            expected_output_shape=(2, 5, 12),
            # AdaLN-Zero: gates start at zero, so the gated sub-layers get no gradient on step one.
            weights_without_gradient=("self_attention", "cross_attention", "feedforward", "timestep_embedding"),
        )

    def test_block_basics_with_guidance_dropout(self):
        self.run_block_test(
            LCMDenoiser,
            init_kwargs=dict(SMALL, cf_guidance_probability=0.5, norm="layer_norm", feedforward="mlp", seed=2),
            input_data={"noisy": _inputs()[0], "timesteps": _inputs()[1], "context": _inputs()[2]},
            expected_output_shape=(2, 5, 12),
            weights_without_gradient=("self_attention", "cross_attention", "feedforward", "timestep_embedding"),
            run_precision_check=False,
            run_saving_check=False,
        )

    def test_matches_numpy_reference_at_init(self):
        # AdaLN-Zero makes every layer the identity at init, so the denoiser is
        # final_proj(final_norm(initial_proj(x))), whatever the timesteps and the context.
        x, t, ctx = _inputs()
        layer = LCMDenoiser(**SMALL)
        out = layer(x, timesteps=t, context=ctx)
        w_in, b_in = (np.asarray(v) for v in (layer.initial_proj.kernel, layer.initial_proj.bias))
        w_out, b_out = (np.asarray(v) for v in (layer.final_proj.kernel, layer.final_proj.bias))
        scale = np.asarray(layer.stack.final_norm.scale)
        expected = rms_norm(x.astype("float64") @ w_in + b_in, scale) @ w_out + b_out
        self.assertAllClose(out, expected, atol=1e-4)
        other = layer(x, timesteps=t[:, ::-1].copy(), context=-ctx)
        self.assertAllClose(other, out, atol=1e-5)

    def test_cross_attention_is_shifted_causal_with_a_zero_key(self):
        x, t, ctx = _inputs(b=1, n=5)
        layer = LCMDenoiser(**SMALL)
        layer(x, timesteps=t, context=ctx)
        _randomize(layer)
        base = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=ctx))
        for j in range(5):
            changed = ctx.copy()
            changed[:, j] += 3.0
            out = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=changed))
            moved = np.abs(out - base).max(axis=-1)[0] > 1e-5
            # Row i sees context positions < i only: changing position j moves rows j+1.. only.
            self.assertEqual(moved.tolist(), [i > j for i in range(5)])
        # Row 0 sees only the prepended zero vector: the same as with an all-zero context.
        zero = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=np.zeros_like(ctx)))
        self.assertAllClose(zero[:, 0], base[:, 0], atol=1e-5)

    def test_source_lengths_shift_the_mask(self):
        x, t, ctx = _inputs(b=2, n=3, m=6)
        layer = LCMDenoiser(**SMALL)
        layer(x, timesteps=t, context=ctx)
        _randomize(layer, seed=1)
        shift = np.array([3, 1], "int32")
        base = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=ctx, source_lengths=shift))
        changed = ctx.copy()
        changed[:, 3] += 3.0  # context position 3 is key 4: visible to row i when 4 <= i + shift
        out = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=changed, source_lengths=shift))
        moved = np.abs(out - base).max(axis=-1) > 1e-5
        self.assertEqual(moved.tolist(), [[i + 3 >= 4 for i in range(3)], [i + 1 >= 4 for i in range(3)]])

    def test_inference_mode_sees_the_whole_context(self):
        x, t, ctx = _inputs(b=1, n=1, m=4)
        layer = LCMDenoiser(**SMALL)
        layer(x, timesteps=t, context=ctx, causal=False)
        _randomize(layer, seed=2)
        base = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=ctx, causal=False))
        changed = ctx.copy()
        changed[:, 3] += 3.0
        out = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=changed, causal=False))
        self.assertGreater(np.abs(out - base).max(), 1e-4)
        masked = np.array([[1, 1, 1, 0]], bool)
        a = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=ctx, context_padding_mask=masked, causal=False))
        b = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=changed, context_padding_mask=masked, causal=False))
        self.assertAllClose(a, b, atol=1e-6)

    def test_self_attention_is_diagonal(self):
        x, t, ctx = _inputs(b=1, n=4)
        layer = LCMDenoiser(**SMALL)
        layer(x, timesteps=t, context=ctx)
        _randomize(layer, seed=3)
        base = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=ctx))
        changed = x.copy()
        changed[:, 2] += 1.0
        out = keras.ops.convert_to_numpy(layer(changed, timesteps=t, context=ctx))
        moved = np.abs(out - base).max(axis=-1)[0] > 1e-6
        self.assertEqual(moved.tolist(), [False, False, True, False])

    def test_guidance_dropout_rows(self):
        n, p = 11, 0.3  # floor(10 * 0.3) = 3 rows dropped, never row 0
        x, t, ctx = _inputs(b=2, n=n)
        layer = LCMDenoiser(**dict(SMALL, cf_guidance_probability=p, dropout=0.0, seed=5))
        layer(x, timesteps=t, context=ctx)
        _randomize(layer, seed=4)
        zero = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=np.zeros_like(ctx)))
        seen = set()
        for _ in range(4):
            out = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=ctx, training=True))
            unconditional = np.abs(out - zero).max(axis=-1) < 1e-5  # (b, n): sees only the zero key
            self.assertTrue(unconditional[:, 0].all())
            dropped = np.flatnonzero(unconditional[0, 1:]) + 1
            self.assertEqual(len(dropped), 3)
            self.assertEqual(unconditional[0].tolist(), unconditional[1].tolist())  # same rows for the batch
            seen.add(tuple(dropped))
        self.assertGreater(len(seen), 1)  # rows are re-drawn
        eval_out = keras.ops.convert_to_numpy(layer(x, timesteps=t, context=ctx))
        self.assertEqual(int((np.abs(eval_out - zero).max(axis=-1) < 1e-5)[0, 1:].sum()), 0)

    def test_prepend_zero_key(self):
        ctx = np.ones((2, 3, 4), "float32")
        keys, mask = prepend_zero_key(ctx, np.array([[1, 1, 0], [1, 0, 0]], bool))
        self.assertEqual(tuple(keys.shape), (2, 4, 4))
        self.assertAllClose(keras.ops.convert_to_numpy(keys)[:, 0], np.zeros((2, 4)))
        self.assertEqual(keras.ops.convert_to_numpy(mask).tolist(), [[True, True, True, False], [True, True, False, False]])

    def test_count_params_for(self):
        # Closed form of lcm.md 7 for a denoiser: timestep MLP + in/out projections + L * E + final norm.
        s, d, f, L = 12, 16, 64, 2
        layer = LCMDenoiser(hidden_dim=d, num_layers=L, num_heads=2, intermediate_dim=96,
                            feedforward_kwargs={"use_bias": True, "width_factor": 2 / 3, "multiple_of": 16},
                            attention_kwargs={"use_qkv_bias": True, "use_output_bias": True})
        E = 17 * d * d + 3 * d * f + 2 * f + 21 * d
        expected = (256 * d + d + d * d + d) + (s * d + d) + (d * s + s) + L * E + d
        self.assertEqual(layer.count_params_for((None, None, s), context_shape=(None, None, d)), expected)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "cf_guidance_probability"):
            LCMDenoiser(**dict(SMALL, cf_guidance_probability=1.0))
        with self.assertRaisesNamed(ValueError, "hidden_dim"):
            LCMDenoiser(**dict(SMALL, hidden_dim=0))
        with self.assertRaisesNamed(ValueError, "num_heads"):
            LCMDenoiser(**dict(SMALL, num_heads=0))
