"""LoRA: the wrapper block (harness, NumPy reference, merge/unmerge) and the `lora` extension on tiny models."""

import os
import tempfile
from unittest import mock

import keras
import numpy as np

import dlzoo
from dlzoo import builder
from dlzoo.extensions import transfer_weights
from dlzoo.extensions.lora import LoRA, load_lora_weights, lora_layers, merge_lora, save_lora_weights, unmerge_lora
from dlzoo.testing import TestCase

SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=2, max_sequence_length=16, attention={"num_heads": 4})


def dense_config(units, **kwargs):
    return {"module": "keras.layers", "class_name": "Dense", "config": dict(units=units, **kwargs), "registered_name": None}


def einsum_config(equation, output_shape, bias_axes=None):
    config = {"equation": equation, "output_shape": output_shape, "bias_axes": bias_axes}
    return {"module": "keras.layers", "class_name": "EinsumDense", "config": config, "registered_name": None}


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
        layer.lora_b.assign(rng.standard_normal(tuple(layer.lora_b.shape)).astype("float32"))


class LoRABlockTest(TestCase):
    def test_block_basics_dense(self):
        self.run_block_test(
            LoRA,
            init_kwargs={"layer": dense_config(6), "rank": 2, "alpha": 4.0},
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 5, 6),
            expected_num_trainable_weights=2,  # only A and B; the wrapped kernel and bias are frozen
            expected_num_non_trainable_weights=2,
            weights_without_gradient=("lora_a",),  # B = 0 at the first step, so A gets no gradient yet
        )

    def test_block_basics_einsum_with_dropout(self):
        self.run_block_test(
            LoRA,
            init_kwargs={
                "layer": einsum_config("btd,dnh->btnh", [5, 2, 3], bias_axes="nh"),
                "rank": 2,
                "dropout": 0.25,
                "seed": 3,
            },
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 5, 2, 3),
            expected_num_trainable_weights=2,
            expected_num_seed_generators=1,
            weights_without_gradient=("lora_a",),
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 5, 3, 4)).astype("float32")
        # Attention's output projection: contracts two axes (heads, head_dim) into one.
        layer = LoRA(keras.layers.EinsumDense("btnh,nho->bto", output_shape=[None, 6], bias_axes="o"), rank=3, alpha=6.0)
        layer.build(x.shape)
        kernel = rng.standard_normal((3, 4, 6)).astype("float32")
        bias = rng.standard_normal((6,)).astype("float32")
        a = rng.standard_normal((12, 3)).astype("float32")
        b = rng.standard_normal((3, 6)).astype("float32")
        layer.layer.kernel.assign(kernel)
        layer.layer.bias.assign(bias)
        layer.lora_a.assign(a)
        layer.lora_b.assign(b)
        # y = x W + b + (alpha / r) x A B, with W read as a (n*h) x o matrix (Hu et al., eq. 3).
        x64 = x.astype("float64").reshape(2, 5, 12)
        w = kernel.astype("float64").reshape(12, 6)
        expected = x64 @ w + bias + (6.0 / 3) * (x64 @ a.astype("float64") @ b.astype("float64"))
        self.assertAllClose(layer(x), expected, atol=1e-4, rtol=1e-5)

        # Query projection: one input axis to two output axes.
        q = LoRA(keras.layers.EinsumDense("btd,dnh->btnh", output_shape=[None, 2, 3]), rank=2)
        xq = rng.standard_normal((2, 5, 4)).astype("float32")
        q.build(xq.shape)
        wq = rng.standard_normal((4, 2, 3)).astype("float32")
        aq, bq = rng.standard_normal((4, 2)).astype("float32"), rng.standard_normal((2, 6)).astype("float32")
        q.layer.kernel.assign(wq)
        q.lora_a.assign(aq)
        q.lora_b.assign(bq)
        expected = (xq.astype("float64") @ (wq.reshape(4, 6) + aq @ bq).astype("float64")).reshape(2, 5, 2, 3)
        self.assertAllClose(q(xq), expected, atol=1e-4, rtol=1e-5)

    def test_zero_init_then_merge_and_unmerge(self):
        x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype("float32")
        layer = LoRA(keras.layers.Dense(6), rank=2)
        layer.build(x.shape)
        self.assertAllClose(layer(x), layer.layer(x), atol=0)  # B = 0: same output as the wrapped layer
        layer.lora_b.assign(np.random.default_rng(2).standard_normal((2, 6)).astype("float32"))
        kernel = keras.ops.convert_to_numpy(layer.layer.kernel).copy()
        adapted = keras.ops.convert_to_numpy(layer(x))
        self.assertGreater(np.abs(adapted - keras.ops.convert_to_numpy(layer.layer(x))).max(), 1e-2)
        layer.merge()
        self.assertTrue(layer.merged)
        self.assertAllClose(layer.layer(x), adapted, atol=1e-5)  # the kernel holds the update now
        self.assertAllClose(layer(x), adapted, atol=1e-5)
        self.run_saving_test(keras.Sequential([keras.Input((5, 8)), layer]), x, atol=1e-6)  # merged state kept
        layer.unmerge()
        self.assertFalse(layer.merged)
        self.assertAllClose(layer.layer.kernel, kernel, atol=1e-6)
        self.assertAllClose(layer(x), adapted, atol=1e-5)

    def test_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "rank"):
            LoRA(keras.layers.Dense(4), rank=0)
        with self.assertRaisesNamed(ValueError, "dropout"):
            LoRA(keras.layers.Dense(4), dropout=1.0)
        with self.assertRaisesNamed(ValueError, "alpha"):
            LoRA(keras.layers.Dense(4), alpha=-1.0)
        with self.assertRaisesNamed(ValueError, "activation", "relu"):
            LoRA(keras.layers.Dense(4, activation="relu"))
        with self.assertRaisesNamed(TypeError, "layer"):
            LoRA(keras.layers.Conv1D(4, 3))
        with self.assertRaisesNamed(ValueError, "equation"):
            LoRA(keras.layers.EinsumDense("btd,td->bt", output_shape=[5]), rank=1)


