import json
import os
import tempfile

import numpy as np
from sklearn.preprocessing import RobustScaler, StandardScaler

from dlzoo.concepts import EmbeddingNormalizer
from dlzoo.testing import TestCase


def _data(n=500, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    # Skewed, heavy-tailed columns with different centres and scales.
    x = rng.standard_t(df=3, size=(n, dim)) * np.linspace(0.01, 2.0, dim) + np.linspace(-1, 1, dim)
    x[:, 0] = np.exp(x[:, 0])  # a skewed column
    return x.astype("float32")


class EmbeddingNormalizerTest(TestCase):
    def test_gaussian_robust_matches_sklearn_iqr(self):
        x = _data()
        norm = EmbeddingNormalizer().fit(x)  # quartiles 0.25/0.75 as fractions
        ref = RobustScaler(quantile_range=(25.0, 75.0), unit_variance=True).fit(x.astype("float64"))
        self.assertAllClose(norm.center, ref.center_, atol=1e-12, rtol=1e-10)
        self.assertAllClose(norm.scale, ref.scale_, atol=1e-12, rtol=1e-10)
        self.assertAllClose(norm.normalize(x), ref.transform(x.astype("float64")), atol=1e-5, rtol=1e-5)
        # For standard normal data the gaussian-robust scale estimates sigma = 1.
        z = np.random.default_rng(3).standard_normal((20000, 3))
        self.assertAllClose(EmbeddingNormalizer().fit(z).scale, np.ones(3), atol=0.05)

    def test_reference_quirk_matches_sklearn_percent_reading(self):
        x = _data(seed=1)
        norm = EmbeddingNormalizer(reference_quirk=True).fit(x)
        self.assertEqual(norm.quantile_fractions(), (0.0025, 0.0075))
        # What the reference runs: RobustScaler(quantile_range=(0.25, 0.75)), read as percent.
        ref = RobustScaler(quantile_range=(0.25, 0.75), unit_variance=True).fit(x.astype("float64"))
        self.assertAllClose(norm.center, ref.center_, atol=1e-12, rtol=1e-10)
        self.assertAllClose(norm.scale, ref.scale_, atol=1e-12, rtol=1e-10)
        iqr = EmbeddingNormalizer().fit(x)
        self.assertGreater(np.max(np.abs(norm.scale / iqr.scale - 1)), 0.05)  # the two modes differ

    def test_robust_and_standard_match_sklearn(self):
        x = _data(seed=2)
        robust = EmbeddingNormalizer(method="robust", quantile_min=0.1, quantile_max=0.9).fit(x)
        ref = RobustScaler(quantile_range=(10.0, 90.0)).fit(x.astype("float64"))
        self.assertAllClose(robust.scale, ref.scale_, rtol=1e-10)
        standard = EmbeddingNormalizer(method="standard").fit(x)
        ref = StandardScaler().fit(x.astype("float64"))
        self.assertAllClose(standard.center, ref.mean_, rtol=1e-10, atol=1e-12)
        self.assertAllClose(standard.scale, ref.scale_, rtol=1e-10)

    def test_constant_dimension_gets_unit_spread(self):
        x = _data(seed=4)
        x[:, 2] = 0.5
        norm = EmbeddingNormalizer().fit(x)
        ref = RobustScaler(quantile_range=(25.0, 75.0), unit_variance=True).fit(x.astype("float64"))
        self.assertAllClose(norm.scale, ref.scale_, rtol=1e-10)
        self.assertTrue(np.all(np.isfinite(norm.normalize(x))))

    def test_round_trip_and_dtypes(self):
        x = _data(seed=5)
        norm = EmbeddingNormalizer().fit([x[:200], x[200:]])  # a list of documents is concatenated
        y = norm.normalize(x)
        self.assertEqual(y.dtype, np.float32)
        self.assertAllClose(norm.denormalize(y), x, atol=1e-5, rtol=1e-5)
        self.assertEqual(norm.normalize(x.astype("float64")).dtype, np.float64)
        batch = np.stack([x[:10], x[10:20]])  # (B, N, dim) works too
        self.assertEqual(norm.normalize(batch).shape, (2, 10, 6))

    def test_clipping(self):
        x = _data(seed=6)
        norm = EmbeddingNormalizer(clip_proba=0.05).fit(x)
        y_raw = (x.astype("float64") - norm.center) / norm.scale
        self.assertAllClose(norm.clip_min, np.quantile(y_raw, 0.05, axis=0), atol=1e-12)
        self.assertAllClose(norm.clip_max, np.quantile(y_raw, 0.95, axis=0), atol=1e-12)
        y = norm.normalize(x)
        self.assertTrue(np.all(y >= norm.clip_min - 1e-6) and np.all(y <= norm.clip_max + 1e-6))
        inside = np.all((y_raw > norm.clip_min) & (y_raw < norm.clip_max), axis=1)
        self.assertAllClose(norm.denormalize(y)[inside], x[inside], atol=1e-5, rtol=1e-5)

    def test_fft_layout(self):
        dim = 8
        x = np.random.default_rng(7).standard_normal((300, dim))
        norm = EmbeddingNormalizer(with_fft=True).fit(x)
        # The DFT from its definition: X_k = sum_n x_n exp(-2 pi i k n / N).
        k = np.arange(dim // 2 + 1)[:, None]
        n = np.arange(dim)[None, :]
        spectrum = x @ np.exp(-2j * np.pi * k * n / dim).T
        layout = np.concatenate([spectrum.real, spectrum.imag[:, 1:-1]], axis=1)
        self.assertAllClose(norm.center, np.median(layout, axis=0), atol=1e-10)
        self.assertAllClose(norm.normalize(x), (layout - norm.center) / norm.scale, atol=1e-5, rtol=1e-5)
        self.assertAllClose(norm.denormalize(norm.normalize(x)), x, atol=1e-5)
        with self.assertRaisesNamed(ValueError, "dim=5"):
            EmbeddingNormalizer(with_fft=True).fit(np.ones((4, 5)))

    def test_serialization(self):
        x = _data(seed=8)
        norm = EmbeddingNormalizer(clip_proba=0.01, reference_quirk=True).fit(x)
        config = norm.get_config()
        json.dumps(config)
        clone = EmbeddingNormalizer.from_config(config)
        self.assertEqual(clone.get_config(), config)
        self.assertAllClose(clone.normalize(x), norm.normalize(x), atol=0, rtol=0)
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("norm.json", "norm.npz"):
                path = norm.save(os.path.join(tmp, name))
                loaded = EmbeddingNormalizer.load(path)
                self.assertEqual(loaded.get_config(), config)
                self.assertAllClose(loaded.normalize(x), norm.normalize(x), atol=0, rtol=0)
            with np.load(os.path.join(tmp, "norm.npz"), allow_pickle=False) as data:
                self.assertEqual(sorted(data.files), ["center", "clip_max", "clip_min", "config", "scale"])
            with self.assertRaisesNamed(ValueError, "path"):
                norm.save(os.path.join(tmp, "norm.pkl"))
        # An unfitted normalizer serializes too.
        self.assertFalse(EmbeddingNormalizer.from_config(EmbeddingNormalizer().get_config()).is_fitted)

    def test_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "method", "gaussian_robust"):
            EmbeddingNormalizer(method="gausian_robust")
        with self.assertRaisesNamed(ValueError, "quantile_max"):
            EmbeddingNormalizer(quantile_max=75)
        with self.assertRaisesNamed(ValueError, "quantile_min", "quantile_max"):
            EmbeddingNormalizer(quantile_min=0.8, quantile_max=0.2)
        with self.assertRaisesNamed(ValueError, "clip_proba"):
            EmbeddingNormalizer(clip_proba=0.7)
        with self.assertRaisesNamed(ValueError, "scale"):
            EmbeddingNormalizer(center=[0.0, 0.0], scale=[1.0, 0.0])
        with self.assertRaisesNamed(ValueError, "not fitted"):
            EmbeddingNormalizer().normalize(np.ones((2, 3)))
        with self.assertRaisesNamed(ValueError, "last dimension 6"):
            EmbeddingNormalizer().fit(_data()).normalize(np.ones((2, 3)))
        with self.assertRaisesNamed(ValueError, "at least 2"):
            EmbeddingNormalizer().fit(np.ones((1, 3)))
