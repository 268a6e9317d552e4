"""DiT sampling: an independent DDIM + classifier-free-guidance loop, seeds, shapes, grids, the digits loop."""

import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

import keras

import dlzoo
import dlzoo.dit
from dlzoo.testing import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def temp_dir(test):
    path = tempfile.mkdtemp()
    test.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def perturbed_tiny(seed=0, **params):
    """`dit-tiny` with every weight drawn from NumPy (the zero-initialised output layers included)."""
    model = dlzoo.build("dit-tiny", **params)
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign((rng.standard_normal(w.shape) * 0.1).astype("float32"))
    return model


def predict_noise(model, x, t, labels):
    out = model.predict_on_batch({"latents": x, "timesteps": np.full(len(x), t, "int32"), "class_labels": labels})
    out = out["noise"] if isinstance(out, dict) else out
    return np.asarray(keras.ops.convert_to_numpy(out), "float64")


def ddim_cfg_reference(model, labels, null_class, steps, guidance, seed, T=1000):
    """DDIM (eta = 0) with epsilon-space CFG, from the formulas (Song et al. 2021, eq. 12; Ho & Salimans 2022).

    Linear betas 1e-4 .. 0.02, trailing timesteps round(arange(T, 0, -T / S)) - 1, alpha_bar_prev = 1 past the
    last step; guidance at every step.
    """
    betas = np.linspace(1e-4, 0.02, T, dtype="float32").astype("float64")
    alpha_bar = np.cumprod(1.0 - betas)
    n = len(labels)
    x = np.random.default_rng(seed).standard_normal((n, 16 * 16 * 1)).astype("float32").astype("float64")
    x = x.reshape(n, 16, 16, 1)
    timesteps = np.round(np.arange(T, 0, -T / steps)).astype("int64") - 1
    for t in timesteps:
        eps = predict_noise(model, x.astype("float32"), t, labels)
        if guidance != 1.0:
            eps_null = predict_noise(model, x.astype("float32"), t, np.full_like(labels, null_class))
            eps = eps_null + guidance * (eps - eps_null)
        prev = t - T // steps
        ab, ab_prev = alpha_bar[t], (alpha_bar[prev] if prev >= 0 else 1.0)
        x0 = (x - np.sqrt(1 - ab) * eps) / np.sqrt(ab)
        x = np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * eps
    return x0


class DiTSamplingTest(TestCase):
    def test_matches_an_independent_ddim_cfg_loop(self):
        model = perturbed_tiny()
        labels = np.array([0, 3, 9], "int32")
        for guidance in (1.0, 3.0):
            ours = dlzoo.dit.sample(model, labels, num_inference_steps=4, guidance_scale=guidance, seed=5)
            expected = ddim_cfg_reference(model, labels, 10, steps=4, guidance=guidance, seed=5)
            self.assertEqual(ours.shape, (3, 16, 16, 1))
            self.assertAllClose(ours, expected, atol=2e-3, rtol=1e-4)

    def test_guidance_scale_one_is_the_conditional_model(self):
        model = perturbed_tiny()
        calls = []
        original = model.predict_on_batch

        def spy(feed):
            calls.append(np.asarray(feed["class_labels"]).copy())
            return original(feed)

        model.predict_on_batch = spy
        dlzoo.dit.sample(model, [1, 2], num_inference_steps=3, guidance_scale=1.0)
        self.assertEqual(len(calls), 3)  # one conditional call per step, the null class never asked for
        self.assertTrue(all(np.array_equal(c, [1, 2]) for c in calls))
        calls.clear()
        dlzoo.dit.sample(model, [1, 2], num_inference_steps=3, guidance_scale=2.0)
        self.assertEqual(len(calls), 6)
        self.assertTrue(np.array_equal(calls[1], [10, 10]))  # the unconditional branch reads the null class

    def test_seeded_and_batched_sampling_is_deterministic(self):
        model = perturbed_tiny()
        a = dlzoo.dit.sample(model, [4, 4, 7], num_inference_steps=3, seed=1)
        b = dlzoo.dit.sample(model, [4, 4, 7], num_inference_steps=3, seed=1, batch_size=2)
        c = dlzoo.dit.sample(model, [4, 4, 7], num_inference_steps=3, seed=2)
        self.assertAllClose(a, b, atol=1e-3, rtol=1e-3)  # batch size changes kernel sums
        self.assertGreater(float(np.max(np.abs(a - c))), 1e-2)
        self.assertGreater(float(np.max(np.abs(a[0] - a[1]))), 1e-2)  # one noise draw per image

    def test_learned_sigma_model_samples_from_its_noise_output(self):
        model = perturbed_tiny(learn_sigma=True)
        self.assertEqual(dlzoo.dit.sample(model, [1], num_inference_steps=2).shape, (1, 16, 16, 1))

    def test_sample_grid_and_png(self):
        model = perturbed_tiny()
        path = os.path.join(temp_dir(self), "grid.png")
        images, grid = dlzoo.dit.sample_grid(model, [2, 5, 8], per_class=4, out=path, scale=2,
                                             num_inference_steps=2, guidance_scale=2.0)
        self.assertEqual(images.shape, (12, 16, 16, 1))
        self.assertEqual(grid.shape, (3 * 17 + 1, 4 * 17 + 1, 1))
        self.assertEqual(grid.dtype, np.uint8)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", data[16:24]), (2 * grid.shape[1], 2 * grid.shape[0]))

    def test_rejects_bad_requests(self):
        model = perturbed_tiny()
        with self.assertRaisesNamed(ValueError, "class_labels", "10"):
            dlzoo.dit.sample(model, [10])
        with self.assertRaisesNamed(ValueError, "guidance_scale", "-1"):
            dlzoo.dit.sample(model, [1], guidance_scale=-1.0)
        no_null = perturbed_tiny(label_dropout=0.0)
        with self.assertRaisesNamed(ValueError, "guidance_scale", "3.0"):
            dlzoo.dit.sample(no_null, [1], guidance_scale=3.0)
        with self.assertRaisesNamed(ValueError, "per_class", "0"):
            dlzoo.dit.sample_grid(model, [1], per_class=0)


