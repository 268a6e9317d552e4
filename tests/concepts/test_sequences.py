import numpy as np

from dlzoo.concepts import END_OF_TEXT, add_affixes, encode_affix, pad_concept_sequences, wrap_sequences
from dlzoo.testing import TestCase


def _docs(lengths, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, dim)).astype("float32") for n in lengths]


class SequencesTest(TestCase):
    def test_pad_concept_sequences(self):
        docs = _docs([2, 4, 1])
        x, mask = pad_concept_sequences(docs)
        self.assertEqual(x.shape, (3, 4, 3))
        self.assertEqual(x.dtype, np.float32)
        self.assertEqual(mask.dtype, bool)
        np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
        for i, d in enumerate(docs):
            self.assertAllClose(x[i, : len(d)], d, atol=0)
            self.assertAllClose(x[i, len(d):], 0.0, atol=0)
        x, mask = pad_concept_sequences(docs, max_length=6)
        self.assertEqual(x.shape, (3, 6, 3))
        eot = np.full((3,), 7.0)
        x, mask = pad_concept_sequences(docs, append=eot)
        self.assertEqual(x.shape, (3, 5, 3))
        self.assertAllClose(x[0, 2], eot, atol=0)
        self.assertAllClose(x[1, 4], eot, atol=0)
        self.assertEqual(mask.sum(axis=1).tolist(), [3, 5, 2])
        x, mask = pad_concept_sequences(docs, prepend=eot)
        self.assertAllClose(x[:, 0], np.tile(eot, (3, 1)), atol=0)
        x, mask = pad_concept_sequences(docs, max_length=2, truncate=True)
        self.assertAllClose(x[1], docs[1][:2], atol=0)

    def test_affixes_then_wrap(self):
        docs = _docs([5, 2])
        prefix, suffix = np.full((1, 3), -1.0), np.full((2, 3), 9.0)
        affixed = add_affixes(docs, prefix=prefix, suffix=suffix)
        self.assertEqual([len(a) for a in affixed], [8, 5])
        self.assertAllClose(affixed[0][1:6], docs[0], atol=0)
        chunks = wrap_sequences(affixed, max_length=3)
        self.assertEqual([len(c) for c in chunks], [3, 3, 2, 3, 2])
        # Only the last chunk of a document ends with the suffix (wrapping after affixing).
        self.assertAllClose(chunks[2], suffix, atol=0)
        self.assertFalse(np.allclose(chunks[1][-1], suffix[0]))
        self.assertAllClose(np.concatenate(chunks[:3]), affixed[0], atol=0)

    def test_encode_affix(self):
        class FakeEncoder:
            def encode(self, sentences, progress=None):
                self.seen = list(sentences)
                return np.ones((len(sentences), 4))

        encoder = FakeEncoder()
        vec = encode_affix(END_OF_TEXT, encoder)
        self.assertEqual(END_OF_TEXT, "End of text.")
        self.assertEqual(encoder.seen, ["End of text."])
        self.assertEqual(vec.shape, (1, 4))
        self.assertEqual(vec.dtype, np.float32)
        self.assertEqual(encode_affix("Prompt follows. [MODEL]:", encoder).shape, (2, 4))
        self.assertIsNone(encode_affix(None, encoder))

    def test_bad_arguments(self):
        docs = _docs([4, 2])
        with self.assertRaisesNamed(ValueError, "max_length=3", "wrap_sequences"):
            pad_concept_sequences(docs, max_length=3)
        with self.assertRaisesNamed(ValueError, "max_length"):
            wrap_sequences(docs, max_length=0)
        with self.assertRaisesNamed(ValueError, "sequences"):
            pad_concept_sequences([np.ones((2, 3)), np.ones((2, 4))])
        with self.assertRaisesNamed(ValueError, "suffix"):
            add_affixes(docs, suffix=np.ones((1, 5)))
        with self.assertRaisesNamed(ValueError, "sequences"):
            pad_concept_sequences([])
