"""`language_model_head`: tied and untied heads on gpt/llama/bert, against the native heads and NumPy."""

import os
import tempfile
from unittest import mock

import keras
import numpy as np

import dlzoo
from dlzoo import builder, zoo_model
from dlzoo.extensions import transfer_weights
from dlzoo.testing import TestCase

SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=1, max_sequence_length=16, attention={"num_heads": 2})


def feed(batch=2, seq=5, vocab=32, seed=0, segments=False):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), bool)
    mask[0, 3:] = False
    x = {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": mask}
    if segments:
        x["segment_ids"] = np.zeros((batch, seq), "int32")
    return x


def as_numpy(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


class LanguageModelHeadTest(TestCase):
    def test_recreates_the_native_heads(self):
        x = feed()
        for name, tied in (("gpt-tiny", True), ("llama-tiny", False)):
            native = dlzoo.build(name, **SMALL)  # gpt ties its LM head, llama does not
            self.assertEqual(native.zoo_config["params"]["tie_embeddings"], tied)
            spec = {"name": "language_model_head", "tied": tied}
            model = dlzoo.build(name, extensions=[spec], **SMALL)
            self.assertFalse(model.zoo_config["params"]["use_lm_head"])
            report = transfer_weights(native, model)
            self.assertEqual(report["reinitialized"], [])
            self.assertEqual(len(report["kept"]), len(native.weights))
            self.assertAllClose(model(x), native(x), atol=1e-6)
            self.assertEqual(model.count_params(), native.count_params())
            self.assertEqual(dlzoo.count_params(name, extensions=[spec], **SMALL), model.count_params())

    def test_bert_tied_and_untied(self):
        x = feed(segments=True)
        base = dlzoo.build("bert-tiny", **SMALL)
        tied = dlzoo.build("bert-tiny", extensions=["language_model_head"], **SMALL)
        transfer_weights(base, tied)
        table = as_numpy(tied.get_layer("token_embedding").embeddings)
        expected = as_numpy(base(x)["sequence_output"]) @ table.T  # logits = h E^T (Press and Wolf, 2017)
        self.assertAllClose(tied(x), expected, atol=1e-5, rtol=1e-5)
        self.assertEqual(tied.count_params(), base.count_params() - (16 * 16 + 16))  # the pooler is dropped

        spec = {"name": "language_model_head", "tied": False, "vocabulary_size": 20, "use_bias": True}
        untied = dlzoo.build("bert-tiny", extensions=[spec], **SMALL)
        transfer_weights(base, untied)
        kernel, bias = (as_numpy(w) for w in untied.get_layer("lm_head").weights)
        self.assertAllClose(untied(x), as_numpy(base(x)["sequence_output"]) @ kernel + bias, atol=1e-5, rtol=1e-5)
        self.assertEqual(untied.count_params(), tied.count_params() + 16 * 20 + 20)
        self.assertEqual(dlzoo.count_params("bert-tiny", extensions=[spec], **SMALL), untied.count_params())
        with tempfile.TemporaryDirectory() as tmp:
            untied.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
        self.assertAllClose(loaded(x), untied(x), atol=0)

    def test_errors(self):
        with mock.patch.object(zoo_model, "wire") as never_called:
            with self.assertRaisesNamed(ValueError, "use_bias", "tied=True"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "language_model_head", "use_bias": True}])
            with self.assertRaisesNamed(ValueError, "vocabulary_size"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "language_model_head", "tied": False, "vocabulary_size": 0}])
            with self.assertRaisesNamed(TypeError, "tied"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "language_model_head", "tied": "yes"}])
            with self.assertRaisesNamed(ValueError, "'features_only'", "'language_model_head'"):
                dlzoo.build("gpt-tiny", extensions=["language_model_head", "features_only"])
            never_called.assert_not_called()
