"""LCMPipeline: text -> split -> encode -> normalize -> model -> denormalize -> retrieval decode."""

import hashlib

import numpy as np

import dlzoo
from dlzoo.concepts import EmbeddingNormalizer, RetrievalDecoder
from dlzoo.models.lcm import LCMPipeline
from dlzoo.testing import TestCase


class HashEncoder:
    """A deterministic stand-in for a sentence encoder: one pseudo-random unit vector per text."""

    embedding_dim = 384

    def __init__(self):
        self.calls = []

    def encode(self, sentences, progress=None):
        self.calls.append(list(sentences))
        rows = []
        for s in sentences:
            seed = int(hashlib.sha256(s.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).standard_normal(384)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, "float32")


class LCMPipelineTest(TestCase):
    def setUp(self):
        super().setUp()
        self.encoder = HashEncoder()
        bank = [f"Bank sentence number {i}." for i in range(20)]
        self.decoder = RetrievalDecoder(bank, self.encoder.encode(bank))
        self.normalizer = EmbeddingNormalizer().fit(self.encoder.encode([f"fit {i}" for i in range(100)]))
        self.model = dlzoo.build("lcm-base-tiny")

    def test_text_to_retrieved_sentences(self):
        pipe = LCMPipeline(self.model, self.encoder, self.normalizer, self.decoder)
        out = pipe("The first sentence is here. A second one follows! And a third?", max_new_concepts=3)
        self.assertEqual(len(out), 3)
        self.assertTrue(all(s in self.decoder.texts for s in out))
        self.assertIn(["The first sentence is here.", "A second one follows!", "And a third?"], self.encoder.calls)
        self.assertIn(["End of text."], self.encoder.calls)  # the stop concept is encoded once

    def test_end_of_text_stops(self):
        pipe = LCMPipeline(self.model, self.encoder, self.normalizer, self.decoder)
        prompt = self.encoder.encode(["One.", "Two."])
        first = pipe.continue_concepts(prompt, max_new_concepts=1).concepts[0][0]
        stopper = LCMPipeline(self.model, self.encoder, self.normalizer, self.decoder, eot_embedding=first)
        result = stopper.continue_concepts(prompt, max_new_concepts=4)
        self.assertEqual(result.stop_reasons, ["end_of_text"])
        self.assertEqual(len(result.concepts[0]), 1)

    def test_rejects_empty_text_and_missing_decoder(self):
        pipe = LCMPipeline(self.model, self.encoder, self.normalizer, decoder=None)
        with self.assertRaisesNamed(ValueError, "decoder"):
            pipe("Some text here. More text.", max_new_concepts=1)
        with self.assertRaisesNamed(ValueError, "empty"):
            pipe([], max_new_concepts=1)
