"""`classification_head`: logits on gpt/llama/bert/images against NumPy, counting, saving, errors."""

import os
import tempfile
from unittest import mock

import keras
import numpy as np

import dlzoo
from dlzoo import builder, zoo_model
from dlzoo.extensions import transfer_weights
from dlzoo.testing import TestCase
from tests.blocks.pooling.test_sequence_pooling import np_pool

SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=1, max_sequence_length=16, attention={"num_heads": 2})


def feed(batch=2, seq=5, vocab=32, seed=0, segments=False):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), bool)
    mask[0, 3:] = False
    x = {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": mask}
    if segments:
        x["segment_ids"] = np.zeros((batch, seq), "int32")
    return x


def np_out(model, x):
    out = model(x)
    if isinstance(out, dict):
        return {k: keras.ops.convert_to_numpy(v).astype("float64") for k, v in out.items()}
    return keras.ops.convert_to_numpy(out).astype("float64")


def weights_of(layer):
    return [keras.ops.convert_to_numpy(w).astype("float64") for w in layer.weights]


class ClassificationHeadTest(TestCase):
    def test_logits_match_reference_on_decoders(self):
        x = feed()
        for name, pooling in (("gpt-tiny", "last"), ("llama-tiny", "max")):
            spec = {"name": "classification_head", "num_classes": 3, "pooling": pooling, "dropout": 0.1}
            model = dlzoo.build(name, extensions=[spec], **SMALL)
            names = [layer.name for layer in model.layers]
            self.assertNotIn("lm_head", names)  # the LM head gave way to the classifier: not built, not counted
            self.assertNotIn("logits", names)
            hidden = dlzoo.build(name, use_lm_head=False, **SMALL)
            report = transfer_weights(hidden, model)
            self.assertEqual(report["reinitialized"], ["classifier/kernel", "classifier/bias"])
            kernel, bias = weights_of(model.get_layer("classifier"))
            expected = np_pool(np_out(hidden, x), x["padding_mask"], pooling) @ kernel + bias
            self.assertAllClose(model(x), expected, atol=1e-5, rtol=1e-5)
            self.assertEqual(model.count_params(), hidden.count_params() + 16 * 3 + 3)
            self.assertEqual(dlzoo.count_params(name, extensions=[spec], **SMALL), model.count_params())

    def test_bert_cls_reads_the_pooler_and_mean_drops_it(self):
        x = feed(segments=True)
        base = dlzoo.build("bert-tiny", **SMALL)
        cls = dlzoo.build("bert-tiny", extensions=[{"name": "classification_head", "num_classes": 2, "pooling": "cls"}], **SMALL)
        transfer_weights(base, cls)
        kernel, bias = weights_of(cls.get_layer("classifier"))
        self.assertAllClose(cls(x), np_out(base, x)["pooled_output"] @ kernel + bias, atol=1e-5, rtol=1e-5)
        mean = dlzoo.build("bert-tiny", extensions=[{"name": "classification_head", "num_classes": 2}], **SMALL)
        self.assertNotIn("pooler", [layer.name for layer in mean.layers])  # the pooler is not used, not built
        transfer_weights(base, mean)
        kernel, bias = weights_of(mean.get_layer("classifier"))
        expected = np_pool(np_out(base, x)["sequence_output"], x["padding_mask"], "mean") @ kernel + bias
        self.assertAllClose(mean(x), expected, atol=1e-5, rtol=1e-5)
        self.assertEqual(
            dlzoo.count_params("bert-tiny", extensions=[{"name": "classification_head", "num_classes": 2}], **SMALL),
            mean.count_params(),
        )

    def test_apply_to_built_model_then_save_and_load(self):
        model = dlzoo.build("gpt-tiny", **SMALL)
        headed = dlzoo.apply_extension(model, "classification_head", num_classes=4, pooling="mean")
        report = headed.extension_report  # rebuilt with the head: every weight of the model kept, the head new
        self.assertEqual(report["reinitialized"], ["classifier/kernel", "classifier/bias"])
        self.assertEqual(sorted(report["kept"]), sorted(w.path for w in model.weights))
        self.assertEqual(headed.zoo_config["extensions"], [{"name": "classification_head", "num_classes": 4, "pooling": "mean"}])
        x = feed()
        self.assertEqual(tuple(headed(x).shape), (2, 4))
        with tempfile.TemporaryDirectory() as tmp:
            headed.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
        self.assertAllClose(loaded(x), headed(x), atol=0)

    def test_errors(self):
        with mock.patch.object(zoo_model, "wire") as never_called:
            with self.assertRaisesNamed(ValueError, "num_classes"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "classification_head", "num_classes": 0}])
            with self.assertRaisesNamed(ValueError, "pooling", "'avg'"):
                dlzoo.build("gpt-tiny", extensions=[{"name": "classification_head", "num_classes": 2, "pooling": "avg"}])
            with self.assertRaisesNamed(ValueError, "needs the argument", "num_classes"):
                dlzoo.build("gpt-tiny", extensions=["classification_head"])
            for other in ("regression_head", "language_model_head", "features_only"):
                with self.assertRaisesNamed(ValueError, "'classification_head'", f"'{other}'", "conflicts"):
                    dlzoo.build("bert-tiny", extensions=[{"name": "classification_head", "num_classes": 2}, other])
            never_called.assert_not_called()

    def test_image_model_reads_its_pooled_features(self):
        images = np.random.default_rng(0).standard_normal((3, 8, 8, 1)).astype("float32")
        spec = {"name": "classification_head", "num_classes": 5}
        model = dlzoo.build("image-mlp-tiny", extensions=[spec])
        base = dlzoo.build("image-mlp-tiny")
        transfer_weights(base, model)
        features = keras.Model(base.input, base.get_layer("head_dropout").output)
        kernel, bias = weights_of(model.get_layer("classifier"))
        expected = keras.ops.convert_to_numpy(features({"images": images})).astype("float64") @ kernel + bias
        self.assertAllClose(model({"images": images}), expected, atol=1e-5, rtol=1e-5)
        self.assertEqual(dlzoo.count_params("image-mlp-tiny", extensions=[spec]), model.count_params())
