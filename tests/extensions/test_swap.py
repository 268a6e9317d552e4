"""`swap`: technique swaps on built tiny models keep exactly the weights that fit; config, saving, errors."""

import os
import tempfile
from unittest import mock

import keras
import numpy as np

import dlzoo
from dlzoo import builder, zoo_model
from dlzoo.extensions.lora import lora_layers, merge_lora
from dlzoo.compat.keras_internals import base_kernel
from dlzoo.extensions.swap import techniques
from dlzoo.testing import TestCase

# 2 layers of width 16 with 4 heads: every count below follows from this shape.
SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=2, max_sequence_length=16, attention={"num_heads": 4})


def feed(batch=2, seq=5, vocab=32, seed=0):
    rng = np.random.default_rng(seed)
    return {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": np.ones((batch, seq), bool)}


def per_layer(*suffixes, layers=2):
    return [f"decoder/transformer_layer_{i}/{s}" for i in range(layers) for s in suffixes]


def swap(model, old, new, **kwargs):
    return dlzoo.apply_extension(model, "swap", old=old, new=new, **kwargs)


class SwapTest(TestCase):
    def check_report(self, old_model, new_model, reinitialized, dropped):
        report = new_model.extension_report
        self.assertEqual(sorted(report["reinitialized"]), sorted(reinitialized))
        self.assertEqual(sorted(report["dropped"]), sorted(dropped))
        self.assertEqual(len(report["kept"]) + len(report["reinitialized"]), len(new_model.weights))
        old = {w.path: w for w in old_model.weights}
        for w in new_model.weights:  # kept weights carry the old values
            if w.path in report["kept"]:
                self.assertAllClose(w, old[w.path], atol=0)

    def test_gpt_swaps(self):
        model = dlzoo.build("gpt-tiny", **SMALL)
        self.assertEqual(techniques(model.zoo_config["params"]), ["layer_norm", "mlp", "multi_head_attention"])
        self.assertEqual(len(model.weights), 2 + 2 * 16 + 2)

        rms = swap(model, "layer_norm", "rms_norm")
        self.assertEqual(rms.zoo_config["params"]["norm"]["type"], "rms_norm")
        # RMSNorm keeps LayerNorm's scale (same path and shape); the 5 biases have no place.
        norm_biases = per_layer("self_attention_norm/bias", "feedforward_norm/bias") + ["decoder/final_norm/bias"]
        self.check_report(model, rms, reinitialized=[], dropped=norm_biases)
        self.assertEqual(len(rms.extension_report["kept"]), 36 - 5)

        gqa = swap(model, "multi_head_attention", "grouped_query_attention", num_key_value_heads=2)
        self.assertEqual(gqa.zoo_config["params"]["attention"]["num_key_value_heads"], 2)
        kv = per_layer(*(f"self_attention/{p}/{w}" for p in ("key", "value") for w in ("kernel", "bias")))
        self.check_report(model, gqa, reinitialized=kv, dropped=[])
        self.assertEqual(tuple(gqa.get_layer("decoder").transformer_layers[0].self_attention.key_dense.kernel.shape), (16, 2, 4))

        glu = swap(model, "mlp", "swiglu")
        self.assertNotIn("activation", glu.zoo_config["params"]["feedforward"])  # SwiGLU fixes its own
        self.check_report(model, glu, reinitialized=per_layer("feedforward/gate_proj/kernel", "feedforward/gate_proj/bias"), dropped=[])
        x = feed()
        for swapped in (rms, gqa, glu):
            self.assertEqual(tuple(swapped(x).shape), (2, 5, 32))
        self.assertEqual(dlzoo.count_params(glu.get_config()), glu.count_params())

    def test_llama_swaps(self):
        model = dlzoo.build("llama-tiny", **SMALL)  # GQA with 2 key/value heads, SwiGLU without biases
        mha = swap(model, "grouped_query_attention", "multi_head_attention")
        self.assertIsNone(mha.zoo_config["params"]["attention"]["num_key_value_heads"])
        self.assertEqual(mha.count_params(), dlzoo.count_params(mha.get_config()))
        self.check_report(model, mha, reinitialized=per_layer("self_attention/key/kernel", "self_attention/value/kernel"), dropped=[])
        mlp = swap(model, "swiglu", "mlp")
        self.check_report(model, mlp, reinitialized=[], dropped=per_layer("feedforward/gate_proj/kernel"))
        back = swap(mlp, "mlp", "swiglu")
        self.check_report(mlp, back, reinitialized=per_layer("feedforward/gate_proj/kernel"), dropped=[])
        self.assertEqual(
            back.zoo_config["extensions"],
            [{"name": "swap", "old": "swiglu", "new": "mlp"}, {"name": "swap", "old": "mlp", "new": "swiglu"}],
        )

    def test_swap_under_merged_lora_counts_the_update_once(self):
        model = dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "rank": 2}], **SMALL)
        query = lora_layers(model)["decoder/transformer_layer_0/self_attention/query"]
        kernel = keras.ops.convert_to_numpy(base_kernel(query)).copy()
        for layer in lora_layers(model).values():
            layer.lora_kernel_b.assign(np.full(tuple(layer.lora_kernel_b.shape), 0.5, "float32"))
        merge_lora(model)
        x = feed()
        expected = keras.ops.convert_to_numpy(model(x))
        swapped = swap(model, "multi_head_attention", "multi_query_attention")
        self.assertAllClose(model(x), expected, atol=0)  # the source model is left as it was
        self.assertIn("decoder/transformer_layer_0/self_attention/query/lora_kernel_b", swapped.extension_report["kept"])
        new_query = lora_layers(swapped)["decoder/transformer_layer_0/self_attention/query"]
        self.assertTrue(new_query.lora_merged)
        new_query.unmerge()
        self.assertAllClose(base_kernel(new_query), kernel, atol=1e-5)  # the update was folded in once

    def test_build_time_swap_saves_and_loads(self):
        spec = {"name": "swap", "old": "layer_norm", "new": "rms_norm", "params": {"norm.epsilon": 1e-6}}
        model = dlzoo.build("gpt-tiny", extensions=[spec], **SMALL)
        self.assertEqual(model.zoo_config["params"]["norm"], {"type": "rms_norm", "epsilon": 1e-6})
        self.assertEqual(model.get_layer("decoder").final_norm.registered_name, "rms_norm")
        x = feed()
        with tempfile.TemporaryDirectory() as tmp:
            model.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
        self.assertAllClose(loaded(x), model(x), atol=0)
        self.assertEqual(loaded.zoo_config["params"]["norm"]["type"], "rms_norm")

    def test_errors_before_building(self):
        with mock.patch.object(zoo_model, "wire") as never_called:
            with self.assertRaisesNamed(ValueError, "'rms_norm'", "old", "layer_norm, mlp, multi_head_attention"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "swap", "old": "rms_norm", "new": "layer_norm"}])
            with self.assertRaisesNamed(ValueError, "same role", "'swiglu'"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "swap", "old": "layer_norm", "new": "swiglu"}])
            with self.assertRaisesNamed(ValueError, "num_key_value_heads"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "swap", "old": "multi_head_attention", "new": "grouped_query_attention"}])
            with self.assertRaisesNamed(ValueError, "uses grouped_query_attention", "old"):
                dlzoo.build("llama-tiny", extensions=[{"name": "swap", "old": "multi_head_attention", "new": "multi_query_attention"}])
            with self.assertRaisesNamed(ValueError, "num_key_value_heads", "num_heads"):
                dlzoo.build("gpt-tiny", extensions=[
                    {"name": "swap", "old": "multi_head_attention", "new": "grouped_query_attention", "num_key_value_heads": 5}])
            with self.assertRaisesNamed(ValueError, "new", "'rms_nrom'", "Did you mean"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "swap", "old": "layer_norm", "new": "rms_nrom"}])
            with self.assertRaisesNamed(ValueError, "must differ"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "swap", "old": "mlp", "new": "mlp"}])
            never_called.assert_not_called()
