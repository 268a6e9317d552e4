"""Concept sequences: affixes, wrapping of long documents, padding with masks.

The reference appends affix concepts to every document (pre-training adds the
suffix "End of text.", the concept the model learns to emit to stop), then cuts
documents longer than `len_to_wrap_long_seq` (128) into chunks *after*
affixing, so only the last chunk ends with the end-of-text concept. Batches are
right-padded; masks are boolean with `True` = real concept.

>>> import numpy as np
>>> docs = [np.ones((2, 4)), np.ones((3, 4))]
>>> eot = np.zeros((1, 4))
>>> seqs = wrap_sequences(add_affixes(docs, suffix=eot), max_length=3)
>>> [len(s) for s in seqs]
[3, 3, 1]
>>> x, mask = pad_concept_sequences(seqs)
>>> x.shape, mask.sum(axis=1).tolist()
((3, 3, 4), [3, 3, 1])
"""

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from dlzoo.concepts.splitter import split_sentences
from dlzoo.validation import check_bool, check_positive_int

END_OF_TEXT = "End of text."


def _as_2d(x, name: str, dim: Optional[int] = None) -> np.ndarray:
    arr = np.asarray(x, dtype="float32")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a (n, dim) array or a (dim,) vector. Received: {name} of shape {arr.shape}.")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"`{name}` must have embedding size {dim}. Received: {name} of shape {arr.shape}.")
    return arr


def _check_sequences(sequences) -> Tuple[List[np.ndarray], int]:
    seqs = [np.asarray(s, dtype="float32") for s in sequences]
    if not seqs:
        raise ValueError("`sequences` must not be empty. Received: an empty list.")
    dims = {s.shape[-1] if s.ndim == 2 else None for s in seqs}
    if None in dims or len(dims) != 1:
        shapes = sorted({tuple(s.shape) for s in seqs}, key=str)[:4]
        raise ValueError(f"`sequences` must be (n_i, dim) arrays with one dim. Received shapes like {shapes}.")
    return seqs, dims.pop()


def encode_affix(text: Optional[str], encoder: Any, splitter: Any = "rule_based") -> Optional[np.ndarray]:
    """Embed an affix text (e.g. `"End of text."`) as one concept per sentence.

    Args:
        text: str or None. The affix; `None` or `""` gives `None`.
        encoder: a `SentenceEncoder` (or anything with `encode(list)`).
        splitter: str or splitter object. Defaults to `"rule_based"`.

    Returns:
        float32 array `(k, dim)` or `None`.

    Reference:
        - Meta LCM `source_suffix_text` / `target_suffix_text` (lcm.md section 5.2).
    """
    if not text:
        return None
    sentences = split_sentences(text, splitter=splitter) or [text]
    return np.asarray(encoder.encode(sentences, progress=False), dtype="float32")


def add_affixes(sequences: Sequence[Any], prefix: Optional[Any] = None, suffix: Optional[Any] = None) -> List[np.ndarray]:
    """Concatenate prefix/suffix concepts to every document.

    Args:
        sequences: list of `(n_i, dim)` arrays.
        prefix: `(k, dim)` array, `(dim,)` vector or None. Prepended. Defaults to `None`.
        suffix: `(k, dim)` array, `(dim,)` vector or None. Appended (the
            reference's pre-training suffix is the "End of text." concept).
            Defaults to `None`.

    Returns:
        A list of float32 `(n_i + k_prefix + k_suffix, dim)` arrays.

    Reference:
        - Meta LCM affixes (lcm.md section 5.2).
    """
    seqs, dim = _check_sequences(sequences)
    prefix = None if prefix is None else _as_2d(prefix, "prefix", dim)
    suffix = None if suffix is None else _as_2d(suffix, "suffix", dim)
    out = []
    for s in seqs:
        parts = [p for p in (prefix, s, suffix) if p is not None]
        out.append(np.concatenate(parts, axis=0))
    return out


def wrap_sequences(sequences: Sequence[Any], max_length: int) -> List[np.ndarray]:
    """Cut sequences longer than `max_length` into consecutive chunks.

    Apply it after `add_affixes`, as the reference does, so only the last
    chunk of a long document ends with the suffix concept.

    Args:
        sequences: list of `(n_i, dim)` arrays.
        max_length: int. Longest chunk (the reference's `len_to_wrap_long_seq`
            is 128).

    Returns:
        A list of `(<= max_length, dim)` arrays, chunks in document order.

    Reference:
        - Meta LCM `len_to_wrap_long_seq` (lcm.md section 5.2).
    """
    max_length = check_positive_int("max_length", max_length)
    seqs, _ = _check_sequences(sequences)
    out = []
    for s in seqs:
        if len(s) == 0:
            continue
        out.extend(s[i:i + max_length] for i in range(0, len(s), max_length))
    return out


def pad_concept_sequences(sequences: Sequence[Any], max_length: Optional[int] = None, append: Optional[Any] = None,
                          prepend: Optional[Any] = None, truncate: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Right-pad concept sequences into a batch with a boolean padding mask.

    Args:
        sequences: list of `(n_i, dim)` arrays.
        max_length: int or None. Padded length `N`. Defaults to `None` (the
            longest sequence after affixing).
        append: `(k, dim)` array, `(dim,)` vector or None. Concepts appended to
            every sequence before padding (e.g. the end-of-text vector).
            Defaults to `None`.
        prepend: `(k, dim)` array, `(dim,)` vector or None. Concepts
            prepended. Defaults to `None`.
        truncate: bool. Cut sequences longer than `max_length` (keeping the
            start) instead of raising. Defaults to `False`; prefer
            `wrap_sequences`, which keeps every concept.

    Returns:
        `(embeddings, padding_mask)`: float32 `(B, N, dim)` with zeros at
        padded positions, and bool `(B, N)`, `True` = real concept.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821) (right-padded
          batches of sentence embeddings; lcm.md section 5.2).
    """
    check_bool("truncate", truncate)
    max_length = check_positive_int("max_length", max_length, allow_none=True)
    seqs, dim = _check_sequences(sequences)
    if append is not None or prepend is not None:
        seqs = add_affixes(seqs, prefix=prepend, suffix=append)
    longest = max(len(s) for s in seqs)
    length = longest if max_length is None else max_length
    if longest > length and not truncate:
        raise ValueError(
            f"A sequence has {longest} concepts, more than `max_length`. Received: max_length={max_length}. "
            "Use `wrap_sequences(sequences, max_length)` first, or `truncate=True`."
        )
    length = max(length, 1)
    embeddings = np.zeros((len(seqs), length, dim), dtype="float32")
    mask = np.zeros((len(seqs), length), dtype=bool)
    for i, s in enumerate(seqs):
        n = min(len(s), length)
        embeddings[i, :n] = s[:n]
        mask[i, :n] = True
    return embeddings, mask
