import numpy as np

import keras

from dlzoo.blocks import AdaLNZero, LayerNorm, modulate
from dlzoo.testing import TestCase


def silu(x):
    return x / (1.0 + np.exp(-x))


def ada_ln_zero_reference(condition, kernel, bias, hidden_dim, num_groups):
    """DiT adaLN (Peebles & Xie 2023, sec. 3.2) in float64: chunks of SiLU(c) W + b.

    Returns a list of `num_groups` dicts {"shift", "scale", "gate"}, built by
    slicing the linear output at the documented offsets.
    """
    m = silu(condition.astype("float64")) @ kernel.astype("float64") + bias
    groups = []
    for g in range(num_groups):
        chunk = {}
        for j, role in enumerate(("shift", "scale", "gate")):
            start = (3 * g + j) * hidden_dim
            chunk[role] = m[..., start : start + hidden_dim]
        groups.append(chunk)
    return groups


class AdaLNZeroTest(TestCase):
    def test_block_basics(self):
        # Outputs are zero at init; the harness fit step (nonzero random targets)
        # must still move the modulator's kernel and bias.
        self.run_block_test(
            AdaLNZero,
            init_kwargs={"hidden_dim": 8, "num_groups": 3},
            input_shape=(2, 16),
            expected_output_shape=(2, 8),
            expected_num_trainable_weights=2,
        )

    def test_block_basics_per_position_without_bias(self):
        self.run_block_test(
            AdaLNZero,
            init_kwargs={"hidden_dim": 4, "num_groups": 1, "use_bias": False},
            input_shape=(2, 5, 6),
            expected_output_shape=(2, 5, 4),
            expected_num_trainable_weights=1,
        )

    def test_block_basics_without_gate(self):
        self.run_block_test(
            AdaLNZero,
            init_kwargs={"hidden_dim": 8, "use_gate": False},
            input_shape=(2, 16),
            expected_output_shape=(2, 8),
            expected_num_trainable_weights=2,
        )

    def test_without_gate_gives_shift_then_scale(self):
        # DiT's final layer: `shift, scale = adaLN_modulation(c).chunk(2, dim=1)`.
        hidden_dim, cond_dim = 4, 5
        rng = np.random.default_rng(4)
        condition = rng.standard_normal((3, cond_dim)).astype("float32")
        kernel = rng.standard_normal((cond_dim, 2 * hidden_dim)).astype("float32")
        bias = rng.standard_normal((2 * hidden_dim,)).astype("float32")
        layer = AdaLNZero(hidden_dim=hidden_dim, use_gate=False)
        layer.build(condition.shape)
        layer.modulation.kernel.assign(kernel)
        layer.modulation.bias.assign(bias)
        shift, scale = layer(condition)
        m = silu(condition.astype("float64")) @ kernel + bias
        self.assertAllClose(shift, m[:, :hidden_dim], atol=1e-5)
        self.assertAllClose(scale, m[:, hidden_dim:], atol=1e-5)
        self.assertEqual(layer.count_params_for((3, cond_dim)), cond_dim * 8 + 8)

    def test_zero_at_init(self):
        layer = AdaLNZero(hidden_dim=4, num_groups=2)
        outputs = layer(np.random.default_rng(0).standard_normal((3, 5)).astype("float32"))
        self.assertEqual(len(outputs), 6)
        for out in outputs:
            self.assertEqual(tuple(out.shape), (3, 4))
            self.assertAllClose(out, np.zeros((3, 4)), atol=0)
        for w in layer.weights:
            self.assertAllClose(w, np.zeros(w.shape), atol=0)

    def test_split_order_matches_numpy_reference(self):
        hidden_dim, num_groups, cond_dim = 4, 3, 5
        rng = np.random.default_rng(1)
        condition = rng.standard_normal((2, 7, cond_dim)).astype("float32")
        kernel = rng.standard_normal((cond_dim, 3 * num_groups * hidden_dim)).astype("float32")
        bias = rng.standard_normal((3 * num_groups * hidden_dim,)).astype("float32")
        layer = AdaLNZero(hidden_dim=hidden_dim, num_groups=num_groups)
        layer.build(condition.shape)
        layer.modulation.kernel.assign(kernel)
        layer.modulation.bias.assign(bias)
        outputs = layer(condition)
        self.assertEqual(len(outputs), 9)
        expected = ada_ln_zero_reference(condition, kernel, bias, hidden_dim, num_groups)
        for g in range(num_groups):
            for j, role in enumerate(("shift", "scale", "gate")):
                self.assertAllClose(
                    outputs[3 * g + j], expected[g][role], atol=1e-5, msg=f"group {g} {role}"
                )

    def test_chunk_k_is_kth_slice_of_the_linear(self):
        # With a zero kernel and bias = chunk index, output k must be all k:
        # (self-attn shift, scale, gate, cross-attn shift, ..., FFN gate).
        layer = AdaLNZero(hidden_dim=3, num_groups=3)
        layer.build((2, 4))
        layer.modulation.bias.assign(np.repeat(np.arange(9, dtype="float32"), 3))
        outputs = layer(np.ones((2, 4), dtype="float32"))
        for k, out in enumerate(outputs):
            self.assertAllClose(out, np.full((2, 3), float(k)), atol=0)

    def test_modulate_matches_numpy_reference(self):
        rng = np.random.default_rng(2)
        x = rng.standard_normal((3, 3, 4)).astype("float32")
        shift = rng.standard_normal((3, 4)).astype("float32")
        scale = rng.standard_normal((3, 4)).astype("float32")
        # Per-example modulation broadcasts over positions (batch == seq_len
        # here, so a plain broadcast against the sequence axis would differ).
        expected = x.astype("float64") * (1.0 + scale[:, None, :]) + shift[:, None, :]
        self.assertAllClose(modulate(x, shift, scale), expected, atol=1e-6)
        # Per-position modulation (same rank).
        shift3 = rng.standard_normal((3, 3, 4)).astype("float32")
        scale3 = rng.standard_normal((3, 3, 4)).astype("float32")
        expected3 = x.astype("float64") * (1.0 + scale3) + shift3
        self.assertAllClose(modulate(x, shift3, scale3), expected3, atol=1e-6)

    def test_gated_residual_is_identity_at_init(self):
        hidden_dim = 8
        rng = np.random.default_rng(3)
        x = rng.standard_normal((2, 5, hidden_dim)).astype("float32")
        c = rng.standard_normal((2, 5, 6)).astype("float32")
        norm = LayerNorm()
        sublayer = keras.layers.Dense(hidden_dim)
        shift, scale, gate = AdaLNZero(hidden_dim=hidden_dim)(c)
        y = keras.ops.add(x, gate * sublayer(modulate(norm(x), shift, scale)))
        self.assertAllClose(y, x, atol=0)

    def test_count_params_for(self):
        layer = AdaLNZero(hidden_dim=8, num_groups=3)
        self.assertEqual(layer.count_params_for((2, 16)), 16 * 72 + 72)
        layer.build((2, 16))
        self.assertEqual(layer.count_params(), 16 * 72 + 72)
        no_bias = AdaLNZero(hidden_dim=8, use_bias=False)
        self.assertEqual(no_bias.count_params_for((2, 5, 16)), 16 * 24)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "hidden_dim", "0"):
            AdaLNZero(hidden_dim=0)
        with self.assertRaisesNamed(TypeError, "hidden_dim"):
            AdaLNZero(hidden_dim=8.0)
        with self.assertRaisesNamed(ValueError, "num_groups", "0"):
            AdaLNZero(hidden_dim=8, num_groups=0)
        with self.assertRaisesNamed(TypeError, "use_bias"):
            AdaLNZero(hidden_dim=8, use_bias="no")
        with self.assertRaisesNamed(TypeError, "use_gate"):
            AdaLNZero(hidden_dim=8, use_gate=1)
        with self.assertRaisesNamed(ValueError, "shift"):
            modulate(np.ones((2, 4)), np.ones((2, 3, 4)), np.ones((2, 3, 4)))
