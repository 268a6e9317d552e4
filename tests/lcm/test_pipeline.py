"""LCMPipeline: text -> split -> encode -> normalize -> model -> denormalize -> retrieval decode."""

import hashlib

import numpy as np

import dlzoo
from dlzoo.concepts import EmbeddingNormalizer, RetrievalDecoder
from dlzoo.lcm import LCMPipeline
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

    def test_generate_several_documents_and_normalized_decoding(self):
        bank = list(self.decoder.texts)
        normalized_decoder = RetrievalDecoder(bank, self.normalizer.normalize(self.encoder.encode(bank)))
        pipe = LCMPipeline(self.model, self.encoder, self.normalizer, normalized_decoder, decode_space="normalized")
        out = pipe.generate(["One sentence. Two sentences.", ["A.", "B.", "C."]], max_new_concepts=2)
        self.assertEqual([len(o) for o in out], [2, 2])
        # Decoding in the normalized space = nearest bank row to the model's normalized prediction.
        prompt = self.encoder.encode(["A.", "B.", "C."])
        normalized = pipe.continue_concepts(prompt, max_new_concepts=2).normalized[0]
        self.assertEqual(out[1], normalized_decoder.decode(normalized))
        with self.assertRaisesNamed(TypeError, "documents"):
            pipe.generate("one document")
        with self.assertRaisesNamed(ValueError, "decode_space"):
            LCMPipeline(self.model, self.encoder, self.normalizer, self.decoder, decode_space="latent")
        with self.assertRaisesNamed(ValueError, "normalizer"):
            LCMPipeline(self.model, self.encoder, None, self.decoder, decode_space="normalized")

    def test_from_directory(self):
        import json
        import os
        import tempfile

        bank = list(self.decoder.texts)
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesNamed(FileNotFoundError, "model.keras", "bank.json"):
                LCMPipeline.from_directory(tmp, encoder=self.encoder)
            self.model.save(os.path.join(tmp, "model.keras"))
            self.normalizer.save(os.path.join(tmp, "normalizer.json"))
            with open(os.path.join(tmp, "bank.json"), "w") as f:
                json.dump(bank, f)
            np.save(os.path.join(tmp, "bank.npy"), self.encoder.encode(bank))
            pipe = LCMPipeline.from_directory(os.path.join(tmp, "model.keras"), encoder=self.encoder)
            self.assertEqual(pipe.decode_space, "normalized")
            prompt = ["The first sentence is here.", "A second one follows!"]
            expected = LCMPipeline(self.model, self.encoder, self.normalizer,
                                   RetrievalDecoder(bank, self.normalizer.normalize(self.encoder.encode(bank))),
                                   decode_space="normalized")(prompt, max_new_concepts=2)
            self.assertEqual(pipe(prompt, max_new_concepts=2), expected)
            self.assertTrue(all(s in bank for s in expected))
