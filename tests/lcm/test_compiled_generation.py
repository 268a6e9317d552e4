"""The compiled generation path (`compiled=True`) equals the layer-by-layer path and compiles a fixed set of programs."""

import numpy as np

import dlzoo
from dlzoo.lcm import generate
from dlzoo.lcm.generation import cache_length, check_positions
from dlzoo.testing import TestCase



def _set_weights(model, scale, seed=0):
    """Deterministic NumPy weights around the identity for scales (as in test_generation.py)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        values = rng.standard_normal(w.shape).astype("float32") * scale
        w.assign(values + 1.0 if ("scale" in w.path or "gamma" in w.path) else values)


def _prompt(n, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 384)).astype("float32")


def _traces(model):
    return {key[0]: program.num_traces for key, program in model._dlzoo_lcm_programs.items()}


class CompiledGenerationTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.base = dlzoo.build("lcm-base-tiny")
        _set_weights(cls.base, scale=0.2)
        cls.two_tower = dlzoo.build("lcm-two-tower-tiny")
        _set_weights(cls.two_tower, scale=0.1)

    def _assert_same(self, model, prompts, **settings):
        fast = generate(model, prompts, compiled=True, **settings)
        slow = generate(model, prompts, compiled=False, **settings)
        self.assertEqual(fast.stop_reasons, slow.stop_reasons)
        for a, b in zip(fast.concepts, slow.concepts):
            self.assertEqual(a.shape, b.shape)
            self.assertAllClose(a, b, atol=1e-4, rtol=1e-4)
        return fast

    def test_base_lcm_compiled_equals_layers_and_is_traced_once(self):
        # Unequal prompts (teacher forcing between them), latent noise from the seeded NumPy generator.
        settings = dict(max_new_concepts=3, sample_latent=True, temperature=0.5, seed=4)
        self._assert_same(self.base, [_prompt(2), _prompt(3, seed=7)], **settings)
        # Other prompt lengths and numbers of new concepts reuse the program (the cache length is rounded up
        # to a power of two); the step is traced once for all steps and positions.
        generate(self.base, [_prompt(4, seed=5), _prompt(1, seed=6)], max_new_concepts=6)
        self.assertEqual(_traces(self.base), {"base_lcm_step": 1})

    def test_two_tower_compiled_equals_layers_and_is_traced_once(self):
        prompts = [_prompt(2), _prompt(3, seed=7)]
        settings = dict(max_new_concepts=2, num_inference_steps=3, seed=3)
        self._assert_same(self.two_tower, prompts, **settings)
        generate(self.two_tower, [_prompt(4, seed=8), _prompt(1, seed=9)], **settings)
        # Every DDIM step of every concept, two prompt sets: one program each, traced once.
        self.assertEqual(_traces(self.two_tower), {"two_tower_encoder_step": 1, "two_tower_denoise_pair": 1})
        # Without guidance: the conditional call alone.
        self._assert_same(self.two_tower, prompts, **dict(settings, guidance_scale=1.0))

    def test_cache_length(self):
        self.assertEqual([cache_length(n) for n in (1, 16, 17, 33, 64, 65)], [16, 16, 32, 64, 64, 128])

    def test_positions_past_a_learned_table_are_refused(self):
        # As the layer-by-layer path refuses them (its positions are Python ints the table checks).
        model = dlzoo.build("lcm-base-tiny", position="learned", max_sequence_length=8)
        check_positions(model.get_layer("prenet"), 9)  # the last concept is never fed back: 8 positions fit
        with self.assertRaisesNamed(ValueError, "max_sequence_length=8"):
            generate(model, _prompt(3), max_new_concepts=7)
