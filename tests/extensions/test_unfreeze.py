"""`unfreeze`: re-open parts of a frozen or LoRA-adapted model, exactly; saving and errors."""

import os
import tempfile

import dlzoo
from dlzoo.extensions.freeze import trainability_report
from dlzoo.testing import TestCase

SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=2, max_sequence_length=16, attention={"num_heads": 2})


class UnfreezeTest(TestCase):
    def test_freeze_everything_then_unfreeze_some(self):
        exts = [{"name": "freeze", "patterns": "*"}, {"name": "unfreeze", "patterns": ["final_norm", "*/bias"]}]
        model = dlzoo.build("gpt-tiny", extensions=exts, **SMALL)
        expected = [w.path for w in model.weights if w.path.startswith("decoder/final_norm/") or w.path.endswith("/bias")]
        self.assertEqual(len(expected), 2 * 8 + 2)
        self.assertEqual(trainability_report(model)["trainable"], expected)
        with tempfile.TemporaryDirectory() as tmp:
            model.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
        self.assertEqual(trainability_report(loaded)["trainable"], expected)

    def test_unfreeze_after_lora(self):
        model = dlzoo.build("gpt-tiny", extensions=[{"name": "lora", "rank": 2}], **SMALL)
        more = dlzoo.apply_extension(model, "unfreeze", patterns=["transformer_layer_1/self_attention/query"])
        trainable = set(trainability_report(more)["trainable"])
        lora = {w.path for w in model.weights if "/lora_" in w.path}
        self.assertEqual(len(lora), 2 * 2 * 2)
        wrapped = {"decoder/transformer_layer_1/self_attention/query/kernel", "decoder/transformer_layer_1/self_attention/query/bias"}
        self.assertEqual(trainable, lora | wrapped)  # the wrapped projection itself opens again

    def test_errors(self):
        with self.assertRaisesNamed(ValueError, "'unfreeze'", "'nothing_here'"):
            dlzoo.build("gpt-tiny", extensions=[{"name": "unfreeze", "patterns": "nothing_here"}], **SMALL)
        with self.assertRaisesNamed(TypeError, "patterns"):
            dlzoo.build("gpt-tiny", extensions=[{"name": "unfreeze", "patterns": [""]}], **SMALL)
