"""Seeded train/validation/test splits and k-fold cross-validation (NumPy only).

* Plain: examples are permuted with the seed, then cut by the ratios.
* Stratified: each class is permuted and cut separately, so every split
  keeps the class proportions (up to rounding).
* Grouped: when the data has groups (e.g. the chunks of one document), whole
  groups are assigned, so no group straddles two splits. Groups take
  precedence over stratification.

Folds follow the same rules: stratified folds deal each class round-robin,
grouped folds give each group (largest first) to the currently smallest fold.
"""

import hashlib
import json
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def _cuts(n: int, ratios: Sequence[float]) -> List[int]:
    """Sizes of consecutive parts of `n` items for `ratios` (the first part takes the rest)."""
    sizes = [int(round(n * r)) for r in ratios[1:]]
    first = n - sum(sizes)
    if first < 0:
        raise ValueError(f"The split ratios {list(ratios)} leave no examples for training (n={n}).")
    return [first] + sizes


def split_indices(
    n: int,
    validation: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    labels: Optional[np.ndarray] = None,
    groups: Optional[np.ndarray] = None,
    shuffle: bool = True,
) -> Dict[str, np.ndarray]:
    """Index arrays `{"train", "validation", "test"}` over `range(n)`, each sorted.

    Args:
        n: int. Number of examples.
        validation: float. Fraction for validation, in `[0, 1)`.
        test: float. Fraction for test, in `[0, 1)`.
        seed: int. Seed of the permutation.
        labels: array or None. Class labels: stratify when given.
        groups: array or None. Group ids: keep groups whole when given.
        shuffle: bool. Permute before cutting (else the order is kept).
    """
    if validation < 0 or test < 0 or validation + test >= 1:
        raise ValueError(
            f"Split ratios must be >= 0 and leave some training data. Received: validation={validation}, test={test}."
        )
    rng = np.random.default_rng(seed)
    ratios = (1.0 - validation - test, validation, test)
    names = ("train", "validation", "test")
    parts: Dict[str, List[int]] = {name: [] for name in names}
    if groups is not None:
        groups = np.asarray(groups)
        unique = np.unique(groups)
        order = rng.permutation(len(unique)) if shuffle else np.arange(len(unique))
        members = {g: np.flatnonzero(groups == g) for g in unique}
        targets = [n * r for r in ratios]
        counts = [0, 0, 0]
        # Fill test, then validation, then train, group by group in the permuted order.
        fill = [2, 1, 0]
        slot = 0
        for g in unique[order]:
            while slot < 2 and counts[fill[slot]] + len(members[g]) / 2 > targets[fill[slot]]:
                slot += 1
            target = fill[slot]
            parts[names[target]].extend(members[g].tolist())
            counts[target] += len(members[g])
    elif labels is not None:
        labels = np.asarray(labels)
        for label in np.unique(labels):
            idx = np.flatnonzero(labels == label)
            if shuffle:
                idx = idx[rng.permutation(len(idx))]
            sizes = _cuts(len(idx), ratios)
            start = 0
            for name, size in zip(names, sizes):
                parts[name].extend(idx[start:start + size].tolist())
                start += size
    else:
        idx = rng.permutation(n) if shuffle else np.arange(n)
        sizes = _cuts(n, ratios)
        start = 0
        for name, size in zip(names, sizes):
            parts[name].extend(idx[start:start + size].tolist())
            start += size
    return {name: np.sort(np.asarray(parts[name], dtype="int64")) for name in names}


def kfold_indices(
    indices: np.ndarray,
    k: int,
    seed: int = 0,
    labels: Optional[np.ndarray] = None,
    groups: Optional[np.ndarray] = None,
) -> List[Tuple[np.ndarray, np.ndarray]]:
    """`k` pairs `(train, validation)` of sorted index arrays partitioning `indices`.

    `labels` and `groups`, when given, are indexed like the full data (not like
    `indices`).
    """
    indices = np.asarray(indices, dtype="int64")
    if k < 2 or k > len(indices):
        raise ValueError(f"`cv` must be between 2 and the number of examples ({len(indices)}). Received: cv={k}.")
    rng = np.random.default_rng(seed)
    folds: List[List[int]] = [[] for _ in range(k)]
    if groups is not None:
        groups = np.asarray(groups)[indices]
        unique = np.unique(groups)
        if len(unique) < k:
            raise ValueError(f"`cv={k}` needs at least {k} groups; the data has {len(unique)}.")
        members = {g: indices[groups == g] for g in unique}
        order = unique[rng.permutation(len(unique))]
        order = sorted(order, key=lambda g: -len(members[g]))  # stable: ties keep the permuted order
        for g in order:
            smallest = min(range(k), key=lambda f: (len(folds[f]), f))
            folds[smallest].extend(members[g].tolist())
    elif labels is not None:
        labels = np.asarray(labels)[indices]
        offset = 0
        for label in np.unique(labels):
            idx = indices[labels == label]
            idx = idx[rng.permutation(len(idx))]
            for j, i in enumerate(idx):
                folds[(j + offset) % k].append(int(i))
            offset += len(idx)
    else:
        perm = indices[rng.permutation(len(indices))]
        for j, i in enumerate(perm):
            folds[j % k].append(int(i))
    out = []
    for f in range(k):
        validation = np.sort(np.asarray(folds[f], dtype="int64"))
        train = np.sort(np.concatenate([np.asarray(folds[g], dtype="int64") for g in range(k) if g != f]))
        out.append((train, validation))
    return out


def indices_hash(splits: Dict[str, np.ndarray]) -> str:
    """sha256 of split name -> index list (JSON, sorted keys)."""
    payload = {name: np.asarray(idx, dtype="int64").tolist() for name, idx in sorted(splits.items())}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
