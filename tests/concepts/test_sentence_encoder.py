"""SentenceEncoder against the sentence-transformers recipe for all-MiniLM-L6-v2.

`tests/data/minilm_reference.npz` holds embeddings computed independently with
the sentence-transformers library (see `tests/data/README.md`); every backend
must reproduce them to cosine >= 0.9999, with the default encoder (the
checkpoint loaded into dlzoo's own `bert` by `dlzoo.checkpoints`, the
`tokenizer.json` read with `tokenizers`) and with the keras-hub route.
"""

import importlib.util
import os
import unittest

import numpy as np

import keras

import dlzoo
from dlzoo.concepts import SentenceEncoder, default_model_dir, stdlib_docstrings_corpus
from dlzoo.concepts.tokenizer_file import TokenizerFile
from dlzoo.testing import TestCase

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data", "minilm_reference.npz")


def _cosine(a, b):
    a = np.asarray(a, "float64")
    b = np.asarray(b, "float64")
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


class SentenceEncoderTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.encoder = SentenceEncoder()
        with np.load(DATA, allow_pickle=False) as data:
            cls.sentences = [str(s) for s in data["sentences"]]
            cls.reference = data["embeddings"]

    def test_matches_recorded_sentence_transformers_embeddings(self):
        self.assertEqual(len(self.sentences), 13)
        out = self.encoder.encode(self.sentences)
        self.assertEqual(out.shape, (13, 384))
        self.assertEqual(out.dtype, np.float32)
        cos = _cosine(out, self.reference)
        self.assertGreaterEqual(cos.min(), 0.9999, msg=f"cosines {cos}")
        # With the exact GELU the match is much tighter than the required cosine.
        self.assertAllClose(out, self.reference, atol=2e-5, rtol=0)
        self.assertAllClose(np.linalg.norm(out, axis=1), np.ones(13), atol=1e-5)

    def test_batching_and_order_do_not_change_results(self):
        order = np.random.default_rng(0).permutation(len(self.sentences))
        shuffled = [self.sentences[i] for i in order]
        out = self.encoder.encode(shuffled, batch_size=5, progress=True)
        self.assertAllClose(out, self.reference[order], atol=2e-5, rtol=0)
        self.assertAllClose(self.encoder.encode("Hello!")[0], self.reference[4], atol=2e-5, rtol=0)
        self.assertEqual(self.encoder.encode([]).shape, (0, 384))

    def test_properties_and_unnormalized_pooling(self):
        self.assertEqual(self.encoder.embedding_dim, 384)
        self.assertEqual(len(self.encoder.identity), 64)
        raw = SentenceEncoder(backbone=self.encoder.backbone, tokenizer=self.encoder.tokenizer, normalize=False)
        self.assertEqual(raw.identity, raw.identity)
        self.assertNotEqual(raw.identity, self.encoder.identity)
        vectors = raw.encode(self.sentences[:4])
        norms = np.linalg.norm(vectors, axis=1)
        self.assertTrue(np.all(np.abs(norms - 1) > 1e-2))
        self.assertAllClose(vectors / norms[:, None], self.reference[:4], atol=2e-5, rtol=0)
        self.assertTrue(os.path.isfile(os.path.join(default_model_dir(), "model.safetensors")))

    def test_default_route_is_dlzoo_bert_and_the_tokenizer_file(self):
        self.assertIsInstance(self.encoder.backbone, dlzoo.ZooModel)
        self.assertEqual(self.encoder.backbone.zoo_config["model"], "bert")
        self.assertEqual(self.encoder.backbone.checkpoint_report["ignored"],
                         {"pooler.dense.weight": "use_pooler=False", "pooler.dense.bias": "use_pooler=False",
                          "embeddings.position_ids": "index buffer (dlzoo makes the positions)"})
        self.assertIsInstance(self.encoder.tokenizer, TokenizerFile)
        self.assertEqual((self.encoder.tokenizer.start_token_id, self.encoder.tokenizer.end_token_id), (101, 102))

    def test_keras_hub_route_matches_too(self):
        encoder = SentenceEncoder(use_keras_hub=True)
        self.assertEqual(type(encoder.backbone).__name__, "BertBackbone")
        out = encoder.encode(self.sentences)
        self.assertGreaterEqual(_cosine(out, self.reference).min(), 0.9999)
        self.assertAllClose(out, self.reference, atol=2e-5, rtol=0)
        self.assertNotEqual(encoder.identity, self.encoder.identity)

    def test_truncation(self):
        long = " ".join(["word"] * 300)
        ids = self.encoder.tokenize([long])[0]
        self.assertEqual(len(ids), 128)
        self.assertEqual((ids[0], ids[-1]), (101, 102))  # [CLS] ... [SEP]
        self.assertTrue(np.all(np.isfinite(self.encoder.encode([long]))))

    @unittest.skipUnless(importlib.util.find_spec("sentence_transformers"), "sentence-transformers not installed")
    def test_live_sentence_transformers_comparison(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        docs = stdlib_docstrings_corpus(max_documents=3)
        sentences = [s for d in docs for s in d.sentences][:8]
        model = SentenceTransformer(default_model_dir(), device="cpu")
        expected = model.encode(sentences, convert_to_numpy=True)
        out = self.encoder.encode(sentences)
        self.assertGreaterEqual(_cosine(out, expected).min(), 0.9999)


class PluggableBackboneTest(TestCase):
    def test_small_keras_hub_backbone_mean_pooling(self):
        import keras_hub

        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jumps", "."]
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                                                 hidden_dim=8, intermediate_dim=16, max_sequence_length=32)
        encoder = SentenceEncoder(backbone=backbone, tokenizer=tokenizer, sequence_length=16, normalize=False)
        self.assertEqual(encoder.embedding_dim, 8)
        sentences = ["The quick brown fox.", "Fox.", "the the the quick quick brown fox jumps ."]
        out = encoder.encode(sentences)
        # Independent path: each sentence alone, unpadded, mean over all its tokens.
        for sentence, row in zip(sentences, out):
            ids = [2] + [vocab.index(t) for t in sentence.lower().replace(".", " .").split()] + [3]
            feed = {"token_ids": np.array([ids]), "segment_ids": np.zeros((1, len(ids)), "int32"),
                    "padding_mask": np.ones((1, len(ids)), "int32")}
            hidden = keras.ops.convert_to_numpy(backbone(feed)["sequence_output"])[0]
            self.assertAllClose(row, hidden.mean(axis=0), atol=1e-5, rtol=1e-5)
        cls = SentenceEncoder(backbone=backbone, tokenizer=tokenizer, sequence_length=16, pooling="cls",
                              normalize=True).encode(sentences[:1])
        self.assertAllClose(np.linalg.norm(cls, axis=1), [1.0], atol=1e-6)

    def test_local_keras_hub_preset_directory(self):
        import tempfile

        import keras_hub

        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "."]
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                                                 hidden_dim=8, intermediate_dim=16, max_sequence_length=32)
        sentences = ["a b c.", "c a."]
        expected = SentenceEncoder(backbone=backbone, tokenizer=tokenizer, sequence_length=16).encode(sentences)
        with tempfile.TemporaryDirectory() as preset:
            backbone.save_to_preset(preset)
            tokenizer.save_to_preset(preset)
            loaded = SentenceEncoder(preset=preset, sequence_length=16)
            self.assertIsInstance(loaded.backbone, keras_hub.models.BertBackbone)
            self.assertAllClose(loaded.encode(sentences), expected, atol=1e-6)

    def test_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "sequence_length"):
            SentenceEncoder(backbone=object(), sequence_length=2)
        with self.assertRaisesNamed(ValueError, "pooling", "mean"):
            SentenceEncoder(backbone=object(), pooling="max")
        with self.assertRaisesNamed(ValueError, "tokenizer"):
            SentenceEncoder(backbone=object())
        with self.assertRaisesNamed(TypeError, "preset"):
            SentenceEncoder(preset=3)
