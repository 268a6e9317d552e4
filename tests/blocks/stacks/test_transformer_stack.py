import numpy as np

from keras import ops

from dlzoo.blocks import TransformerStack
from dlzoo.testing import TestCase


def data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def rms_reference(x, scale, epsilon):
    return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + epsilon) * scale


LLAMA_LIKE = {
    "num_layers": 2,
    "num_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_dim": 24,
    "norm": "rms_norm",
    "feedforward": "swiglu",
    "feedforward_kwargs": {"width_factor": 0.6667, "multiple_of": 8, "use_bias": False},
    "attention_kwargs": {"use_rotary_embedding": True},
}
PADDING = np.array([[True, True, True, True, True], [True, True, True, False, False]])


class TransformerStackTest(TestCase):
    # ---------------------------------------------------------------- harness
    def test_block_basics_llama_like(self):
        self.run_block_test(
            TransformerStack,
            init_kwargs={**LLAMA_LIKE, "dropout": 0.1, "final_dropout": 0.1, "drop_path_rate": 0.1, "seed": 1},
            input_data={"inputs": data(2, 5, 16), "padding_mask": PADDING},
            expected_output_shape=(2, 5, 16),
            # Per layer: 2 RMS scales + 4 attention + 3 SwiGLU kernels; plus the final norm.
            expected_num_trainable_weights=2 * 9 + 1,
        )

    def test_block_basics_denoiser_like(self):
        self.run_block_test(
            TransformerStack,
            init_kwargs={
                "num_layers": 2,
                "num_heads": 2,
                "intermediate_dim": 16,
                "self_attention_mask": "diagonal",
                "use_cross_attention": True,
                "use_adaptive_norm": True,
                "attention_kwargs": {"use_qkv_bias": True},
            },
            input_data={"inputs": data(2, 4, 8), "context": data(2, 3, 8, seed=1), "condition": data(2, 6, seed=2)},
            expected_output_shape=(2, 4, 8),
            weights_without_gradient=("self_attention", "cross_attention", "feedforward"),
        )

    # ------------------------------------------------------------ behaviour
    def test_is_layers_then_final_norm(self):
        stack = TransformerStack(**LLAMA_LIKE, norm_epsilon=1e-6)
        x = data(2, 5, 16)
        stack.build(x.shape)
        scale = np.linspace(0.5, 1.5, 16).astype("float32")
        stack.final_norm.scale.assign(scale)
        hidden = x
        for layer in stack.transformer_layers:
            hidden = layer(hidden, padding_mask=PADDING)
        expected = rms_reference(ops.convert_to_numpy(hidden).astype("float64"), scale, 1e-6)
        self.assertAllClose(stack(x, padding_mask=PADDING), expected, atol=1e-5)

        no_final = TransformerStack(**LLAMA_LIKE, use_final_norm=False)
        no_final.build(x.shape)
        self.assertIsNone(no_final.final_norm)
        self.assertEqual(no_final.count_params_for(x.shape) + 16, stack.count_params())

    def test_drop_path_rate_increases_linearly(self):
        stack = TransformerStack(num_layers=3, num_heads=2, intermediate_dim=8, drop_path_rate=0.2)
        rates = [layer.drop_path_rate for layer in stack.transformer_layers]
        self.assertAllClose(rates, [0.0, 0.1, 0.2])
        self.assertEqual([layer.name for layer in stack.transformer_layers], ["transformer_layer_0", "transformer_layer_1", "transformer_layer_2"])

    def test_cached_decoding_matches_full_forward(self):
        stack = TransformerStack(**LLAMA_LIKE)
        x = data(2, 6, 16)
        full = ops.convert_to_numpy(stack(x))
        cache = stack.empty_cache(batch_size=2, max_length=6)
        self.assertEqual(tuple(cache.shape), (2, 2, 2, 6, 2, 4))
        out, cache = stack(x[:, :3], cache=cache, cache_update_index=0)  # prefill
        self.assertAllClose(out, full[:, :3], atol=1e-5)
        for i in range(3, 6):
            out, cache = stack(x[:, i : i + 1], cache=cache, cache_update_index=i)
            self.assertAllClose(out, full[:, i : i + 1], atol=1e-5)
        # The layers wrote their own slices of the cache.
        cache = ops.convert_to_numpy(cache)
        self.assertGreater(np.abs(cache[:, 0] - cache[:, 1]).max(), 1e-3)

    def test_per_layer_caches_match_full_forward(self):
        # decode_layers keeps one cache tensor per layer (what generation does) and must give the
        # full forward pass's outputs token by token.
        stack = TransformerStack(**LLAMA_LIKE)
        x = data(2, 6, 16)
        full = ops.convert_to_numpy(stack(x))
        stacked = stack.empty_cache(batch_size=2, max_length=6)
        caches = [stacked[:, i] for i in range(stack.num_layers)]
        out, caches = stack.decode_layers(x[:, :3], caches, 0)  # prefill
        self.assertAllClose(out, full[:, :3], atol=1e-5)
        for i in range(3, 6):
            out, caches = stack.decode_layers(x[:, i : i + 1], caches, i)
            self.assertAllClose(out, full[:, i : i + 1], atol=1e-5)
        self.assertEqual([tuple(c.shape) for c in caches], [(2, 2, 6, 2, 4)] * 2)
        with self.assertRaisesNamed(ValueError, "layer_caches", "num_layers"):
            stack.decode_layers(x[:, :1], caches[:1], 0)

    def test_make_cache(self):
        cache = TransformerStack.make_cache(3, 4, 7, 2, 5, dtype="float32")
        self.assertEqual(tuple(cache.shape), (3, 4, 2, 7, 2, 5))
        self.assertEqual(float(ops.convert_to_numpy(ops.max(ops.abs(cache)))), 0.0)
        stack = TransformerStack(num_layers=2, num_heads=4, intermediate_dim=8)
        self.assertEqual(tuple(stack.empty_cache(1, 5, hidden_dim=16).shape), (1, 2, 2, 5, 4, 4))

    # --------------------------------------------------------------- errors
    def test_rejects_bad_arguments(self):
        base = {"num_heads": 4, "intermediate_dim": 16}
        with self.assertRaisesNamed(ValueError, "num_layers", "0"):
            TransformerStack(num_layers=0, **base)
        with self.assertRaisesNamed(ValueError, "final_dropout"):
            TransformerStack(num_layers=2, final_dropout=1.5, **base)
        with self.assertRaisesNamed(ValueError, "norm", "Did you mean 'layer_norm'"):
            TransformerStack(num_layers=2, norm="layer_nrm", **base)
        with self.assertRaisesNamed(ValueError, "use_adaptive_norm", "norm_position"):
            TransformerStack(num_layers=2, use_adaptive_norm=True, norm_position="post", **base)
        with self.assertRaisesNamed(ValueError, "hidden_dim"):
            TransformerStack(num_layers=2, **base).empty_cache(1, 5)
        stack = TransformerStack(num_layers=2, **base)
        with self.assertRaisesNamed(ValueError, "cache", "num_layers"):
            stack(data(1, 1, 8), cache=np.zeros((1, 3, 2, 4, 4, 2), "float32"), cache_update_index=0)
