import numpy as np

import keras
from keras import ops

from dlzoo.blocks import GroupedQueryAttention
from dlzoo.blocks.attention.masks import diagonal_mask
from dlzoo.testing import TestCase


# ----------------------------------------------------------------- reference
def rope_interleaved_reference(x, positions, max_wavelength=10000.0):
    """RoPE on adjacent pairs (2i, 2i+1) as complex numbers times exp(1j*pos*theta_i)."""
    head_dim = x.shape[-1]
    theta = max_wavelength ** (-np.arange(0, head_dim, 2, dtype="float64") / head_dim)
    angles = np.asarray(positions, "float64")[:, None] * theta[None, :]  # (s, h/2)
    z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * angles)[None, :, None, :]
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


def rms_reference(x, scale, epsilon):
    return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + epsilon) * scale


def gqa_reference(
    query,
    key_value,
    w,
    num_heads,
    num_kv_heads,
    mask=None,
    bias=None,
    rope=False,
    qk_norm_epsilon=None,
    positions=None,
):
    """Grouped-query attention from the formula, float64, one head at a time.

    `w` holds NumPy copies of the weights: q/k/v/o kernels and biases (or None)
    and the qk-norm scales (or None). `mask` is bool broadcastable to
    (batch, q_len, k_len); `bias` to (batch, heads, q_len, k_len).
    """
    query = query.astype("float64")
    key_value = query if key_value is None else key_value.astype("float64")
    q = np.einsum("btd,dnh->btnh", query, w["q"]) + (0 if w["bq"] is None else w["bq"])
    k = np.einsum("bsd,dkh->bskh", key_value, w["k"]) + (0 if w["bk"] is None else w["bk"])
    v = np.einsum("bsd,dkh->bskh", key_value, w["v"]) + (0 if w["bv"] is None else w["bv"])
    if qk_norm_epsilon is not None:
        q = rms_reference(q, w["q_norm"], qk_norm_epsilon)
        k = rms_reference(k, w["k_norm"], qk_norm_epsilon)
    if rope:
        pos = np.arange(q.shape[1]) if positions is None else positions
        q = rope_interleaved_reference(q, pos)
        k = rope_interleaved_reference(k, pos)
    batch, q_len, _, head_dim = q.shape
    k_len = k.shape[1]
    group = num_heads // num_kv_heads
    mask = np.ones((batch, q_len, k_len), bool) if mask is None else np.broadcast_to(mask, (batch, q_len, k_len))
    heads = np.zeros((batch, q_len, num_heads, head_dim))
    for b in range(batch):
        for n in range(num_heads):
            kv = n // group  # query head n reads key/value head n // group
            scores = q[b, :, n] @ k[b, :, kv].T / np.sqrt(head_dim)
            if bias is not None:
                scores = scores + np.broadcast_to(bias, (batch, num_heads, q_len, k_len))[b, n]
            for i in range(q_len):
                keep = mask[b, i]
                if not keep.any():
                    continue  # a row that sees no key outputs zeros
                s = np.where(keep, scores[i], -np.inf)
                p = np.exp(s - s.max())
                p /= p.sum()
                heads[b, i, n] = p @ v[b, :, kv]
    out = np.einsum("btnh,nho->bto", heads, w["o"])
    return out + (0 if w["bo"] is None else w["bo"])


