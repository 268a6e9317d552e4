"""`freeze`: by layer path, layer name and weight path; what it reports; training, saving and errors."""

import os
import tempfile
from unittest import mock

import keras
import numpy as np

import dlzoo
from dlzoo import builder, zoo_model
from dlzoo.extensions.freeze import Freeze, trainability_report
from dlzoo.testing import TestCase

SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=2, max_sequence_length=16, attention={"num_heads": 2})


def feed(batch=2, seq=5, vocab=32, seed=0):
    rng = np.random.default_rng(seed)
    return {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": np.ones((batch, seq), bool)}


def size(weight):
    return int(np.prod(weight.shape))


class FreezeTest(TestCase):
    def test_freeze_layers_by_path_and_train(self):
        spec = {"name": "freeze", "patterns": ["token_embedding", "transformer_layer_0"]}
        model = dlzoo.build("gpt-tiny", extensions=[spec], dropout=0.0, **SMALL)
        frozen = [w.path for w in model.weights if w.path.startswith(("token_embedding/", "decoder/transformer_layer_0/"))]
        self.assertEqual(len(frozen), 1 + 16)  # the table, and 16 weights of the first layer
        report = trainability_report(model)
        self.assertEqual(report["frozen"], frozen)
        self.assertEqual(sorted(w.path for w in model.trainable_weights), sorted(set(w.path for w in model.weights) - set(frozen)))
        self.assertEqual(report["frozen_params"], sum(size(w) for w in model.weights if w.path in frozen))
        self.assertEqual(report["frozen_params"] + report["trainable_params"], model.count_params())
        self.assertEqual(dlzoo.count_params("gpt-tiny", extensions=[spec], dropout=0.0, **SMALL), model.count_params())

        before = {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.weights}
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse", jit_compile=False)
        model.train_on_batch(feed(), np.ones((2, 5, 32), "float32"))
        moved = {w.path for w in model.weights if not np.array_equal(before[w.path], keras.ops.convert_to_numpy(w))}
        self.assertFalse(moved & set(frozen))
        self.assertIn("decoder/transformer_layer_1/feedforward/output_proj/kernel", moved)

        with tempfile.TemporaryDirectory() as tmp:
            model.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
        self.assertEqual(trainability_report(loaded)["frozen"], frozen)

    def test_weight_path_and_name_patterns(self):
        model = dlzoo.build("gpt-tiny", **SMALL)
        frozen = dlzoo.apply_extension(model, "freeze", patterns=["*/bias", "query"])
        self.assertEqual(frozen.zoo_config["extensions"], [{"name": "freeze", "patterns": ["*/bias", "query"]}])
        biases = [w.path for w in model.weights if w.path.endswith("/bias")]
        self.assertEqual(len(biases), 2 * 8 + 1)  # per layer: 2 norms, q, k, v, out, 2 MLP; and the final norm
        queries = [w.path for w in model.weights if "/query/" in w.path]
        self.assertEqual(sorted(trainability_report(frozen)["frozen"]), sorted(set(biases) | set(queries)))
        # The extension object reports what one application froze.
        extension = Freeze(patterns="query")
        extension.apply_model(dlzoo.build("llama-tiny", **SMALL))
        self.assertEqual(
            extension.last_report["layers"],
            ["decoder/transformer_layer_0/self_attention/query", "decoder/transformer_layer_1/self_attention/query"],
        )

    def test_errors(self):
        with self.assertRaisesNamed(ValueError, "'transformer_layer_9'", "top-level layers"):
            dlzoo.build("gpt-tiny", extensions=[{"name": "freeze", "patterns": ["transformer_layer_9"]}], **SMALL)
        with mock.patch.object(zoo_model, "wire") as never_called:
            with self.assertRaisesNamed(ValueError, "patterns"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "freeze", "patterns": []}])
            with self.assertRaisesNamed(TypeError, "patterns"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "freeze", "patterns": 3}])
            with self.assertRaisesNamed(ValueError, "needs the argument", "patterns"):
                dlzoo.build("gpt-tiny", extensions=["freeze"])
            never_called.assert_not_called()
