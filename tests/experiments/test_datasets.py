"""Datasets: digits, arrays (npz, npy, pre-split), the Data container and its fingerprint."""

import os
import tempfile
import unittest

import numpy as np

from dlzoo.experiments import components as C
from dlzoo.experiments.datasets import Data


class DigitsTest(unittest.TestCase):
    def test_digits(self):
        data = C.make("dataset", "digits")
        self.assertEqual(data.x.shape, (1797, 8, 8, 1))
        self.assertEqual(data.y.dtype, np.int32)
        self.assertEqual(int(data.x.max()), 16)
        self.assertEqual(data.stratify_labels.tolist(), data.y.tolist())
        self.assertTrue(data.files and os.path.exists(data.files[0]))
        flat = C.make("dataset", {"name": "digits", "n_class": 3, "image_shape": None})
        self.assertEqual(flat.x.shape[1:], (64,))
        self.assertEqual(sorted(set(flat.y.tolist())), [0, 1, 2])


class ArraysTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(10, 3)).astype("float32")
        self.y = np.arange(10) % 2

    def tearDown(self):
        self._tmp.cleanup()

    def test_npz_and_npy(self):
        path = os.path.join(self.dir, "d.npz")
        np.savez(path, features=self.x, target=self.y)
        data = C.make("dataset", {"name": "arrays", "path": path, "x": "features", "y": "target"})
        np.testing.assert_array_equal(data.x, self.x)
        self.assertEqual(data.files, [path])
        np.save(os.path.join(self.dir, "x.npy"), self.x)
        np.save(os.path.join(self.dir, "y.npy"), self.y)
        data = C.make("dataset", {"name": "arrays", "x": {"images": os.path.join(self.dir, "x.npy")},
                                  "y": os.path.join(self.dir, "y.npy")})
        np.testing.assert_array_equal(data.x["images"], self.x)
        self.assertEqual(len(data.files), 2)

    def test_pre_split_files(self):
        for name, rows in (("train", slice(0, 6)), ("test", slice(6, 10))):
            np.savez(os.path.join(self.dir, f"{name}.npz"), x=self.x[rows], y=self.y[rows])
        data = C.make("dataset", {"name": "arrays", "splits": {"train": os.path.join(self.dir, "train.npz"),
                                                               "test": os.path.join(self.dir, "test.npz")}})
        self.assertEqual(data.splits["train"].tolist(), list(range(6)))
        self.assertEqual(data.splits["test"].tolist(), [6, 7, 8, 9])
        np.testing.assert_array_equal(data.x, self.x)

    def test_errors_name_the_problem(self):
        path = os.path.join(self.dir, "d.npz")
        np.savez(path, x=self.x, y=self.y[:5])
        with self.assertRaisesRegex(ValueError, "y"):
            C.make("dataset", {"name": "arrays", "path": path})
        with self.assertRaisesRegex(ValueError, "labels"):
            C.make("dataset", {"name": "arrays", "path": path, "y": "labels"})
        with self.assertRaises(FileNotFoundError):
            C.make("dataset", {"name": "arrays", "path": os.path.join(self.dir, "none.npz")})


class DataTest(unittest.TestCase):
    def test_take_finalize_and_hash(self):
        x = {"embeddings": np.arange(12, dtype="float32").reshape(3, 2, 2), "padding_mask": np.ones((3, 2), bool)}
        data = Data(x=x, groups=np.array([0, 0, 1]), y_from_x="embeddings", sample_weight_from_x="padding_mask")
        part = data.take([2, 0]).finalize()
        np.testing.assert_array_equal(part.y, x["embeddings"][[2, 0]])
        self.assertEqual(part.sample_weight.dtype, np.float32)
        self.assertEqual(part.groups.tolist(), [1, 0])
        self.assertEqual(len(part), 2)
        self.assertEqual(data.content_hash(), Data(x=dict(x), groups=data.groups).content_hash())
        changed = dict(x, embeddings=x["embeddings"] + 1)
        self.assertNotEqual(data.content_hash(), Data(x=changed).content_hash())
