"""`ConceptSequenceDataset`: padded concept batches for `model.fit`, on any backend."""

import math
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

import keras

from dlzoo.concepts.sequences import _check_sequences, pad_concept_sequences
from dlzoo.validation import check_bool, check_choice, check_int, check_positive_int

TARGET_MODES = ("embeddings", "none")
PAD_MODES = ("dataset", "batch")


class ConceptSequenceDataset(keras.utils.PyDataset):
    """Batches of padded concept sequences for `model.fit` / `evaluate` / `predict`.

    Each batch is `(inputs, targets)` with
    `inputs = {"embeddings": float32 (B, N, dim), "padding_mask": bool (B, N)}`.
    What the targets are depends on the model, so it is a parameter:

    * `"embeddings"` (Base-LCM): the (normalized) input embeddings themselves;
      the next-concept loss shifts them (`out[:, :-1]` against `in[:, 1:]`)
      and masks padding.
    * `"none"`: inputs only (a model that adds its own loss).
    * a callable `fn(embeddings, padding_mask)` returning `y` or
      `(y, sample_weight)` (e.g. `lambda x, m: ((x, m), None)` or a target
      dict for a multi-output model).

    If a `normalizer` is given, every real concept is normalized once when the
    dataset is built (padding stays zero), as the reference normalizes outside
    the model. By default all batches are padded to the same length (the
    longest sequence, or `max_length`), so compiled backends trace one shape.

    Args:
        sequences: list of `(n_i, dim)` arrays (already affixed and wrapped).
        batch_size: int. Sequences per batch. Defaults to `8`.
        targets: str or callable. `"embeddings"`, `"none"` or a callable as
            above. Defaults to `"embeddings"`.
        normalizer: `EmbeddingNormalizer` or None. Applied to every concept.
            Defaults to `None`.
        max_length: int or None. Padded length; longer sequences raise (wrap
            them first with `wrap_sequences`). Defaults to `None`.
        pad_to: str. `"dataset"`: every batch has the same length `N` (the
            longest sequence or `max_length`); `"batch"`: each batch is padded
            to its own longest sequence. Defaults to `"dataset"`.
        shuffle: bool. Reshuffle the order at every epoch end. Defaults to `False`.
        seed: int. Seed of the shuffling. Defaults to `0`.
        drop_remainder: bool. Drop the last, smaller batch. Defaults to `False`.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`,
            `use_multiprocessing`, `max_queue_size`).

    Example:

    >>> ds = ConceptSequenceDataset([np.ones((3, 4)), np.ones((2, 4))], batch_size=2)
    >>> x, y = ds[0]
    >>> x["embeddings"].shape, x["padding_mask"].tolist(), y.shape
    ((2, 3, 4), [[True, True, True], [True, True, False]], (2, 3, 4))

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3
          (next-concept regression on normalized embeddings; lcm.md sections 3.2 and 5.2).
        - Keras `keras.utils.PyDataset`.
    """

    def __init__(
        self,
        sequences: Sequence[Any],
        batch_size: int = 8,
        targets: Union[str, Callable, None] = "embeddings",
        normalizer: Any = None,
        max_length: Optional[int] = None,
        pad_to: str = "dataset",
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        if targets is None:
            targets = "none"
        if not callable(targets):
            check_choice("targets", targets, TARGET_MODES)
        self.targets = targets
        self.max_length = check_positive_int("max_length", max_length, allow_none=True)
        self.pad_to = check_choice("pad_to", pad_to, PAD_MODES)
        self.shuffle = check_bool("shuffle", shuffle)
        self.seed = check_int("seed", seed, min_value=0)
        self.drop_remainder = check_bool("drop_remainder", drop_remainder)
        seqs, self.embedding_dim = _check_sequences(sequences)
        seqs = [s for s in seqs if len(s)]
        if not seqs:
            raise ValueError("`sequences` must hold at least one non-empty sequence.")
        longest = max(len(s) for s in seqs)
        if self.max_length is not None and longest > self.max_length:
            raise ValueError(
                f"A sequence has {longest} concepts, more than `max_length`. Received: max_length={max_length}. "
                "Wrap long documents first with `wrap_sequences(sequences, max_length)`."
            )
        if normalizer is not None:
            seqs = [np.asarray(normalizer.normalize(s), dtype="float32") for s in seqs]
        self.sequences = seqs
        self.normalizer = normalizer
        self.sequence_length = self.max_length or longest
        if len(self.sequences) < self.batch_size and self.drop_remainder:
            raise ValueError(
                f"`batch_size` is larger than the {len(self.sequences)} sequences with drop_remainder=True. "
                f"Received: batch_size={batch_size}."
            )
        self._rng = np.random.default_rng(self.seed)
        self._order = np.arange(len(self.sequences))
        if self.shuffle:
            self._order = self._rng.permutation(len(self.sequences))

    @property
    def num_batches(self):
        n = len(self.sequences) / self.batch_size
        return math.floor(n) if self.drop_remainder else math.ceil(n)

    def __len__(self):
        return self.num_batches

    def batch(self, index: int):
        """`(embeddings, padding_mask)` NumPy arrays of batch `index`."""
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index out of range. Received: index={index} for {len(self)} batches.")
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        length = self.sequence_length if self.pad_to == "dataset" else None
        return pad_concept_sequences([self.sequences[i] for i in rows], max_length=length)

    def __getitem__(self, index: int):
        embeddings, mask = self.batch(index)
        inputs = {"embeddings": embeddings, "padding_mask": mask}
        if callable(self.targets):
            result = self.targets(embeddings, mask)
            if isinstance(result, tuple) and len(result) == 2:
                y, sample_weight = result
                return (inputs, y) if sample_weight is None else (inputs, y, sample_weight)
            return inputs, result
        if self.targets == "none":
            return (inputs,)
        return inputs, embeddings

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.sequences))
