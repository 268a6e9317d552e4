"""LoRA through Keras' `enable_lora`: the adapted projection against NumPy, dropout, merge/unmerge, saving, and the extension."""

import os
import tempfile
from unittest import mock

import keras
import numpy as np

import dlzoo
from dlzoo import builder, zoo_model
from dlzoo.compat.keras_internals import base_kernel
from dlzoo.extensions import transfer_weights
from dlzoo.extensions.lora import adapt_layer, load_lora_weights, lora_layers, merge_lora, save_lora_weights, unmerge_lora
from dlzoo.testing import TestCase

SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=2, max_sequence_length=16, attention={"num_heads": 4})


def feed(batch=2, seq=5, vocab=32, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), bool)
    mask[0, 3:] = False
    return {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": mask}


def np_out(model, x):
    return keras.ops.convert_to_numpy(model(x))


def randomize_lora(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in lora_layers(model).values():
        layer.lora_kernel_b.assign(rng.standard_normal(tuple(layer.lora_kernel_b.shape)).astype("float32"))


def adapted(layer, input_shape, rank, alpha=None, dropout=0.0, seed=None):
    layer.build(input_shape)
    return adapt_layer(layer, layer.name, rank, alpha, dropout, seed)


class AdaptedProjectionTest(TestCase):
    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        # Attention's output projection `btnh,nho->bto`: Keras factors the kernel by its last axis,
        # A (n, h, r), B (r, o); with (n, h) flattened this is the paper's x W + (alpha / r) x A B.
        x = rng.standard_normal((2, 5, 3, 4)).astype("float32")
        layer = adapted(keras.layers.EinsumDense("btnh,nho->bto", output_shape=[None, 6], bias_axes="o"), x.shape, 3, 6.0)
        kernel = rng.standard_normal((3, 4, 6)).astype("float32")
        bias = rng.standard_normal((6,)).astype("float32")
        a = rng.standard_normal((3, 4, 3)).astype("float32")
        b = rng.standard_normal((3, 6)).astype("float32")
        for variable, value in ((layer.lora_kernel_a, a), (layer.lora_kernel_b, b), (layer.bias, bias)):
            variable.assign(value)
        base_kernel(layer).assign(kernel)
        x64 = x.astype("float64").reshape(2, 5, 12)
        expected = x64 @ kernel.reshape(12, 6) + bias + (6.0 / 3) * (x64 @ a.reshape(12, 3) @ b)
        self.assertAllClose(layer(x), expected, atol=1e-4, rtol=1e-5)
        # A Dense layer: exactly the paper's update.
        xd = rng.standard_normal((2, 5, 4)).astype("float32")
        dense = adapted(keras.layers.Dense(6), xd.shape, 2)
        wd, ad, bd = rng.standard_normal((4, 6)), rng.standard_normal((4, 2)), rng.standard_normal((2, 6))
        base_kernel(dense).assign(wd.astype("float32"))
        dense.lora_kernel_a.assign(ad.astype("float32"))
        dense.lora_kernel_b.assign(bd.astype("float32"))
        self.assertAllClose(dense(xd), xd @ (wd + ad @ bd) + keras.ops.convert_to_numpy(dense.bias), atol=1e-4, rtol=1e-5)

    def test_dropout_drops_the_branch_input_only_in_training(self):
        x = np.random.default_rng(1).uniform(1.0, 2.0, (4, 8, 4)).astype("float32")
        layer = adapted(keras.layers.Dense(4, use_bias=False), x.shape, 4, dropout=0.5, seed=3)
        base_kernel(layer).assign(np.zeros((4, 4), "float32"))
        layer.lora_kernel_a.assign(np.eye(4, dtype="float32"))
        layer.lora_kernel_b.assign(np.eye(4, dtype="float32"))
        # W = 0, A = B = I, alpha / rank = 1: the output is the dropped-out input itself.
        self.assertAllClose(layer(x), x, atol=1e-6)
        out = keras.ops.convert_to_numpy(layer(x, training=True))
        kept = out != 0
        self.assertTrue(0.3 < kept.mean() < 0.7, kept.mean())
        self.assertAllClose(out[kept], 2.0 * x[kept], atol=1e-5)  # inverted dropout: kept / (1 - rate)

    def test_zero_init_then_merge_unmerge_and_save(self):
        x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype("float32")
        layer = keras.layers.Dense(6, name="proj")
        layer.build(x.shape)
        plain = keras.ops.convert_to_numpy(layer(x))
        adapt_layer(layer, "proj", rank=2)
        self.assertAllClose(layer(x), plain, atol=0)  # B = 0: same output as before
        layer.lora_kernel_b.assign(np.random.default_rng(2).standard_normal((2, 6)).astype("float32"))
        kernel = keras.ops.convert_to_numpy(base_kernel(layer)).copy()
        adapted_out = keras.ops.convert_to_numpy(layer(x))
        self.assertGreater(np.abs(adapted_out - plain).max(), 1e-2)
        layer.merge()
        self.assertTrue(layer.lora_merged)
        self.assertAllClose(layer(x), adapted_out, atol=1e-5)
        self.run_saving_test(keras.Sequential([keras.Input((5, 8)), layer]), x, atol=1e-6)
        layer.unmerge()
        self.assertFalse(layer.lora_merged)
        self.assertAllClose(base_kernel(layer), kernel, atol=1e-6)
        self.assertAllClose(layer(x), adapted_out, atol=1e-5)


class LoRAExtensionTest(TestCase):
    def test_output_unchanged_at_init_and_only_lora_trainable(self):
        base = dlzoo.build("gpt-tiny", **SMALL)
        spec = {"name": "lora", "rank": 2, "targets": ["query", "value"]}
        model = dlzoo.build("gpt-tiny", extensions=[spec], **SMALL)
        report = transfer_weights(base, model)
        expected_lora = [
            f"decoder/transformer_layer_{i}/self_attention/{proj}/lora_kernel_{ab}"
            for i in range(2)
            for proj in ("query", "value")
            for ab in ("a", "b")
        ]
        self.assertEqual(sorted(report["reinitialized"]), sorted(expected_lora))
        self.assertEqual(sorted(w.path for w in model.trainable_weights), sorted(expected_lora))
        x = feed()
        self.assertAllClose(model(x), base(x), atol=0)  # B starts at zero
        # Per projection, kernel (16, 4 heads, 4): A (16, 4, 2) and B (2, 4); 2 layers x 2 projections.
        self.assertEqual(model.count_params(), base.count_params() + 2 * 2 * (16 * 4 * 2 + 2 * 4))
        self.assertEqual(dlzoo.count_params("gpt-tiny", extensions=[spec], **SMALL), model.count_params())

    def test_training_moves_only_the_adapters(self):
        model = dlzoo.build(
            "llama-tiny", extensions=[{"name": "lora", "rank": 2, "targets": "*_proj", "dropout": 0.1, "seed": 1}], **SMALL
        )
        randomize_lora(model)
        before = {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.weights}
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
        x = feed()
        model.train_on_batch(x, np.ones((2, 5, 32), "float32"))
        moved = sorted(p for p, w in ((w.path, w) for w in model.weights) if not np.array_equal(before[p], keras.ops.convert_to_numpy(w)))
        self.assertTrue(moved)
        adapters = [p for p in moved if "seed_generator" not in p]
        self.assertTrue(all(p.endswith(("/lora_kernel_a", "/lora_kernel_b")) and "_proj/" in p for p in adapters), moved)

    def test_merge_unmerge_identical_outputs(self):
        model = dlzoo.build("llama-tiny", extensions=[{"name": "lora", "rank": 2, "alpha": 4.0, "targets": "*"}], **SMALL)
        names = {p.rsplit("/", 1)[-1] for p in lora_layers(model)}
        self.assertEqual(names, {"query", "key", "value", "attention_output", "gate_proj", "inner_proj", "output_proj"})
        randomize_lora(model)
        x = feed()
        expected = np_out(model, x)
        self.assertEqual(len(merge_lora(model)), 2 * 7)
        self.assertAllClose(model(x), expected, atol=1e-4, rtol=1e-4)
        unmerge_lora(model)
        self.assertAllClose(model(x), expected, atol=1e-4, rtol=1e-4)

    def test_save_load_model_and_adapter(self):
        spec = {"name": "lora", "rank": 2, "targets": ["query", "value"], "seed": 1}
        model = dlzoo.build("gpt-tiny", extensions=[spec], **SMALL)
        randomize_lora(model)
        x = feed()
        expected = np_out(model, x)
        with tempfile.TemporaryDirectory() as tmp:
            merge_lora(model)
            model.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
            self.assertAllClose(loaded(x), expected, atol=1e-5)  # merged once, not twice
            self.assertTrue(all(layer.lora_merged for layer in lora_layers(loaded).values()))
            unmerge_lora(loaded)  # the adapter came back with the model: it can be taken out again
            self.assertAllClose(loaded(x), expected, atol=1e-5)
            self.assertEqual(sorted(w.path for w in loaded.trainable_weights), sorted(w.path for w in model.trainable_weights))
            model.save_to_preset(os.path.join(tmp, "preset"))
            self.assertAllClose(dlzoo.build(os.path.join(tmp, "preset"))(x), expected, atol=1e-5)
            unmerge_lora(model)
            for name in ("adapter.weights.h5", "adapter.npz"):
                path = os.path.join(tmp, name)
                saved = save_lora_weights(model, path)
                self.assertEqual(len(saved), 4)
                other = dlzoo.build("gpt-tiny", extensions=[dict(spec, seed=7)], **SMALL)
                base_only = {w.path: w for w in model.weights if "lora_" not in w.path}
                for w in other.weights:
                    if w.path in base_only:
                        w.assign(base_only[w.path])
                self.assertGreater(np.abs(np_out(other, x) - expected).max(), 1e-3)
                load_lora_weights(other, path)
                self.assertAllClose(other(x), expected, atol=1e-5)
            wrong = dlzoo.build("gpt-tiny", extensions=[dict(spec, targets=["key"])], **SMALL)
            with self.assertRaisesNamed(ValueError, "missing from the file", "self_attention/key/lora_a"):
                load_lora_weights(wrong, path)
            with self.assertRaisesNamed(ValueError, "path"):
                save_lora_weights(model, os.path.join(tmp, "adapter.pkl"))

    def test_apply_to_built_bert_with_head_kept_trainable(self):
        model = dlzoo.build("bert-tiny", extensions=[{"name": "classification_head", "num_classes": 3, "pooling": "cls"}], **SMALL)
        x = dict(feed(), segment_ids=np.zeros((2, 5), "int32"))
        before = np_out(model, x)
        result = dlzoo.apply_extension(model, "lora", rank=2, keep_trainable=["classifier/*"])
        self.assertEqual(result.zoo_config["extensions"][-1], {"name": "lora", "rank": 2, "keep_trainable": ["classifier/*"]})
        self.assertAllClose(result(x), before, atol=0)
        trainable = sorted(w.path for w in result.trainable_weights)
        self.assertEqual(len(trainable), 2 * 2 * 2 + 2)
        self.assertIn("classifier/kernel", trainable)

    def test_errors_before_building(self):
        with mock.patch.object(zoo_model, "wire") as never_called:
            with self.assertRaisesNamed(ValueError, "rank"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "rank": 0}])
            with self.assertRaisesNamed(ValueError, "dropout"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "dropout": 1.0}])
            with self.assertRaisesNamed(ValueError, "alpha"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "alpha": -1.0}])
            with self.assertRaisesNamed(ValueError, "'lora'", "twice"):
                dlzoo.build("gpt-tiny", extensions=["lora", {"name": "lora", "rank": 4}])
            with self.assertRaisesNamed(ValueError, "Unknown argument", "'targts'"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "targts": ["query"]}])
            with self.assertRaisesNamed(TypeError, "targets"):
                builder.resolve("gpt-tiny", extensions=[{"name": "lora", "targets": [1]}])
            never_called.assert_not_called()
        with self.assertRaisesNamed(ValueError, "targets", "no projection", "attention_output"):
            dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "targets": ["qkv"]}], **SMALL)