class DiTTrainingTest(TestCase):
    def test_noised_batch_is_the_ddpm_forward_process(self):
        scheduler = dlzoo.dit.dit_scheduler()
        images = np.random.default_rng(0).uniform(-1, 1, (5, 4, 4, 1)).astype("float32")
        noisy, t, eps = dlzoo.dit.noised_batch(images, scheduler, np.random.default_rng(1))
        betas = np.linspace(1e-4, 0.02, 1000)
        ab = np.cumprod(1 - betas)[t][:, None, None, None]
        self.assertAllClose(noisy, np.sqrt(ab) * images + np.sqrt(1 - ab) * eps, atol=1e-5)
        self.assertEqual(t.dtype, np.int32)

    def test_dataset_batches(self):
        images = np.zeros((10, 16, 16, 1), "float32")
        data = dlzoo.dit.NoisedImages(images, np.arange(10) % 10, batch_size=4, seed=0)
        self.assertEqual(len(data), 3)
        inputs, target = data[2]
        self.assertEqual(sorted(inputs), ["class_labels", "latents", "timesteps"])
        self.assertEqual(inputs["latents"].shape, (2, 16, 16, 1))
        self.assertEqual(target.shape, (2, 16, 16, 1))
        with self.assertRaisesNamed(ValueError, "labels", "(3,)"):
            dlzoo.dit.NoisedImages(images, np.arange(3))

    def test_learned_log_variance_interpolates_the_bounds(self):
        scheduler = dlzoo.dit.dit_scheduler()
        betas = np.linspace(1e-4, 0.02, 1000)
        ab = np.cumprod(1 - betas)
        t = np.array([1, 500])
        posterior = betas[t] * (1 - ab[t - 1]) / (1 - ab[t])
        v = np.array([[1.0], [-1.0]])
        out = dlzoo.dit.learned_log_variance(v, t, scheduler)
        self.assertAllClose(out[:, 0], [np.log(betas[1]), np.log(posterior[1])], rtol=1e-4)
        middle = dlzoo.dit.learned_log_variance(np.zeros((1, 1)), [500], scheduler)
        self.assertAllClose(middle[0, 0], 0.5 * (np.log(betas[500]) + np.log(posterior[1])), rtol=1e-4)

    def test_reference_parameter_count(self):
        self.assertEqual(dlzoo.dit.position_table_size("dit-tiny"), 16 * 64)  # 4x4 grid of 4x4 patches, width 64
        self.assertEqual(dlzoo.dit.reference_parameter_count("dit-tiny"), dlzoo.count_params("dit-tiny") + 1024)


class DigitsExampleTest(TestCase):
    def test_the_digits_loop_runs_end_to_end(self):
        sys.path.insert(0, os.path.join(ROOT, "guides", "examples"))
        try:
            import dit_digits
        finally:
            sys.path.pop(0)
        out = temp_dir(self)
        summary = dit_digits.main(["--out", out, "--epochs", "1", "--limit", "32", "--batch-size", "32",
                                   "--per-class", "2", "--steps", "2"])
        self.assertGreaterEqual(summary["classifier_accuracy"], 0.95)
        self.assertEqual(sorted(summary["conditional_accuracy_per_class"]), list(range(10)))
        with open(os.path.join(out, "summary.json")) as f:
            self.assertEqual(json.load(f)["per_class_samples"], 2)
        for name in ("model.keras", "grid.png", "grid_all.png"):
            self.assertTrue(os.path.exists(os.path.join(out, name)), name)
        self.assertEqual(dlzoo.load(os.path.join(out, "model.keras")).count_params(), dlzoo.count_params("dit-tiny"))
