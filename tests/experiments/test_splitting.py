"""Seeded, stratified and grouped splits; k-fold cross-validation."""

import unittest

import numpy as np

from dlzoo.experiments import splitting as S


class SplitTest(unittest.TestCase):
    def _check_partition(self, splits, n):
        joined = np.concatenate([splits["train"], splits["validation"], splits["test"]])
        self.assertEqual(sorted(joined.tolist()), list(range(n)))

    def test_ratios_and_seed(self):
        splits = S.split_indices(100, validation=0.2, test=0.1, seed=0)
        self._check_partition(splits, 100)
        self.assertEqual((len(splits["train"]), len(splits["validation"]), len(splits["test"])), (70, 20, 10))
        again = S.split_indices(100, validation=0.2, test=0.1, seed=0)
        other = S.split_indices(100, validation=0.2, test=0.1, seed=1)
        self.assertEqual(S.indices_hash(splits), S.indices_hash(again))
        self.assertNotEqual(S.indices_hash(splits), S.indices_hash(other))

    def test_no_shuffle_keeps_order(self):
        splits = S.split_indices(10, validation=0.2, test=0.2, shuffle=False)
        self.assertEqual(splits["train"].tolist(), list(range(6)))
        self.assertEqual(splits["test"].tolist(), [8, 9])

    def test_stratified_keeps_class_proportions(self):
        labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
        splits = S.split_indices(100, validation=0.2, test=0.2, seed=0, labels=labels)
        self._check_partition(splits, 100)
        for name, expected in (("test", [12, 6, 2]), ("validation", [12, 6, 2]), ("train", [36, 18, 6])):
            self.assertEqual(np.bincount(labels[splits[name]], minlength=3).tolist(), expected, name)

    def test_groups_stay_whole(self):
        groups = np.repeat(np.arange(20), 5)
        splits = S.split_indices(100, validation=0.2, test=0.2, seed=0, groups=groups)
        self._check_partition(splits, 100)
        owner = {}
        for name, idx in splits.items():
            for g in set(groups[idx].tolist()):
                self.assertNotIn(g, owner, f"group {g} in {owner.get(g)} and {name}")
                owner[g] = name
        self.assertEqual(len(splits["test"]), 20)
        self.assertEqual(len(splits["validation"]), 20)

    def test_bad_ratios(self):
        with self.assertRaises(ValueError):
            S.split_indices(10, validation=0.6, test=0.5)


class KFoldTest(unittest.TestCase):
    def test_folds_partition_the_pool(self):
        pool = np.arange(10, 40)
        folds = S.kfold_indices(pool, 3, seed=0)
        self.assertEqual(len(folds), 3)
        validation = np.concatenate([v for _, v in folds])
        self.assertEqual(sorted(validation.tolist()), pool.tolist())
        for train, val in folds:
            self.assertEqual(len(val), 10)
            self.assertEqual(sorted(np.concatenate([train, val]).tolist()), pool.tolist())

    def test_stratified_and_grouped_folds(self):
        labels = np.array([0, 1] * 30)
        for _, val in S.kfold_indices(np.arange(60), 3, seed=0, labels=labels):
            self.assertEqual(np.bincount(labels[val]).tolist(), [10, 10])
        groups = np.repeat(np.arange(12), 3)
        folds = S.kfold_indices(np.arange(36), 4, seed=0, groups=groups)
        for train, val in folds:
            self.assertFalse(set(groups[train]) & set(groups[val]))
            self.assertEqual(len(val), 9)

    def test_bad_k(self):
        with self.assertRaises(ValueError):
            S.kfold_indices(np.arange(5), 1)
        with self.assertRaises(ValueError):
            S.kfold_indices(np.arange(6), 3, groups=np.array([0, 0, 0, 1, 1, 1]))
