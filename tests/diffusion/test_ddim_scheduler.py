"""DDIMScheduler: golden values from lcm.md 4.5 and independent NumPy formulas."""

import json
import math

import numpy as np
import pytest

from dlzoo.diffusion import DDIMScheduler, betas_for_alpha_bar, guided_epsilon, rescale_zero_terminal_snr
from dlzoo.testing import TestCase


def cosine_alpha_bar_reference(T):
    """Nichol & Dhariwal (2021) eq. 17 with s = 0.008, betas clipped at 0.999, float64."""
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)])
    return np.cumprod(1 - betas)


def zero_snr_reference(alpha_bar):
    """Lin et al. (2023) Alg. 1 on sqrt(alpha_bar), float64."""
    s = np.sqrt(alpha_bar)
    s0, sT = s[0], s[-1]
    s = (s - sT) * s0 / (s0 - sT)
    return s**2


class DDIMSchedulerTest(TestCase):
    def test_golden_alphas_cumprod_T100(self):
        # lcm.md 4.5 (computed in fp32 with the reference code).
        a = DDIMScheduler(num_train_timesteps=100).alphas_cumprod
        self.assertAllClose(a[0], 0.9993685, atol=2e-7, rtol=0)
        self.assertAllClose(a[50], 0.4780544, atol=2e-7, rtol=0)
        self.assertAllClose(a[98], 2.2797e-4, atol=1e-8, rtol=0)
        self.assertEqual(float(a[99]), 0.0)
        self.assertEqual(float(DDIMScheduler(num_train_timesteps=100).betas[99]), 1.0)

    def test_golden_alphas_cumprod_T1000(self):
        a = DDIMScheduler(num_train_timesteps=1000).alphas_cumprod
        self.assertAllClose(a[0], 0.9999589, atol=2e-7, rtol=0)
        self.assertAllClose(a[500], 0.4922650, atol=2e-6, rtol=0)
        self.assertAllClose(a[998], 2.278e-6, atol=1e-9, rtol=0)
        self.assertEqual(float(a[999]), 0.0)

    def test_schedule_matches_float64_formulas(self):
        for T in (10, 100):
            expected = zero_snr_reference(cosine_alpha_bar_reference(T))
            self.assertAllClose(DDIMScheduler(num_train_timesteps=T).alphas_cumprod, expected, atol=2e-6, rtol=0)
            plain = DDIMScheduler(num_train_timesteps=T, rescale_betas_zero_snr=False).alphas_cumprod
            self.assertAllClose(plain, cosine_alpha_bar_reference(T), atol=2e-6, rtol=0)
        self.assertAllClose(rescale_zero_terminal_snr(betas_for_alpha_bar(100))[-1], 1.0, atol=0, rtol=0)

    def test_trailing_grid_reproduces_the_int_stride_quirk(self):
        s = DDIMScheduler(num_train_timesteps=100)
        grid = s.timesteps_for(40)
        self.assertEqual(len(grid), 50)  # not 40: the stride 2.5 is truncated to 2
        self.assertEqual(grid.tolist(), list(range(99, 0, -2)))
        grid = s.timesteps_for(30)
        self.assertEqual(len(grid), 34)
        self.assertEqual((grid[0], grid[1], grid[-1]), (99, 96, 0))
        self.assertEqual(s.timesteps_for(50).tolist(), list(range(99, 0, -2)))  # S divides T: exactly S
        self.assertEqual(s.previous_timestep(99, 40), 97)

    def test_intended_grid_without_the_quirk(self):
        s = DDIMScheduler(num_train_timesteps=100, reproduce_step_quirk=False)
        grid = s.timesteps_for(40)
        self.assertEqual(len(grid), 40)
        expected = np.round(np.arange(100, 0, -2.5)).astype(int) - 1
        self.assertEqual(grid.tolist(), expected.tolist())

    def test_ddim_step_matches_formula(self):
        s = DDIMScheduler(num_train_timesteps=100)
        rng = np.random.default_rng(0)
        x_t = rng.standard_normal((2, 3, 8)).astype("float32")
        x0 = rng.standard_normal((2, 3, 8)).astype("float32")
        t, steps = 57, 40
        prev, x0_out = s.step(x0, t, x_t, steps)
        a = float(s.alphas_cumprod[t])
        ap = float(s.alphas_cumprod[t - 2])
        eps = (x_t - math.sqrt(a) * x0) / math.sqrt(1 - a)
        expected = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * eps
        self.assertAllClose(prev, expected, atol=1e-5, rtol=0)
        self.assertAllClose(x0_out, x0, atol=0, rtol=0)

    def test_parametrizations_agree(self):
        s = DDIMScheduler(num_train_timesteps=100)
        rng = np.random.default_rng(1)
        x0 = rng.standard_normal((4, 6)).astype("float32")
        noise = rng.standard_normal((4, 6)).astype("float32")
        t = 30
        x_t = s.add_noise(x0, noise, np.full((4,), t))
        for kind in ("sample", "epsilon", "v_prediction"):
            s_kind = DDIMScheduler(num_train_timesteps=100, prediction_type=kind)
            target = s_kind.training_target(x0, noise, np.full((4,), t))
            x0_hat, eps_hat = s_kind.convert_output(target, t, x_t)
            self.assertAllClose(x0_hat, x0, atol=1e-4, rtol=0)
            self.assertAllClose(eps_hat, noise, atol=1e-4, rtol=0)

    def test_first_step_at_zero_snr_is_pure_noise(self):
        s = DDIMScheduler(num_train_timesteps=100)
        x_t = np.ones((1, 4), "float32")
        x0 = np.full((1, 4), 0.5, "float32")
        _, eps = s.convert_output(x0, 99, x_t)
        self.assertAllClose(eps, x_t, atol=0, rtol=0)  # alpha_bar = 0: x_t is the noise itself

    def test_guidance_rescale_matches_formula(self):
        rng = np.random.default_rng(2)
        ec = rng.standard_normal((3, 16)).astype("float32")
        eu = rng.standard_normal((3, 16)).astype("float32")
        w, phi = 3.0, 0.7
        g = eu + w * (ec - eu)
        factor = phi * ec.std(axis=-1, ddof=1, keepdims=True) / g.std(axis=-1, ddof=1, keepdims=True) + (1 - phi)
        self.assertAllClose(guided_epsilon(ec, eu, w, phi), g * factor, atol=1e-5, rtol=0)
        self.assertAllClose(guided_epsilon(ec, eu, 1.0, 0.0), ec, atol=1e-6, rtol=0)

    def test_sample_loop_calls_and_output(self):
        s = DDIMScheduler(num_train_timesteps=100)
        target = np.full((2, 1, 4), 0.25, "float32")
        calls = []

        def denoise(latent, timesteps, conditional):
            calls.append((int(timesteps.ravel()[0]), conditional))
            return target

        out = s.sample(denoise, (2, 1, 4), num_inference_steps=40, guidance_scale=3.0, guidance_rescale=0.7,
                       initial_noise_scale=0.6, rng=np.random.default_rng(0))
        self.assertAllClose(out, target, atol=1e-5, rtol=0)  # the last step's x0
        # 50 steps; the first (t = 99) skips guidance: 1 + 2 * 49 calls.
        self.assertEqual(len(calls), 99)
        self.assertEqual(calls[0], (99, True))
        self.assertEqual(calls[1:3], [(97, True), (97, False)])

    def test_guide_first_step(self):
        # DiT: a linear schedule without zero terminal SNR; every step is guided.
        s = DDIMScheduler(num_train_timesteps=100, beta_schedule="linear", rescale_betas_zero_snr=False,
                          prediction_type="epsilon", reproduce_step_quirk=False)
        calls = []

        def denoise(latent, timesteps, conditional):
            calls.append((int(timesteps.ravel()[0]), conditional))
            return np.zeros_like(latent)

        s.sample(denoise, (2, 4), num_inference_steps=10, guidance_scale=2.0, guide_first_step=True,
                 rng=np.random.default_rng(0))
        self.assertEqual(len(calls), 20)
        self.assertEqual(calls[:2], [(99, True), (99, False)])
        with self.assertRaisesNamed(TypeError, "guide_first_step"):
            s.sample(denoise, (2, 4), num_inference_steps=10, guide_first_step="yes")

    def test_initial_noise_scale_and_clip(self):
        s = DDIMScheduler(num_train_timesteps=10)
        seen = []

        def denoise(latent, timesteps, conditional):
            seen.append(latent.copy())
            return np.zeros_like(latent)

        s.sample(denoise, (1, 1, 5000), num_inference_steps=10, initial_noise_scale=0.6, clip_noise=1.0,
                 rng=np.random.default_rng(0))
        self.assertLessEqual(float(np.abs(seen[0]).max()), 1.0)
        s.sample(denoise, (1, 1, 5000), num_inference_steps=10, initial_noise_scale=0.6,
                 rng=np.random.default_rng(0))
        self.assertAllClose(np.std(seen[-10]), 0.6, atol=0.03, rtol=0)

    def test_clip_sample(self):
        s = DDIMScheduler(num_train_timesteps=100, clip_sample=True, clip_sample_range=1.0)
        _, x0 = s.step(np.full((1, 3), 5.0, "float32"), 50, np.zeros((1, 3), "float32"), 50)
        self.assertAllClose(x0, np.ones((1, 3)), atol=0, rtol=0)

    def test_config_round_trip(self):
        s = DDIMScheduler(num_train_timesteps=100, prediction_type="epsilon", reproduce_step_quirk=False)
        again = DDIMScheduler.from_config(json.loads(s.to_json()))
        self.assertEqual(again.get_config(), s.get_config())
        self.assertAllClose(again.alphas_cumprod, s.alphas_cumprod, atol=0, rtol=0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "beta_schedule"):
            DDIMScheduler(beta_schedule="cosine")
        with self.assertRaisesNamed(ValueError, "prediction_type"):
            DDIMScheduler(prediction_type="x0")
        with self.assertRaisesNamed(ValueError, "num_train_timesteps"):
            DDIMScheduler(num_train_timesteps=1)
        with self.assertRaisesNamed(ValueError, "num_inference_steps"):
            DDIMScheduler(num_train_timesteps=10).timesteps_for(20)
        with self.assertRaisesNamed(TypeError, "rescale_betas_zero_snr"):
            DDIMScheduler(rescale_betas_zero_snr="yes")


@pytest.mark.parametrize("T,S,count", [(100, 40, 50), (100, 30, 34), (100, 25, 25), (1000, 40, 40), (1000, 300, 334)])
def test_trailing_step_counts(T, S, count):
    assert len(DDIMScheduler(num_train_timesteps=T).timesteps_for(S)) == count