class LoRAExtensionTest(TestCase):
    def test_output_unchanged_at_init_and_only_lora_trainable(self):
        base = dlzoo.build("gpt-tiny", **SMALL)
        spec = {"name": "lora", "rank": 2, "targets": ["query", "value"]}
        model = dlzoo.build("gpt-tiny", extensions=[spec], **SMALL)
        report = transfer_weights(base, model)
        expected_lora = [
            f"transformer_layer_{i}/self_attention/{proj}/lora_{ab}"
            for i in range(2)
            for proj in ("query", "value")
            for ab in ("a", "b")
        ]
        self.assertEqual(sorted(report["reinitialized"]), sorted(expected_lora))
        self.assertEqual(sorted(w.path for w in model.trainable_weights), sorted(expected_lora))
        x = feed()
        self.assertAllClose(model(x), base(x), atol=0)  # B starts at zero
        # 2 layers x 2 projections x rank 2 x (16 in + 16 out).
        self.assertEqual(model.count_params(), base.count_params() + 2 * 2 * 2 * (16 + 16))
        self.assertEqual(dlzoo.count_params("gpt-tiny", extensions=[spec], **SMALL), model.count_params())

    def test_training_moves_only_the_adapters(self):
        model = dlzoo.build("llama-tiny", extensions=[{"name": "lora", "rank": 2, "targets": "*_proj"}], **SMALL)
        randomize_lora(model)
        before = {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.weights}
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
        x = feed()
        model.train_on_batch(x, np.ones((2, 5, 32), "float32"))
        moved = sorted(p for p, w in ((w.path, w) for w in model.weights) if not np.array_equal(before[p], keras.ops.convert_to_numpy(w)))
        self.assertTrue(moved)
        self.assertTrue(all(p.endswith(("/lora_a", "/lora_b")) and "_proj/" in p for p in moved), moved)

    def test_merge_unmerge_identical_outputs(self):
        model = dlzoo.build("llama-tiny", extensions=[{"name": "lora", "rank": 2, "alpha": 4.0, "targets": "*"}], **SMALL)
        names = {p.rsplit("/", 1)[-1] for p in lora_layers(model)}
        self.assertEqual(names, {"query", "key", "value", "attention_output", "gate_proj", "inner_proj", "output_proj"})
        randomize_lora(model)
        x = feed()
        adapted = np_out(model, x)
        self.assertEqual(len(merge_lora(model)), 2 * 7)
        self.assertAllClose(model(x), adapted, atol=1e-4, rtol=1e-4)
        unmerge_lora(model)
        self.assertAllClose(model(x), adapted, atol=1e-4, rtol=1e-4)

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
            self.assertTrue(all(layer.merged for layer in lora_layers(loaded).values()))
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
        adapted = dlzoo.apply_extension(model, "lora", rank=2, keep_trainable=["classifier/*"])
        self.assertEqual(adapted.zoo_config["extensions"][-1], {"name": "lora", "rank": 2, "keep_trainable": ["classifier/*"]})
        self.assertAllClose(adapted(x), before, atol=0)
        trainable = sorted(w.path for w in adapted.trainable_weights)
        self.assertEqual(len(trainable), 2 * 2 * 2 + 2)
        self.assertIn("classifier/kernel", trainable)

    def test_errors_before_building(self):
        with mock.patch.object(builder, "build_resolved") as never_called:
            with self.assertRaisesNamed(ValueError, "rank"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "rank": 0}])
            with self.assertRaisesNamed(ValueError, "'lora'", "twice"):
                dlzoo.build("gpt-tiny", extensions=["lora", {"name": "lora", "rank": 4}])
            with self.assertRaisesNamed(ValueError, "Unknown argument", "'targts'"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "targts": ["query"]}])
            with self.assertRaisesNamed(TypeError, "targets"):
                builder.resolve("gpt-tiny", extensions=[{"name": "lora", "targets": [1]}])
            never_called.assert_not_called()
        with self.assertRaisesNamed(ValueError, "targets", "no projection", "attention_output"):
            dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "targets": ["qkv"]}], **SMALL)
