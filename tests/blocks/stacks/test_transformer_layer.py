import numpy as np

from keras import ops

from dlzoo.blocks import TransformerLayer
from dlzoo.testing import TestCase


# ----------------------------------------------------------------- reference
# Float64 NumPy forward of one layer, written from the formulas:
# pre-norm  x + Sub(Norm(x))          (Xiong et al., 2020)
# post-norm Norm(x + Sub(x))          (Vaswani et al., 2017)
# AdaLN-Zero x + gate * Sub(Norm(x) * (1 + scale) + shift)  (Peebles & Xie, 2023)
def norm_reference(kind, x, p, epsilon):
    if kind == "layer_norm":
        centred = x - x.mean(-1, keepdims=True)
        y = centred / np.sqrt((centred**2).mean(-1, keepdims=True) + epsilon)
        return y * p["scale"] + p["bias"]
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + epsilon) * p["scale"]


def attention_reference(query, key_value, p, num_heads, num_kv_heads, mask):
    """softmax(q k^T / sqrt(h)) v per head; query head n reads kv head n // group."""
    q = np.einsum("btd,dnh->btnh", query, p["q"]) + p["bq"]
    k = np.einsum("bsd,dkh->bskh", key_value, p["k"]) + p["bk"]
    v = np.einsum("bsd,dkh->bskh", key_value, p["v"]) + p["bv"]
    group = num_heads // num_kv_heads
    k, v = np.repeat(k, group, axis=2), np.repeat(v, group, axis=2)
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    mask = np.broadcast_to(mask, (query.shape[0], query.shape[1], key_value.shape[1]))[:, None]
    scores = np.where(mask, scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs = probs / probs.sum(-1, keepdims=True)
    heads = np.einsum("bnts,bsnh->btnh", probs, v)
    return np.einsum("btnh,nho->bto", heads, p["o"]) + p["bo"]


def feedforward_reference(kind, x, p):
    if kind == "mlp":  # activation "relu"
        return np.maximum(x @ p["inner"] + p["b_inner"], 0.0) @ p["output"] + p["b_output"]
    gate = x @ p["gate"] + p["b_gate"]  # swiglu
    return (gate / (1.0 + np.exp(-gate)) * (x @ p["inner"] + p["b_inner"])) @ p["output"] + p["b_output"]


def layer_reference(x, p, cfg, self_mask, context=None, cross_mask=None, condition=None):
    x = x.astype("float64")
    norm, eps, heads, kv = cfg["norm"], cfg["epsilon"], cfg["num_heads"], cfg["num_kv_heads"]
    chunks = None
    if condition is not None:
        c = condition.astype("float64")
        m = (c / (1.0 + np.exp(-c))) @ p["mod_kernel"] + p["mod_bias"]  # Linear(SiLU(c))
        chunks = np.split(m, m.shape[-1] // x.shape[-1], axis=-1)
        if chunks[0].ndim < x.ndim:
            chunks = [ch[:, None, :] for ch in chunks]

    def residual(x, group, norm_p, sub):
        if cfg["position"] == "post":
            return norm_reference(norm, x + sub(x), norm_p, eps)
        h = norm_reference(norm, x, norm_p, eps)
        if chunks is None:
            return x + sub(h)
        shift, scale, gate = chunks[3 * group : 3 * group + 3]
        return x + gate * sub(h * (1.0 + scale) + shift)

    x = residual(x, 0, p["self_norm"], lambda h: attention_reference(h, h, p["self_attn"], heads, kv, self_mask))
    group = 1
    if context is not None:
        ctx = context.astype("float64")
        x = residual(x, 1, p["cross_norm"], lambda h: attention_reference(h, ctx, p["cross_attn"], heads, kv, cross_mask))
        group = 2
    return residual(x, group, p["ffn_norm"], lambda h: feedforward_reference(cfg["feedforward"], h, p["ffn"]))


def randomize_and_read(layer, seed=0):
    """Random values for every weight (norm scales around 1), read back as float64 NumPy."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        offset = 1.0 if weight.path.endswith("scale") else 0.0
        weight.assign(rng.normal(0.0, 0.25, weight.shape).astype("float32") + offset)

    def get(var, default=0.0):
        return default if var is None else ops.convert_to_numpy(var).astype("float64")

    def norm(n):
        return {"scale": get(n.scale), "bias": get(getattr(n, "bias", None))}

    def attention(a):
        return {
            "q": get(a.query_dense.kernel),
            "k": get(a.key_dense.kernel),
            "v": get(a.value_dense.kernel),
            "o": get(a.output_dense.kernel),
            "bq": get(a.query_dense.bias),
            "bk": get(a.key_dense.bias),
            "bv": get(a.value_dense.bias),
            "bo": get(a.output_dense.bias),
        }

    ffn = layer.feedforward_block
    p = {
        "self_norm": norm(layer.self_attention_norm),
        "self_attn": attention(layer.self_attention),
        "ffn_norm": norm(layer.feedforward_norm),
        "ffn": {
            "inner": get(ffn.inner_proj.kernel),
            "b_inner": get(ffn.inner_proj.bias),
            "output": get(ffn.output_proj.kernel),
            "b_output": get(ffn.output_proj.bias),
        },
    }
    if hasattr(ffn, "gate_proj"):
        p["ffn"].update(gate=get(ffn.gate_proj.kernel), b_gate=get(ffn.gate_proj.bias))
    if layer.use_cross_attention:
        p["cross_norm"] = norm(layer.cross_attention_norm)
        p["cross_attn"] = attention(layer.cross_attention)
    if layer.use_adaptive_norm:
        p["mod_kernel"] = get(layer.adaptive_modulation.modulation.kernel)
        p["mod_bias"] = get(layer.adaptive_modulation.modulation.bias)
    return p


def data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


PADDING = np.array([[True, True, True, True, True], [True, True, True, False, False]])
CAUSAL = np.tril(np.ones((5, 5), bool))[None]
BIAS_ON = {"use_qkv_bias": True, "use_output_bias": True}
LLAMA_LIKE = {
    "num_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_dim": 24,
    "norm": "rms_norm",
    "feedforward": "swiglu",
    "feedforward_kwargs": {"width_factor": 0.6667, "multiple_of": 8, "use_bias": False},
    "attention_kwargs": {"use_rotary_embedding": True, "rope_layout": "interleaved"},
}
DENOISER_LIKE = {
    "num_heads": 2,
    "intermediate_dim": 32,
    "norm": "rms_norm",
    "feedforward": "swiglu",
    "self_attention_mask": "diagonal",
    "use_cross_attention": True,
    "use_adaptive_norm": True,
    "attention_kwargs": BIAS_ON,
}


class TransformerLayerTest(TestCase):
    # ---------------------------------------------------------------- harness
    def test_block_basics_pre_norm(self):
        self.run_block_test(
            TransformerLayer,
            init_kwargs={
                "num_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_dim": 32,
                "dropout": 0.1,
                "attention_dropout": 0.1,
                "drop_path_rate": 0.1,
                "layer_scale_init_value": 0.1,
                "seed": 3,
            },
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            # 2 norms x 2 + attention 4 kernels + MLP 4 + 2 LayerScales.
            expected_num_trainable_weights=14,
            expected_num_seed_generators=3,
        )

    def test_block_basics_post_norm_with_padding(self):
        self.run_block_test(
            TransformerLayer,
            init_kwargs={
                "num_heads": 2,
                "intermediate_dim": 32,
                "norm_position": "post",
                "self_attention_mask": "bidirectional",
                "feedforward_kwargs": {"activation": "relu"},
                "attention_kwargs": BIAS_ON,
            },
            input_data={"inputs": data(2, 5, 16), "padding_mask": PADDING},
            expected_output_shape=(2, 5, 16),
        )

    def test_block_basics_llama_like(self):
        self.run_block_test(
            TransformerLayer,
            init_kwargs=LLAMA_LIKE,
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            # 2 RMS scales + 4 attention kernels + 3 SwiGLU kernels.
            expected_num_trainable_weights=9,
        )

    def test_block_basics_denoiser_like(self):
        self.run_block_test(
            TransformerLayer,
            init_kwargs=DENOISER_LIKE,
            input_data={"inputs": data(2, 5, 16), "context": data(2, 4, 12, seed=1), "condition": data(2, 5, 8, seed=2)},
            expected_output_shape=(2, 5, 16),
            # AdaLN-Zero: the zero gates stop gradients to every sub-block on step one.
            weights_without_gradient=("self_attention", "cross_attention", "feedforward"),
        )

    def test_block_basics_mixture_of_experts(self):
        self.run_block_test(
            TransformerLayer,
            init_kwargs={
                "num_heads": 2,
                "intermediate_dim": 16,
                "feedforward": "mixture_of_experts",
                "feedforward_kwargs": {"num_experts": 2, "top_k": 2, "expert": "mlp"},
            },
            input_shape=(2, 4, 8),
            expected_output_shape=(2, 4, 8),
        )

    # -------------------------------------------------------------- reference
    def test_pre_norm_matches_numpy_reference(self):
        x = data(2, 5, 16)
        layer = TransformerLayer(
            num_heads=4,
            num_key_value_heads=2,
            intermediate_dim=24,
            feedforward_kwargs={"activation": "relu"},
            attention_kwargs=BIAS_ON,
        )
        layer.build(x.shape)
        p = randomize_and_read(layer)
        cfg = {"norm": "layer_norm", "epsilon": 1e-5, "num_heads": 4, "num_kv_heads": 2, "position": "pre", "feedforward": "mlp"}
        expected = layer_reference(x, p, cfg, CAUSAL & PADDING[:, None, :])
        self.assertAllClose(layer(x, padding_mask=PADDING), expected, atol=1e-4, rtol=1e-4)

    def test_post_norm_rms_swiglu_matches_numpy_reference(self):
        x = data(2, 5, 16, seed=4)
        layer = TransformerLayer(
            num_heads=2,
            intermediate_dim=24,
            norm="rms_norm",
            norm_epsilon=1e-6,
            norm_position="post",
            feedforward="swiglu",
            self_attention_mask="bidirectional",
        )
        layer.build(x.shape)
        p = randomize_and_read(layer, seed=5)
        cfg = {"norm": "rms_norm", "epsilon": 1e-6, "num_heads": 2, "num_kv_heads": 2, "position": "post", "feedforward": "swiglu"}
        expected = layer_reference(x, p, cfg, np.ones((1, 5, 5), bool))
        self.assertAllClose(layer(x), expected, atol=1e-4, rtol=1e-4)

    def test_adaptive_cross_attention_matches_numpy_reference(self):
        # Random (non-zero) modulator weights check the chunk order:
        # (self-attention, cross-attention, FFN) x (shift, scale, gate).
        x, context, condition = data(2, 5, 16), data(2, 4, 12, seed=1), data(2, 8, seed=2)
        context_padding = np.array([[True, True, True, True], [True, True, False, False]])
        cross_mask = np.tril(np.ones((5, 4), bool), k=0)[None]
        layer = TransformerLayer(**DENOISER_LIKE)
        layer.build(x.shape, context_shape=context.shape, condition_shape=condition.shape)
        p = randomize_and_read(layer, seed=7)
        cfg = {"norm": "rms_norm", "epsilon": 1e-5, "num_heads": 2, "num_kv_heads": 2, "position": "pre", "feedforward": "swiglu"}
        expected = layer_reference(
            x,
            p,
            cfg,
            np.eye(5, dtype=bool)[None],
            context=context,
            cross_mask=cross_mask & context_padding[:, None, :],
            condition=condition,
        )
        out = layer(
            x,
            context=context,
            context_padding_mask=context_padding,
            cross_attention_mask=cross_mask,
            condition=condition,
        )
        self.assertAllClose(out, expected, atol=1e-4, rtol=1e-4)

    # ------------------------------------------------------------- properties
    def test_causal_future_token_does_not_change_the_past(self):
        layer = TransformerLayer(**LLAMA_LIKE)
        x = data(2, 6, 16)
        changed = x.copy()
        changed[:, 3] += 1.0
        before, after = ops.convert_to_numpy(layer(x)), ops.convert_to_numpy(layer(changed))
        self.assertAllClose(after[:, :3], before[:, :3], atol=1e-5)
        self.assertGreater(np.abs(after[:, 3:] - before[:, 3:]).min(), 0.0)

    def test_diagonal_mask_is_per_position(self):
        layer = TransformerLayer(num_heads=2, intermediate_dim=16, self_attention_mask="diagonal")
        x = data(2, 5, 8)
        out = ops.convert_to_numpy(layer(x))
        for i in range(5):
            self.assertAllClose(out[:, i : i + 1], layer(x[:, i : i + 1]), atol=1e-5)
        # Padding cannot leak into a diagonal mask: it is ignored.
        self.assertAllClose(layer(x, padding_mask=PADDING), out, atol=1e-6)
        bidirectional = TransformerLayer(num_heads=2, intermediate_dim=16, self_attention_mask="bidirectional")
        bidirectional.build(x.shape)
        bidirectional.set_weights(layer.get_weights())
        self.assertGreater(np.abs(ops.convert_to_numpy(bidirectional(x)) - out).max(), 1e-3)

    def test_padded_keys_are_ignored(self):
        layer = TransformerLayer(num_heads=2, intermediate_dim=16, self_attention_mask="bidirectional")
        x = data(2, 5, 8)
        changed = x.copy()
        changed[1, 3:] = 100.0  # padding positions of sample 1
        out = ops.convert_to_numpy(layer(x, padding_mask=PADDING))
        out_changed = ops.convert_to_numpy(layer(changed, padding_mask=PADDING))
        self.assertAllClose(out_changed[1, :3], out[1, :3], atol=1e-5)
        self.assertAllClose(out[1:, :3], layer(x[1:, :3]), atol=1e-5)
        self.assertAllClose(out[:1], layer(x[:1]), atol=1e-5)

    def test_adaptive_norm_is_identity_at_init(self):
        layer = TransformerLayer(**DENOISER_LIKE)
        x, context, condition = data(2, 5, 16), data(2, 4, 12, seed=1), data(2, 5, 8, seed=2)
        self.assertAllClose(layer(x, context=context, condition=condition), x, atol=0.0, rtol=0.0)
        # Per-example conditions broadcast over positions.
        other = TransformerLayer(**DENOISER_LIKE)
        self.assertAllClose(other(x, context=context, condition=condition[:, 0]), x, atol=0.0, rtol=0.0)

    def test_self_attention_cache_matches_full_forward(self):
        layer = TransformerLayer(**LLAMA_LIKE)
        x = data(2, 5, 16)
        full = layer(x)
        cache = np.zeros((2, 2, 5, 2, 4), "float32")
        out, cache = layer(x[:, :3], self_attention_cache=cache, cache_update_index=0)
        self.assertAllClose(out, ops.convert_to_numpy(full)[:, :3], atol=1e-5)
        for i in (3, 4):
            out, cache = layer(x[:, i : i + 1], self_attention_cache=cache, cache_update_index=i)
            self.assertAllClose(out, ops.convert_to_numpy(full)[:, i : i + 1], atol=1e-5)

    def test_diagonal_mask_with_cache(self):
        layer = TransformerLayer(num_heads=2, intermediate_dim=16, self_attention_mask="diagonal")
        x = data(2, 4, 8)
        full = ops.convert_to_numpy(layer(x))
        cache = np.zeros((2, 2, 4, 2, 4), "float32")
        for i in range(4):
            out, cache = layer(x[:, i : i + 1], self_attention_cache=cache, cache_update_index=i)
            self.assertAllClose(out, full[:, i : i + 1], atol=1e-5)

    # --------------------------------------------------------------- errors
    def test_rejects_bad_arguments(self):
        base = {"num_heads": 4, "intermediate_dim": 16}
        with self.assertRaisesNamed(ValueError, "norm", "rms_nrom", "Did you mean 'rms_norm'"):
            TransformerLayer(**base, norm="rms_nrom")
        with self.assertRaisesNamed(ValueError, "feedforward", "swiglu"):
            TransformerLayer(**base, feedforward="swigluu")
        with self.assertRaisesNamed(ValueError, "norm", "normalization"):
            TransformerLayer(**base, norm="swiglu")
        with self.assertRaisesNamed(ValueError, "num_key_value_heads", "num_heads"):
            TransformerLayer(**base, num_key_value_heads=3)
        with self.assertRaisesNamed(ValueError, "dropout", "-0.1"):
            TransformerLayer(**base, dropout=-0.1)
        with self.assertRaisesNamed(ValueError, "use_adaptive_norm", "norm_position"):
            TransformerLayer(**base, use_adaptive_norm=True, norm_position="post")
        with self.assertRaisesNamed(ValueError, "self_attention_mask", "causal"):
            TransformerLayer(**base, self_attention_mask="casual")
        with self.assertRaisesNamed(ValueError, "norm_position"):
            TransformerLayer(**base, norm_position="middle")
        with self.assertRaisesNamed(ValueError, "feedforward_kwargs", "activation"):
            TransformerLayer(**base, feedforward_kwargs={"activaton": "relu"})
        with self.assertRaisesNamed(ValueError, "feedforward_kwargs", "intermediate_dim"):
            TransformerLayer(**base, feedforward_kwargs={"intermediate_dim": 8})
        with self.assertRaisesNamed(TypeError, "feedforward_kwargs"):
            TransformerLayer(**base, feedforward_kwargs="relu")
        with self.assertRaisesNamed(ValueError, "attention_kwargs", "num_heads"):
            TransformerLayer(**base, attention_kwargs={"num_heads": 2})
        with self.assertRaisesNamed(ValueError, "num_heads", "hidden_dim", "num_heads=4, hidden_dim=10"):
            TransformerLayer(**base).build((2, 5, 10))
        with self.assertRaisesNamed(ValueError, "context"):
            TransformerLayer(**base, use_cross_attention=True)(data(2, 3, 8))
        with self.assertRaisesNamed(ValueError, "condition"):
            TransformerLayer(**base, use_adaptive_norm=True)(data(2, 3, 8))
