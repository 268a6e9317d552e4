"""`features_only`: intermediate outputs by block index or layer name, checked against the layers called by hand."""

import os
import tempfile
from unittest import mock

import keras
import numpy as np

import dlzoo
from dlzoo import builder, zoo_model
from dlzoo.extensions import transfer_weights
from dlzoo.testing import TestCase

SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=2, max_sequence_length=16, attention={"num_heads": 2})


def feed(batch=2, seq=5, vocab=32, seed=0, segments=False):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), bool)
    mask[0, 3:] = False
    x = {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": mask}
    if segments:
        x["segment_ids"] = np.zeros((batch, seq), "int32")
    return x


class FeaturesOnlyTest(TestCase):
    def test_outputs_match_the_layers_called_by_hand(self):
        x = feed()
        spec = {"name": "features_only", "layers": [0, -1, "token_embedding"]}
        model = dlzoo.build("gpt-tiny", extensions=[spec], **SMALL)
        base = dlzoo.build("gpt-tiny", **SMALL)
        transfer_weights(base, model)
        out = model(x)
        self.assertEqual(sorted(out), ["token_embedding", "transformer_layer_0", "transformer_layer_1"])
        # The GPT forward pass up to each block, from its layers.
        embedded = base.get_layer("token_embedding")(x["token_ids"])
        h = embedded + base.get_layer("position_embedding")(embedded)
        stack = base.get_layer("decoder")
        h0 = stack.transformer_layers[0](h, padding_mask=x["padding_mask"])
        h1 = stack.transformer_layers[1](h0, padding_mask=x["padding_mask"])
        self.assertAllClose(out["token_embedding"], embedded, atol=0)
        self.assertAllClose(out["transformer_layer_0"], h0, atol=1e-6)
        self.assertAllClose(out["transformer_layer_1"], h1, atol=1e-6)
        # Only the stack's final norm is left out (the LM head is tied to the embedding).
        self.assertEqual(model.count_params(), base.count_params() - 2 * 16)
        self.assertEqual(dlzoo.count_params("gpt-tiny", extensions=[spec], **SMALL), model.count_params())

    def test_default_every_block_and_wildcards(self):
        llama = dlzoo.build("llama-tiny", extensions=["features_only"], **SMALL)
        out = llama(feed())
        self.assertEqual(sorted(out), ["transformer_layer_0", "transformer_layer_1"])
        self.assertEqual(tuple(out["transformer_layer_1"].shape), (2, 5, 16))
        bert = dlzoo.build("bert-tiny", extensions=[{"name": "features_only", "layers": ["embeddings_*", 1]}], **SMALL)
        x = feed(segments=True)
        out = bert(x)
        self.assertEqual(sorted(out), ["embeddings_add", "embeddings_dropout", "embeddings_norm", "transformer_layer_1"])
        both = dlzoo.build("bert-tiny", extensions=[{"name": "features_only", "layers": ["sequence_output", 0]}], **SMALL)
        self.assertEqual(sorted(both(x)), ["sequence_output", "transformer_layer_0"])
        with tempfile.TemporaryDirectory() as tmp:
            bert.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
        for key, value in loaded(x).items():
            self.assertAllClose(value, out[key], atol=0)

    def test_errors(self):
        with self.assertRaisesNamed(ValueError, "level index 2", "2 levels", "layers"):
            dlzoo.build("gpt-tiny", extensions=[{"name": "features_only", "layers": [0, 2]}], **SMALL)
        with self.assertRaisesNamed(ValueError, "'pooler'", "sequence_output"):
            dlzoo.build("gpt-tiny", extensions=[{"name": "features_only", "layers": "pooler"}], **SMALL)
        with mock.patch.object(zoo_model, "wire") as never_called:
            with self.assertRaisesNamed(TypeError, "layers"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "features_only", "layers": [1.5]}])
            with self.assertRaisesNamed(TypeError, "layers"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "features_only", "layers": []}])
            with self.assertRaisesNamed(ValueError, "'features_only'", "'regression_head'"):
                dlzoo.build("gpt-tiny", extensions=["features_only", "regression_head"])
            never_called.assert_not_called()
