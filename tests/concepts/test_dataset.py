import numpy as np

import keras

from dlzoo.concepts import ConceptSequenceDataset, EmbeddingNormalizer
from dlzoo.testing import TestCase


def _docs(lengths, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, dim)).astype("float32") * 3 + 1 for n in lengths]


class ConceptSequenceDatasetTest(TestCase):
    def test_batches(self):
        docs = _docs([3, 5, 2, 4, 1])
        ds = ConceptSequenceDataset(docs, batch_size=2)
        self.assertEqual(len(ds), 3)
        x, y = ds[0]
        self.assertEqual(sorted(x), ["embeddings", "padding_mask"])
        self.assertEqual(x["embeddings"].shape, (2, 5, 4))  # padded to the dataset's longest
        self.assertEqual(x["padding_mask"].dtype, bool)
        self.assertEqual(x["padding_mask"].sum(axis=1).tolist(), [3, 5])
        self.assertAllClose(y, x["embeddings"], atol=0)  # Base-LCM targets: the embeddings
        self.assertAllClose(x["embeddings"][0, :3], docs[0], atol=0)
        last, _ = ds[2]
        self.assertEqual(last["embeddings"].shape, (1, 5, 4))
        self.assertEqual(len(ConceptSequenceDataset(docs, batch_size=2, drop_remainder=True)), 2)
        by_batch = ConceptSequenceDataset(docs, batch_size=2, pad_to="batch")
        self.assertEqual(by_batch[1][0]["embeddings"].shape, (2, 4, 4))
        fixed = ConceptSequenceDataset(docs, batch_size=2, max_length=8)
        self.assertEqual(fixed[0][0]["embeddings"].shape, (2, 8, 4))

    def test_targets_modes(self):
        docs = _docs([3, 2])
        (x,) = ConceptSequenceDataset(docs, targets="none")[0]
        self.assertIn("embeddings", x)
        shifted = ConceptSequenceDataset(docs, targets=lambda e, m: (e[:, 1:], m[:, 1:].astype("float32")))
        x, y, w = shifted[0]
        self.assertAllClose(y, x["embeddings"][:, 1:], atol=0)
        self.assertEqual(w.tolist(), [[1.0, 1.0], [1.0, 0.0]])
        x, y = ConceptSequenceDataset(docs, targets=lambda e, m: ({"a": e, "b": m}, None))[0]
        self.assertEqual(sorted(y), ["a", "b"])

    def test_normalizer_and_shuffle(self):
        docs = _docs([3, 2, 4, 1, 2, 3], seed=1)
        norm = EmbeddingNormalizer().fit(docs)
        ds = ConceptSequenceDataset(docs, batch_size=6, normalizer=norm)
        x, _ = ds[0]
        self.assertAllClose(x["embeddings"][2, :4], norm.normalize(docs[2]), atol=1e-6)
        self.assertAllClose(x["embeddings"][3, 1:], 0.0, atol=0)  # padding stays zero
        a = ConceptSequenceDataset(docs, batch_size=2, shuffle=True, seed=3)
        b = ConceptSequenceDataset(docs, batch_size=2, shuffle=True, seed=3)
        first = [a[i][0]["embeddings"] for i in range(3)]
        for i in range(3):
            self.assertAllClose(first[i], b[i][0]["embeddings"], atol=0)
        plain = ConceptSequenceDataset(docs, batch_size=2)
        self.assertFalse(all(np.array_equal(first[i], plain[i][0]["embeddings"]) for i in range(3)))
        a.on_epoch_end()
        seen = sorted(int(m.sum()) for i in range(3) for m in a[i][0]["padding_mask"])
        self.assertEqual(seen, sorted(len(d) for d in docs))  # a permutation of all sequences

    def test_fit_on_backend(self):
        dim = 4
        emb = keras.Input((None, dim), name="embeddings")
        mask = keras.Input((None,), dtype="bool", name="padding_mask")
        out = keras.layers.Dense(dim)(emb)
        model = keras.Model({"embeddings": emb, "padding_mask": mask}, out)
        model.compile(optimizer="sgd", loss="mse")
        ds = ConceptSequenceDataset(_docs([3, 5, 2, 4, 1]), batch_size=2, shuffle=True)
        history = model.fit(ds, epochs=2, verbose=0)
        self.assertEqual(len(history.history["loss"]), 2)
        self.assertTrue(np.isfinite(history.history["loss"]).all())
        self.assertEqual(model.predict(ds, verbose=0).shape, (5, 5, dim))

    def test_bad_arguments(self):
        docs = _docs([3, 2])
        with self.assertRaisesNamed(ValueError, "targets", "embeddings"):
            ConceptSequenceDataset(docs, targets="embedings")
        with self.assertRaisesNamed(ValueError, "max_length=2", "wrap_sequences"):
            ConceptSequenceDataset(docs, max_length=2)
        with self.assertRaisesNamed(ValueError, "pad_to"):
            ConceptSequenceDataset(docs, pad_to="longest")
        with self.assertRaisesNamed(ValueError, "batch_size"):
            ConceptSequenceDataset(docs, batch_size=0)
        with self.assertRaises(IndexError):
            ConceptSequenceDataset(docs)[5]
