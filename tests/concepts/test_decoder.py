import math

import numpy as np

from dlzoo.concepts import ConceptDecoder, RetrievalDecoder, cosine_similarity
from dlzoo.testing import TestCase


def brute_force_top_k(queries, bank, k):
    """Cosine top-k by explicit Python loops (float64), ties broken by bank order."""
    out_idx, out_scores = [], []
    for q in queries:
        scores = []
        for j, b in enumerate(bank):
            cos = float(np.dot(q, b) / (math.sqrt(np.dot(q, q)) * math.sqrt(np.dot(b, b))))
            scores.append((-cos, j))
        scores.sort()
        out_idx.append([j for _, j in scores[:k]])
        out_scores.append([-s for s, _ in scores[:k]])
    return np.array(out_idx), np.array(out_scores)


class RetrievalDecoderTest(TestCase):
    def test_matches_brute_force(self):
        rng = np.random.default_rng(0)
        bank = rng.standard_normal((50, 8)).astype("float32") * rng.uniform(0.1, 5, size=(50, 1)).astype("float32")
        texts = [f"sentence {i}" for i in range(50)]
        queries = rng.standard_normal((7, 8)).astype("float32")
        decoder = RetrievalDecoder(texts, bank, chunk_size=3)  # several chunks
        for k in (1, 4, 50):
            idx, scores = decoder.search_indices(queries, top_k=k)
            ref_idx, ref_scores = brute_force_top_k(queries.astype("float64"), bank.astype("float64"), k)
            np.testing.assert_array_equal(idx, ref_idx)
            self.assertAllClose(scores, ref_scores, atol=1e-5)
        self.assertEqual(decoder.decode(queries), [texts[i] for i in ref_idx[:, 0]])
        found, scores = decoder.search(bank[5], top_k=2)  # a 1-D query
        self.assertEqual(found[0][0], "sentence 5")
        self.assertAllClose(scores[0, 0], 1.0, atol=1e-5)

    def test_exact_match_and_dedup(self):
        bank = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype="float32")
        texts = ["a", "b", "a", "c"]
        decoder = RetrievalDecoder(texts, bank)
        self.assertEqual(decoder.bank_size, 3)
        found, _ = decoder.search(np.array([[1.0, 0.1, 0.0]]), top_k=3)
        self.assertEqual(found, [["a", "b", "c"]])
        self.assertEqual(RetrievalDecoder(texts, bank, deduplicate=False).bank_size, 4)

    def test_from_sentences_uses_encoder(self):
        class FakeEncoder:
            def encode(self, sentences, progress=None):
                return np.array([[len(s), 1.0] for s in sentences], dtype="float32")

        decoder = RetrievalDecoder.from_sentences(["hi", "hello there", "hi"], FakeEncoder())
        self.assertEqual(decoder.texts, ["hi", "hello there"])
        self.assertEqual(decoder.decode(np.array([[11.0, 1.0]])), ["hello there"])

    def test_interface(self):
        class UpperDecoder(ConceptDecoder):
            def decode(self, vectors):
                return ["X"] * len(vectors)

        self.assertEqual(UpperDecoder()(np.zeros((2, 3))), ["X", "X"])
        with self.assertRaises(TypeError):
            ConceptDecoder()
        self.assertIsInstance(RetrievalDecoder(["a"], np.ones((1, 2))), ConceptDecoder)

    def test_cosine_similarity(self):
        a = np.array([[1.0, 0.0], [1.0, 1.0]])
        b = np.array([[0.0, 2.0], [2.0, 2.0]])
        self.assertAllClose(cosine_similarity(a, b), [0.0, 1.0], atol=1e-7)

    def test_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "same length"):
            RetrievalDecoder(["a", "b"], np.ones((3, 2)))
        with self.assertRaisesNamed(ValueError, "sentence_bank_embeddings"):
            RetrievalDecoder(["a"], np.ones(2))
        decoder = RetrievalDecoder(["a", "b"], np.eye(2))
        with self.assertRaisesNamed(ValueError, "top_k"):
            decoder.search(np.ones((1, 2)), top_k=3)
        with self.assertRaisesNamed(ValueError, "vectors"):
            decoder.decode(np.ones((1, 5)))
        with self.assertRaisesNamed(ValueError, "chunk_size"):
            RetrievalDecoder(["a"], np.ones((1, 2)), chunk_size=0)
