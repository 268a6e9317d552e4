"""`regression_head`: values match a NumPy reference, counting, saving, errors."""

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
    mask[0, 2:] = False
    x = {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": mask}
    if segments:
        x["segment_ids"] = rng.integers(0, 2, (batch, seq)).astype("int32")
    return x


def as_numpy(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


class RegressionHeadTest(TestCase):
    def test_values_match_reference(self):
        x = feed()
        spec = {"name": "regression_head", "outputs": 2, "pooling": "mean"}
        model = dlzoo.build("llama-tiny", extensions=[spec], **SMALL)
        hidden = dlzoo.build("llama-tiny", use_lm_head=False, **SMALL)
        self.assertEqual(transfer_weights(hidden, model)["reinitialized"], ["regressor/kernel", "regressor/bias"])
        h = as_numpy(hidden(x))
        mask = x["padding_mask"]
        pooled = np.stack([h[i, mask[i]].mean(axis=0) for i in range(2)])  # mean over real tokens only
        kernel, bias = (as_numpy(w) for w in model.get_layer("regressor").weights)
        self.assertAllClose(model(x), pooled @ kernel + bias, atol=1e-5, rtol=1e-5)
        self.assertEqual(model.count_params(), hidden.count_params() + 16 * 2 + 2)
        self.assertEqual(dlzoo.count_params("llama-tiny", extensions=[spec], **SMALL), model.count_params())

    def test_bert_last_token_then_save_and_load(self):
        x = feed(segments=True)
        spec = {"name": "regression_head", "pooling": "last", "dropout": 0.2}
        model = dlzoo.build("bert-tiny", extensions=[spec], **SMALL)
        self.assertEqual(tuple(model(x).shape), (2, 1))
        self.assertNotIn("pooler", [layer.name for layer in model.layers])  # not used by the head: not built
        self.assertEqual(dlzoo.count_params("bert-tiny", extensions=[spec], **SMALL), model.count_params())
        with tempfile.TemporaryDirectory() as tmp:
            model.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
        self.assertAllClose(loaded(x), model(x), atol=0)
        self.assertEqual(loaded.zoo_config["extensions"], [{"name": "regression_head", "pooling": "last", "dropout": 0.2}])

    def test_errors(self):
        with mock.patch.object(zoo_model, "wire") as never_called:
            with self.assertRaisesNamed(ValueError, "outputs"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "regression_head", "outputs": 0}])
            with self.assertRaisesNamed(ValueError, "dropout"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "regression_head", "dropout": 1.5}])
            with self.assertRaisesNamed(ValueError, "'regression_head'", "'classification_head'"):
                dlzoo.build("gpt-tiny", extensions=["regression_head", {"name": "classification_head", "num_classes": 2}])
            never_called.assert_not_called()
