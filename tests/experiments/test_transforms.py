"""Transforms: fitted on the training split only, applied to every split."""

import unittest

import numpy as np

from dlzoo.experiments import components as C
from dlzoo.experiments.datasets import Data


class TransformsTest(unittest.TestCase):
    def test_scale_and_reshape(self):
        data = Data(x=np.arange(8, dtype="float32").reshape(2, 4), y=np.array([0, 1]))
        out = C.make("transform", {"name": "scale", "factor": 0.5, "offset": 1.0}).apply(data)
        np.testing.assert_allclose(out.x, data.x * 0.5 + 1.0)
        out = C.make("transform", {"name": "reshape", "shape": [2, 2, 1]}).apply(out)
        self.assertEqual(out.x.shape, (2, 2, 2, 1))

    def test_standardize_uses_training_statistics(self):
        train = Data(x=np.array([[0.0, 10.0], [2.0, 30.0]], dtype="float32"))
        test = Data(x=np.array([[1.0, 20.0]], dtype="float32"))
        t = C.make("transform", "standardize").fit(train)
        np.testing.assert_allclose(t.apply(test).x, [[0.0, 0.0]], atol=1e-6)
        np.testing.assert_allclose(t.apply(train).x, [[-1.0, -1.0], [1.0, 1.0]], atol=1e-5)
        self.assertEqual(t.state()["mean"], [1.0, 20.0])

    def test_min_max_and_one_hot(self):
        train = Data(x=np.array([[0.0], [4.0]], dtype="float32"), y=np.array([2, 0]))
        t = C.make("transform", "min_max").fit(train)
        np.testing.assert_allclose(t.apply(Data(x=np.array([[1.0]]))).x, [[0.25]])
        out = C.make("transform", {"name": "one_hot", "num_classes": 3}).apply(train)
        np.testing.assert_allclose(out.y, [[0, 0, 1], [1, 0, 0]])
        with self.assertRaises(ValueError):
            C.make("transform", {"name": "one_hot", "num_classes": 2}).apply(train)

    def test_upscale_repeats_each_pixel(self):
        images = np.arange(2 * 2 * 3 * 1, dtype="float32").reshape(2, 2, 3, 1)
        out = C.make("transform", {"name": "upscale", "factor": 2}).apply(Data(x=images, y=np.zeros(2))).x
        self.assertEqual(out.shape, (2, 4, 6, 1))
        for i in range(4):
            for j in range(6):
                self.assertEqual(out[1, i, j, 0], images[1, i // 2, j // 2, 0])
        with self.assertRaisesRegex(ValueError, "upscale.*images"):
            C.make("transform", {"name": "upscale"}).apply(Data(x=np.zeros((2, 64)), y=np.zeros(2)))
        with self.assertRaisesRegex(ValueError, "factor"):
            C.make("transform", {"name": "upscale", "factor": 0})

    def test_key_selects_one_input(self):
        data = Data(x={"a": np.ones((2, 2), "float32"), "b": np.ones((2, 2), "float32")})
        out = C.make("transform", {"name": "scale", "factor": 3.0, "key": "b"}).apply(data)
        np.testing.assert_allclose(out.x["a"], 1.0)
        np.testing.assert_allclose(out.x["b"], 3.0)
        with self.assertRaises(ValueError):
            C.make("transform", {"name": "scale", "key": "c"}).apply(data)

    def test_concept_normalizer_ignores_padding(self):
        rng = np.random.default_rng(0)
        emb = rng.normal(5.0, 2.0, size=(6, 4, 3)).astype("float32")
        mask = np.ones((6, 4), bool)
        mask[:, 3] = False
        emb[~mask] = 0.0
        data = Data(x={"embeddings": emb, "padding_mask": mask}, y_from_x="embeddings", sample_weight_from_x="padding_mask")
        t = C.make("transform", "concept_normalizer").fit(data)
        out = t.apply(data).finalize()
        self.assertTrue(np.all(out.x["embeddings"][:, 3] == 0.0))
        self.assertLess(abs(float(np.median(out.x["embeddings"][mask]))), 0.5)
        self.assertIs(out.y, out.x["embeddings"])
        np.testing.assert_allclose(out.sample_weight, mask.astype("float32"))
        self.assertIn("normalizer", t.state())
