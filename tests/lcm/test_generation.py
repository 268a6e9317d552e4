"""Generation: KV-cached decoding equals recomputation, teacher forcing, end-of-text stop, seeds, backends."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo.concepts import EmbeddingNormalizer
from dlzoo.lcm import generate, predict_next_concepts
from dlzoo.lcm.generation import model_family
from dlzoo.testing import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _set_weights(model, seed=0, scale=0.2):
    """Deterministic weights from NumPy (the same on every backend), AdaLN modulators included."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        values = rng.standard_normal(w.shape).astype("float32") * scale
        if "scale" in w.path or "gamma" in w.path:
            values = 1.0 + values
        w.assign(values)


def _prompt(n, s=384, seed=1):
    return np.random.default_rng(seed).standard_normal((n, s)).astype("float32")


def _normalizer(seed=2):
    return EmbeddingNormalizer(method="standard").fit(np.random.default_rng(seed).normal(0.3, 2.0, (200, 384)))


class BaseLCMGenerationTest(TestCase):
    def setUp(self):
        super().setUp()
        self.model = dlzoo.build("lcm-base-tiny")
        _set_weights(self.model)

    def _naive(self, prompt, steps, normalizer=None):
        seq = normalizer.normalize(prompt) if normalizer is not None else prompt
        out = []
        for _ in range(steps):
            y = keras.ops.convert_to_numpy(
                self.model({"embeddings": seq[None], "padding_mask": np.ones((1, len(seq)), bool)})
            )[0, -1]
            out.append(y)
            seq = np.concatenate([seq, y[None]])
        out = np.stack(out)
        return normalizer.denormalize(out) if normalizer is not None else out

    def test_kv_cached_generation_equals_recomputation(self):
        prompt = _prompt(3)
        normalizer = _normalizer()
        result = generate(self.model, prompt, normalizer=normalizer, max_new_concepts=4)
        self.assertEqual(result.stop_reasons, ["max_length"])
        self.assertAllClose(result.concepts[0], self._naive(prompt, 4, normalizer), atol=1e-3, rtol=1e-4)
        self.assertAllClose(result.normalized[0], normalizer.normalize(result.concepts[0]), atol=1e-3, rtol=1e-4)

    def test_teacher_forcing_of_unequal_prompts(self):
        short, long = _prompt(2, seed=3), _prompt(5, seed=4)
        batch = generate(self.model, [short, long], max_new_concepts=3)
        for prompt, got in zip((short, long), batch.concepts):
            alone = generate(self.model, prompt, max_new_concepts=3).concepts[0]
            self.assertAllClose(got, alone, atol=1e-4, rtol=1e-4)
            self.assertAllClose(got, self._naive(prompt, 3), atol=1e-3, rtol=1e-4)

    def test_end_of_text_stop_keeps_the_stopping_concept(self):
        prompt = _prompt(2)
        free = generate(self.model, prompt, max_new_concepts=5)
        eot = free.concepts[0][1]  # the second generated concept plays "End of text."
        stopped = generate(self.model, prompt, eot_embedding=eot, max_new_concepts=5)
        self.assertEqual(stopped.stop_reasons, ["end_of_text"])
        self.assertEqual(len(stopped.concepts[0]), 2)
        self.assertAllClose(stopped.concepts[0], free.concepts[0][:2], atol=1e-5)
        late = generate(self.model, prompt, eot_embedding=eot, max_new_concepts=5, min_new_concepts=3)
        self.assertEqual(len(late.concepts[0]), 5 if late.stop_reasons == ["max_length"] else len(late.concepts[0]))
        self.assertGreaterEqual(len(late.concepts[0]), 3)

    def test_latent_noise_is_off_by_default_and_seeded(self):
        prompt = _prompt(2)
        plain = generate(self.model, prompt, max_new_concepts=2).concepts[0]
        noisy = generate(self.model, prompt, max_new_concepts=2, sample_latent=True, seed=5).concepts[0]
        again = generate(self.model, prompt, max_new_concepts=2, sample_latent=True, seed=5).concepts[0]
        self.assertGreater(np.abs(noisy - plain).max(), 0.1)
        self.assertAllClose(noisy, again, atol=1e-5)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "max_new_concepts"):
            generate(self.model, _prompt(2), max_new_concepts=0)
        with self.assertRaisesNamed(ValueError, "prompt"):
            generate(self.model, [np.zeros((0, 384), "float32")])
        with self.assertRaisesNamed(ValueError, "Large Concept Model"):
            model_family(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


class TwoTowerGenerationTest(TestCase):
    def setUp(self):
        super().setUp()
        self.model = dlzoo.build("lcm-two-tower-tiny")
        _set_weights(self.model, scale=0.1)

    def test_seeded_and_shaped(self):
        prompt = _prompt(3)
        a = generate(self.model, prompt, max_new_concepts=2, num_inference_steps=5, seed=1)
        b = generate(self.model, prompt, max_new_concepts=2, num_inference_steps=5, seed=1)
        c = generate(self.model, prompt, max_new_concepts=2, num_inference_steps=5, seed=2)
        self.assertEqual(a.concepts[0].shape, (2, 384))
        self.assertAllClose(a.concepts[0], b.concepts[0], atol=1e-5)
        self.assertGreater(np.abs(a.concepts[0] - c.concepts[0]).max(), 1e-3)

    def test_incremental_context_matches_teacher_forced_prediction(self):
        # With a zero initial latent (no randomness), the concept generated after x[:t] equals the
        # teacher-forced, all-positions-at-once prediction at position t (causal cross-attention).
        x = _prompt(5)
        settings = dict(num_inference_steps=10, guidance_scale=2.0, guidance_rescale=0.5, initial_noise_scale=0.0)
        teacher = predict_next_concepts(self.model, x[None], np.ones((1, 5), bool), **settings)
        for t in (1, 3, 4):
            generated = generate(self.model, x[:t], max_new_concepts=1, **settings).normalized[0][0]
            self.assertAllClose(generated, teacher[0, t], atol=2e-4, rtol=1e-3)

    def test_end_of_text_stop(self):
        prompt = _prompt(2)
        settings = dict(num_inference_steps=5, seed=3)
        free = generate(self.model, prompt, max_new_concepts=3, **settings)
        stopped = generate(self.model, prompt, eot_embedding=free.concepts[0][0], max_new_concepts=3, **settings)
        self.assertEqual((stopped.stop_reasons, len(stopped.concepts[0])), (["end_of_text"], 1))


_PARITY_SCRIPT = r"""
import json, sys, numpy as np, dlzoo
sys.path.insert(0, {here!r})
from test_generation import _set_weights, _prompt
from dlzoo.lcm import generate
out = {{}}
for name, scale in (("lcm-base-tiny", 0.2), ("lcm-two-tower-tiny", 0.1)):
    model = dlzoo.build(name)
    _set_weights(model, scale=scale)
    # The layer path: the compiled default equals it on each backend (test_compiled_generation.py, every suite),
    # so agreement here carries over, without three backends' XLA/trace compiles in one test.
    r = generate(model, [_prompt(3), _prompt(2, seed=7)], max_new_concepts=3, seed=11, num_inference_steps=8,
                 sample_latent=name == "lcm-base-tiny", temperature=0.5, compiled=False)
    out[name] = [c.tolist() for c in r.concepts]
print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="runs every backend in subprocesses itself: once, in the torch suite")
def test_same_generation_on_every_backend():
    here = os.path.dirname(os.path.abspath(__file__))
    results = {}
    for backend in ("tensorflow", "torch", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, "-c", _PARITY_SCRIPT.format(here=here)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
        results[backend] = json.loads(line[len("RESULT"):])
    for name in results["tensorflow"]:
        for backend in ("torch", "jax"):
            for a, b in zip(results["tensorflow"][name], results[backend][name]):
                np.testing.assert_allclose(np.array(a), np.array(b), atol=2e-3, rtol=1e-3, err_msg=f"{name} {backend}")