def randomize_and_read(layer, seed=0):
    """Give every weight random values (biases non-zero) and return NumPy copies."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype("float32") + (1.0 if "scale" in weight.path else 0.0))

    def get(sub, attr):
        var = getattr(sub, attr, None) if sub is not None else None
        return None if var is None else ops.convert_to_numpy(var).astype("float64")

    return {
        "q": get(layer.query_dense, "kernel"),
        "k": get(layer.key_dense, "kernel"),
        "v": get(layer.value_dense, "kernel"),
        "o": get(layer.output_dense, "kernel"),
        "bq": get(layer.query_dense, "bias"),
        "bk": get(layer.key_dense, "bias"),
        "bv": get(layer.value_dense, "bias"),
        "bo": get(layer.output_dense, "bias"),
        "q_norm": get(getattr(layer, "query_norm", None), "scale"),
        "k_norm": get(getattr(layer, "key_norm", None), "scale"),
    }


def data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


PADDING = np.array([[True, True, True, True, False], [True, True, True, False, False]])


class GroupedQueryAttentionTest(TestCase):
    # ---------------------------------------------------------------- harness
    def test_block_basics_self_attention(self):
        self.run_block_test(
            GroupedQueryAttention,
            init_kwargs={"num_heads": 4, "num_key_value_heads": 2},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=4,
            expected_num_seed_generators=0,
            call_kwargs={"use_causal_mask": True},
            run_precision_check=False,  # covered by the every-switch run (keeps JAX eager compiles down)
        )

    def test_block_basics_cross_attention(self):
        self.run_block_test(
            GroupedQueryAttention,
            init_kwargs={"num_heads": 4, "num_key_value_heads": 2, "head_dim": 6},
            input_shape={"query": (2, 5, 16), "key_value": (2, 7, 12)},
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=4,
            run_precision_check=False,  # covered by the every-switch run
        )

    def test_block_basics_every_switch(self):
        self.run_block_test(
            GroupedQueryAttention,
            init_kwargs={
                "num_heads": 4,
                "head_dim": 4,
                "num_key_value_heads": 1,
                "output_dim": 12,
                "use_qkv_bias": True,
                "use_output_bias": True,
                "use_qk_norm": True,
                "qk_norm_epsilon": 1e-5,
                "use_rotary_embedding": True,
                "rope_layout": "rotate_half",
                "rope_max_wavelength": 500.0,
                "attention_dropout": 0.1,
                "kernel_initializer": keras.initializers.VarianceScaling(0.5, "fan_avg", "uniform"),
                "output_kernel_initializer": "he_normal",
                "seed": 3,
            },
            input_shape={
                "query": (2, 5, 16),
                "padding_mask": {"shape": (2, 5), "dtype": "bool"},
                "attention_bias": (2, 4, 5, 5),
            },
            expected_output_shape=(2, 5, 12),
            expected_num_trainable_weights=10,
            expected_num_seed_generators=1,
            call_kwargs={"use_causal_mask": True},
        )

    # -------------------------------------------------------------- reference
    def check_reference(self, init_kwargs, query, key_value=None, call_kwargs=None, mask=None, bias=None, explicit=False):
        layer = GroupedQueryAttention(**init_kwargs)
        if key_value is None:
            layer.build(query.shape)
        else:
            layer.build(query.shape, key_value.shape)
        layer._force_explicit_attention = explicit
        weights = randomize_and_read(layer)
        kwargs = dict(call_kwargs or {})
        if bias is not None:
            kwargs["attention_bias"] = bias
        output = layer(query, key_value=key_value, **kwargs)
        expected = gqa_reference(
            query,
            key_value,
            weights,
            init_kwargs["num_heads"],
            init_kwargs.get("num_key_value_heads") or init_kwargs["num_heads"],
            mask=mask,
            bias=bias,
            rope=init_kwargs.get("use_rotary_embedding", False),
            qk_norm_epsilon=init_kwargs.get("qk_norm_epsilon", 1e-6) if init_kwargs.get("use_qk_norm") else None,
        )
        self.assertAllClose(output, expected, atol=1e-5, rtol=1e-5)
        return layer

    def test_matches_reference_gqa_mha_mqa(self):
        x = data(2, 5, 16)
        causal = np.tril(np.ones((5, 5), bool))[None]
        for num_kv_heads in (2, 4, 1):  # GQA, MHA, MQA (MQA fails in TF's fused op unless repeated)
            for explicit in (False, True):
                with self.subTest(num_key_value_heads=num_kv_heads, explicit=explicit):
                    self.check_reference(
                        {"num_heads": 4, "num_key_value_heads": num_kv_heads},
                        x,
                        call_kwargs={"use_causal_mask": True},
                        mask=causal,
                        explicit=explicit,
                    )

    def test_matches_reference_every_switch(self):
        x = data(2, 5, 16)
        bias = data(1, 4, 5, 5, seed=1)
        mask = np.tril(np.ones((5, 5), bool))[None] & PADDING[:, None, :]
        init = {
            "num_heads": 4,
            "num_key_value_heads": 2,
            "output_dim": 12,
            "use_qkv_bias": True,
            "use_output_bias": True,
            "use_qk_norm": True,
            "qk_norm_epsilon": 1e-5,
            "use_rotary_embedding": True,
        }
        for explicit in (False, True):
            with self.subTest(explicit=explicit):
                self.check_reference(
                    init,
                    x,
                    call_kwargs={"use_causal_mask": True, "padding_mask": PADDING},
                    mask=mask,
                    bias=bias,
                    explicit=explicit,
                )

    def test_matches_reference_masks(self):
        x = data(2, 5, 16)
        init = {"num_heads": 4, "num_key_value_heads": 1, "use_qkv_bias": True, "use_output_bias": True}
        cases = {
            "no_mask": ({}, None),
            "padding": ({"padding_mask": PADDING}, PADDING[:, None, :]),
            "diagonal_only": ({"attention_mask": diagonal_mask(5)}, np.eye(5, dtype=bool)[None]),
            "causal_and_padding": (
                {"padding_mask": PADDING, "use_causal_mask": True},
                np.tril(np.ones((5, 5), bool))[None] & PADDING[:, None, :],
            ),
        }
        for name, (call_kwargs, mask) in cases.items():
            for explicit in (False, True):
                with self.subTest(case=name, explicit=explicit):
                    self.check_reference(init, x, call_kwargs=call_kwargs, mask=mask, explicit=explicit)

    def test_matches_reference_cross_attention(self):
        x, context = data(2, 5, 16), data(2, 7, 12, seed=1)
        padding = np.array([[True] * 7, [True, True, True, False, False, False, False]])
        attention_mask = np.tril(np.ones((5, 7), bool), k=1)[None]
        init = {"num_heads": 4, "num_key_value_heads": 2, "head_dim": 4, "use_rotary_embedding": True}
        for explicit in (False, True):
            with self.subTest(explicit=explicit):
                # No RoPE in cross-attention: the reference is called with rope=False.
                layer = GroupedQueryAttention(**init)
                layer.build(x.shape, context.shape)
                layer._force_explicit_attention = explicit
                weights = randomize_and_read(layer)
                output = layer(x, key_value=context, padding_mask=padding, attention_mask=attention_mask)
                expected = gqa_reference(
                    x, context, weights, 4, 2, mask=attention_mask & padding[:, None, :]
                )
                self.assertAllClose(output, expected, atol=1e-5, rtol=1e-5)

    def test_fully_masked_rows_are_finite_zeros(self):
        x = data(2, 5, 16)
        mask = np.ones((2, 5, 5), bool)
        mask[0, 1] = False  # query 1 of sample 0 sees nothing
        bias = data(2, 4, 5, 5, seed=2)
        for explicit in (False, True):
            for attention_bias in (None, bias):
                with self.subTest(explicit=explicit, bias=attention_bias is not None):
                    layer = GroupedQueryAttention(num_heads=4, use_output_bias=True)
                    layer.build(x.shape)
                    layer._force_explicit_attention = explicit
                    layer.output_dense.bias.assign(np.arange(16, dtype="float32"))
                    out = ops.convert_to_numpy(layer(x, attention_mask=mask, attention_bias=attention_bias))
                    self.assertTrue(np.all(np.isfinite(out)))
                    np.testing.assert_allclose(out[0, 1], np.arange(16), atol=1e-6)
                    self.assertFalse(np.allclose(out[0, 0], np.arange(16)))

    def test_attention_dropout(self):
        x = data(2, 5, 16)
        layer = GroupedQueryAttention(num_heads=4, attention_dropout=0.5, seed=1)
        reference = GroupedQueryAttention(num_heads=4)
        layer.build(x.shape)
        reference.build(x.shape)
        reference.set_weights(layer.get_weights())
        inference = layer(x, use_causal_mask=True, training=False)
        self.assertAllClose(inference, reference(x, use_causal_mask=True), atol=1e-6)
        trained = ops.convert_to_numpy(layer(x, use_causal_mask=True, training=True))
        self.assertTrue(np.all(np.isfinite(trained)))
        self.assertFalse(np.allclose(trained, ops.convert_to_numpy(inference), atol=1e-3))

    # ------------------------------------------------------------ KV cache
    def check_cache_equivalence(self, init_kwargs, chunks):
        x = data(2, 5, 16, seed=4)
        layer = GroupedQueryAttention(**init_kwargs)
        layer.build(x.shape)
        randomize_and_read(layer, seed=5)
        full = ops.convert_to_numpy(layer(x, use_causal_mask=True))
        num_kv = init_kwargs.get("num_key_value_heads") or init_kwargs["num_heads"]
        max_len = 6  # longer than the sequence: trailing slots stay unfilled
        cache = ops.zeros((2, 2, max_len, num_kv, layer._head_dim))
        outputs, start = [], 0
        for size in chunks:
            # A Python int first, then scalar tensors (as in a compiled decoding loop).
            index = start if start == 0 else ops.convert_to_tensor(start, dtype="int32")
            out, cache = layer(x[:, start : start + size], cache=cache, cache_update_index=index, use_causal_mask=True)
            self.assertEqual(tuple(cache.shape), (2, 2, max_len, num_kv, layer._head_dim))
            outputs.append(ops.convert_to_numpy(out))
            start += size
        self.assertAllClose(np.concatenate(outputs, axis=1), full, atol=1e-5, rtol=1e-5)

    def test_cache_matches_full_causal_pass(self):
        gqa = {
            "num_heads": 4,
            "num_key_value_heads": 2,
            "use_rotary_embedding": True,
            "use_qk_norm": True,
            "use_qkv_bias": True,
        }
        # Chunks of 2 (prefill) or 1 (token by token) written into a cache longer than the sequence.
        cases = [
            ("gqa_rope_qk_norm", gqa, (2, 1, 1, 1)),
            ("mha_rope", {"num_heads": 4, "use_rotary_embedding": True}, (1, 1, 1, 2)),
            ("mqa", {"num_heads": 4, "num_key_value_heads": 1}, (2, 1, 1, 1)),
        ]
        for name, init_kwargs, chunks in cases:
            with self.subTest(config=name, chunks=chunks):
                self.check_cache_equivalence(init_kwargs, chunks)

    def test_cache_without_causal_mask_ignores_unfilled_slots(self):
        x = data(2, 5, 16)
        layer = GroupedQueryAttention(num_heads=4)
        full = layer(x)  # bidirectional over the 5 positions
        cache = ops.ones((2, 2, 6, 4, 4)) * 100.0  # garbage in the unfilled slot
        out, _ = layer(x, cache=cache, cache_update_index=0)
        self.assertAllClose(out, full, atol=1e-5)

    def test_cross_attention_cache(self):
        x, context = data(2, 5, 16), data(2, 7, 12, seed=1)
        layer = GroupedQueryAttention(num_heads=4, num_key_value_heads=1, use_qk_norm=True)
        expected = layer(x, key_value=context)
        cache = ops.zeros((2, 2, 7, 1, 4))
        _, cache = layer(x, key_value=context, cache=cache, cache_update_index=0)
        out, same_cache = layer(x[:, 1:2], cache=cache, key_value=context)
        self.assertAllClose(out, ops.convert_to_numpy(expected)[:, 1:2], atol=1e-5)
        self.assertAllClose(same_cache, cache, atol=0)

    # ------------------------------------------------------------- weights
    def test_bias_switches_change_weight_counts_exactly(self):
        n, k, h, d, o = 4, 2, 4, 16, 12
        base_kwargs = {"num_heads": n, "num_key_value_heads": k, "head_dim": h, "output_dim": o}
        counts = {}
        for qkv in (False, True):
            for out in (False, True):
                layer = GroupedQueryAttention(use_qkv_bias=qkv, use_output_bias=out, **base_kwargs)
                layer.build((2, 5, d))
                counts[qkv, out] = layer.count_params()
                self.assertEqual(layer.count_params_for((2, 5, d)), counts[qkv, out])
        base = d * n * h + 2 * d * k * h + n * h * o
        self.assertEqual(counts[False, False], base)
        self.assertEqual(counts[True, False] - counts[False, False], n * h + 2 * k * h)
        self.assertEqual(counts[False, True] - counts[False, False], o)
        self.assertEqual(counts[True, True], base + n * h + 2 * k * h + o)
        with_norm = GroupedQueryAttention(use_qk_norm=True, **base_kwargs)
        self.assertEqual(with_norm.count_params_for((2, 5, d)), base + 2 * h)

    def test_default_head_dim_and_output_dim(self):
        layer = GroupedQueryAttention(num_heads=4, num_key_value_heads=2)
        out = layer(data(2, 5, 16), key_value=data(2, 7, 12))
        self.assertEqual(tuple(out.shape), (2, 5, 16))
        self.assertEqual(tuple(layer.query_dense.kernel.shape), (16, 4, 4))
        self.assertEqual(tuple(layer.key_dense.kernel.shape), (12, 2, 4))
        self.assertEqual(tuple(layer.output_dense.kernel.shape), (4, 4, 16))

    def test_projections_get_different_initial_kernels(self):
        layer = GroupedQueryAttention(num_heads=4, kernel_initializer=keras.initializers.GlorotUniform())
        layer.build((2, 5, 16))
        q, k = (ops.convert_to_numpy(layer.query_dense.kernel), ops.convert_to_numpy(layer.key_dense.kernel))
        self.assertFalse(np.allclose(q, k))

    # --------------------------------------------------------------- errors
    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "num_key_value_heads", "num_heads", "3"):
            GroupedQueryAttention(num_heads=4, num_key_value_heads=3)
        with self.assertRaisesNamed(ValueError, "num_heads", "head_dim", "10"):
            GroupedQueryAttention(num_heads=4).build((2, 3, 10))
        with self.assertRaisesNamed(ValueError, "num_heads", "head_dim"):
            GroupedQueryAttention(num_heads=4).count_params_for((2, 3, 10))
        with self.assertRaisesNamed(ValueError, "num_heads"):
            GroupedQueryAttention(num_heads=0)
        with self.assertRaisesNamed(TypeError, "head_dim"):
            GroupedQueryAttention(num_heads=2, head_dim=2.5)
        with self.assertRaisesNamed(ValueError, "rope_layout", "rotate_half"):
            GroupedQueryAttention(num_heads=2, rope_layout="neox")
        with self.assertRaisesNamed(ValueError, "qk_norm", "rms_norm"):
            GroupedQueryAttention(num_heads=2, qk_norm="rms_nrom")
        with self.assertRaisesNamed(ValueError, "attention_dropout"):
            GroupedQueryAttention(num_heads=2, attention_dropout=1.0)
        with self.assertRaisesNamed(TypeError, "use_qkv_bias"):
            GroupedQueryAttention(num_heads=2, use_qkv_bias="yes")
        with self.assertRaisesNamed(ValueError, "cache_update_index"):
            GroupedQueryAttention(num_heads=2)(data(1, 2, 4), cache=ops.zeros((1, 2, 4, 2, 2)))
