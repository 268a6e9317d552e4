import hashlib
import os
import tempfile

import numpy as np

from dlzoo.concepts import Document, EmbeddingCache, encode_documents, encode_sentences, sentence_key
from dlzoo.testing import TestCase


class HashEncoder:
    """A deterministic stand-in encoder: a vector from the sha1 of the text; counts what it encodes."""

    def __init__(self, identity="hash-encoder-v1", dim=5):
        self.identity = identity
        self.embedding_dim = dim
        self.calls = []

    def vector(self, text):
        digest = hashlib.sha1(text.encode()).digest()
        return np.frombuffer(digest[: self.embedding_dim], dtype=np.uint8).astype("float32") / 255.0

    def encode(self, sentences, progress=None):
        self.calls.append(list(sentences))
        return np.stack([self.vector(s) for s in sentences]) if sentences else np.zeros((0, self.embedding_dim))


class EmbeddingCacheTest(TestCase):
    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()
        super().tearDown()

    def test_encode_documents_uses_cache(self):
        docs = ["First sentence here. Second one here.", ["Second one here.", "Third, pre-split."],
                Document("d", ["First sentence here."])]
        encoder = HashEncoder()
        out = encode_documents(docs, encoder, cache_dir=self.dir)
        self.assertEqual([a.shape for a in out], [(2, 5), (2, 5), (1, 5)])
        self.assertEqual(out[0].dtype, np.float32)
        self.assertAllClose(out[1][0], encoder.vector("Second one here."), atol=0)
        self.assertAllClose(out[2][0], out[0][0], atol=0)
        # Each unique sentence encoded exactly once.
        self.assertEqual(sorted(encoder.calls[0]), sorted(["First sentence here.", "Second one here.", "Third, pre-split."]))
        # A second run (a fresh encoder object with the same identity) encodes nothing.
        again = HashEncoder()
        out2 = encode_documents(docs, again, cache_dir=self.dir)
        self.assertEqual(again.calls, [])
        for a, b in zip(out, out2):
            self.assertAllClose(a, b, atol=0)
        # Only new sentences are encoded.
        encode_documents(["Brand new sentence. Second one here."], again, cache_dir=self.dir)
        self.assertEqual(again.calls, [["Brand new sentence."]])

    def test_identity_separates_encoders(self):
        encode_sentences(["a b c"], HashEncoder("enc-A"), cache_dir=self.dir)
        other = HashEncoder("enc-B")
        encode_sentences(["a b c"], other, cache_dir=self.dir)
        self.assertEqual(other.calls, [["a b c"]])
        self.assertEqual(len([d for d in os.listdir(self.dir)]), 2)
        self.assertNotEqual(sentence_key("enc-A", "a b c"), sentence_key("enc-B", "a b c"))
        self.assertNotEqual(sentence_key("enc-A", "a b c"), sentence_key("enc-A", "a b d"))

    def test_storage_is_npz_without_pickle(self):
        encoder = HashEncoder()
        encode_sentences(["x y z", "p q r"], encoder, cache_dir=self.dir)
        cache = EmbeddingCache(self.dir, encoder.identity)
        self.assertEqual(len(cache), 2)
        shards = [f for f in os.listdir(cache.directory) if f.endswith(".npz")]
        self.assertEqual(len(shards), 1)
        with np.load(os.path.join(cache.directory, shards[0]), allow_pickle=False) as data:
            self.assertEqual(data["embeddings"].shape, (2, 5))
            self.assertEqual(data["keys"].dtype.kind, "U")
        self.assertTrue(os.path.exists(os.path.join(cache.directory, "meta.json")))
        self.assertFalse(any(f.endswith(".tmp") for f in os.listdir(cache.directory)))

    def test_no_cache_and_empty(self):
        encoder = HashEncoder()
        vectors = encode_sentences(["s1", "s2", "s1"], encoder)
        self.assertEqual(encoder.calls, [["s1", "s2"]])
        self.assertAllClose(vectors[0], vectors[2], atol=0)
        self.assertEqual(encode_sentences([], encoder).shape, (0, 5))
        out = encode_documents(["", "One. Two three four."], encoder)
        self.assertEqual([a.shape for a in out], [(0, 5), (2, 5)])

    def test_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "identity"):
            EmbeddingCache(self.dir, "")
        cache = EmbeddingCache(self.dir, "some-identity")
        with self.assertRaisesNamed(ValueError, "same length"):
            cache.put(["k1"], np.ones((2, 5)))
        cache.put(["k1"], np.ones((1, 5)))
        with self.assertRaisesNamed(ValueError, "size"):
            cache.put(["k2"], np.ones((1, 4)))
