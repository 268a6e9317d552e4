"""Concept decoders: predicted sentence embeddings -> text.

The reference decodes with the frozen SONAR text decoder, which cannot be had
offline. `ConceptDecoder` is the interface a decoder implements
(`decode(vectors) -> list[str]`); `RetrievalDecoder` implements it by exact
cosine nearest-neighbour search over a bank of known sentences, in NumPy.

>>> import numpy as np
>>> bank = np.eye(3, dtype="float32")
>>> decoder = RetrievalDecoder(["red", "green", "blue"], bank)
>>> decoder.decode(np.array([[0.1, 0.9, 0.0], [0.0, 0.2, 0.7]]))
['green', 'blue']
"""

import abc
from typing import List, Optional, Sequence, Tuple

import numpy as np

from dlzoo.validation import check_bool, check_positive_int


class ConceptDecoder(abc.ABC):
    """Interface of a concept decoder: vectors in, one text per vector out.

    Subclasses implement `decode`. A decoder works on *raw* (de-normalized)
    encoder-space vectors; de-normalize model outputs with
    `EmbeddingNormalizer.denormalize` first.

    Args:
        None. Subclasses define their own constructor arguments.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.1 (SONAR decoder).
    """

    @abc.abstractmethod
    def decode(self, vectors) -> List[str]:
        """Decode `(n, dim)` (or `(dim,)`) vectors into `n` texts."""

    def __call__(self, vectors) -> List[str]:
        return self.decode(vectors)


class RetrievalDecoder(ConceptDecoder):
    """Decode by exact cosine nearest neighbour over a sentence bank.

    The bank rows are L2-normalized once; a query batch is normalized and
    multiplied with the bank in chunks, so memory stays bounded by
    `chunk_size x bank_size` scores.

    Args:
        sentence_bank_texts: sequence of str. The candidate sentences.
        sentence_bank_embeddings: array `(bank_size, dim)`. Their embeddings
            (raw encoder space, the same encoder as the model's data).
        deduplicate: bool. Drop repeated texts from the bank (keeping the
            first), so top-k lists hold distinct sentences. Defaults to `True`.
        chunk_size: int. Queries scored per matrix product. Defaults to `1024`.

    Example:

    >>> decoder = RetrievalDecoder(["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> texts, scores = decoder.search(np.array([[0.6, 0.8]]), top_k=2)
    >>> texts
    [['b', 'a']]

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821) (the retrieval
          fallback is this project's substitute for the SONAR decoder; lcm.md section 5.4).
    """

    def __init__(self, sentence_bank_texts: Sequence[str], sentence_bank_embeddings, deduplicate: bool = True,
                 chunk_size: int = 1024):
        texts = list(sentence_bank_texts)
        embeddings = np.asarray(sentence_bank_embeddings, dtype="float32")
        if embeddings.ndim != 2:
            raise ValueError(
                "`sentence_bank_embeddings` must be a 2-D array (bank_size, dim). "
                f"Received: sentence_bank_embeddings of shape {embeddings.shape}."
            )
        if len(texts) != embeddings.shape[0]:
            raise ValueError(
                "`sentence_bank_texts` and `sentence_bank_embeddings` must have the same length. "
                f"Received: {len(texts)} texts and {embeddings.shape[0]} embeddings."
            )
        if not texts:
            raise ValueError("`sentence_bank_texts` must not be empty. Received: an empty bank.")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("`sentence_bank_texts` must hold strings. Received: a non-string entry.")
        self.deduplicate = check_bool("deduplicate", deduplicate)
        self.chunk_size = check_positive_int("chunk_size", chunk_size)
        if self.deduplicate:
            seen = {}
            for i, text in enumerate(texts):
                seen.setdefault(text, i)
            keep = np.array(sorted(seen.values()), dtype="int64")
            texts = [texts[i] for i in keep]
            embeddings = embeddings[keep]
        self.texts = texts
        self.embeddings = embeddings
        self._unit = _l2_normalize(embeddings)

    @classmethod
    def from_sentences(cls, sentences: Sequence[str], encoder, **kwargs) -> "RetrievalDecoder":
        """Build a bank by encoding `sentences` with a `SentenceEncoder` (or any `encode`)."""
        sentences = list(dict.fromkeys(sentences))
        return cls(sentences, encoder.encode(sentences), **kwargs)

    @property
    def bank_size(self) -> int:
        return len(self.texts)

    @property
    def embedding_dim(self) -> int:
        return int(self.embeddings.shape[1])

    def search_indices(self, vectors, top_k: int = 1) -> Tuple[np.ndarray, np.ndarray]:
        """Indices and cosine scores of the `top_k` nearest bank sentences.

        Args:
            vectors: array `(n, dim)` or `(dim,)`.
            top_k: int. Neighbours per query, best first. Defaults to `1`.

        Returns:
            `(indices (n, top_k) int64, scores (n, top_k) float32)`.
        """
        queries = self._queries(vectors)
        top_k = check_positive_int("top_k", top_k)
        if top_k > self.bank_size:
            raise ValueError(f"`top_k` must be <= the bank size {self.bank_size}. Received: top_k={top_k}.")
        all_idx, all_scores = [], []
        for start in range(0, queries.shape[0], self.chunk_size):
            scores = queries[start:start + self.chunk_size] @ self._unit.T
            if top_k < scores.shape[1]:
                part = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]
            else:
                part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
            part_scores = np.take_along_axis(scores, part, axis=1)
            # Best first; ties broken by bank order for determinism.
            order = np.lexsort((part, -part_scores), axis=1)
            all_idx.append(np.take_along_axis(part, order, axis=1))
            all_scores.append(np.take_along_axis(part_scores, order, axis=1))
        return np.concatenate(all_idx).astype("int64"), np.concatenate(all_scores).astype("float32")

    def search(self, vectors, top_k: int = 1) -> Tuple[List[List[str]], np.ndarray]:
        """Texts and cosine scores of the `top_k` nearest bank sentences.

        Args:
            vectors: array `(n, dim)` or `(dim,)`.
            top_k: int. Neighbours per query. Defaults to `1`.

        Returns:
            `(texts, scores)`: a list of `n` lists of `top_k` strings, and a
            `(n, top_k)` float32 array of cosine similarities.
        """
        idx, scores = self.search_indices(vectors, top_k=top_k)
        return [[self.texts[i] for i in row] for row in idx], scores

    def decode(self, vectors) -> List[str]:
        """The nearest bank sentence for each vector."""
        idx, _ = self.search_indices(vectors, top_k=1)
        return [self.texts[i] for i in idx[:, 0]]

    def _queries(self, vectors) -> np.ndarray:
        q = np.asarray(vectors, dtype="float32")
        if q.ndim == 1:
            q = q[None]
        if q.ndim != 2 or q.shape[1] != self.embedding_dim:
            raise ValueError(
                f"`vectors` must have shape (n, {self.embedding_dim}) or ({self.embedding_dim},). "
                f"Received: vectors of shape {np.shape(vectors)}."
            )
        return _l2_normalize(q)


def _l2_normalize(x: np.ndarray, epsilon: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype="float32")
    norm = np.sqrt(np.sum(np.square(x, dtype="float64"), axis=-1, keepdims=True)).astype("float32")
    return x / np.maximum(norm, epsilon)


def cosine_similarity(a, b, epsilon: float = 1e-12) -> np.ndarray:
    """Row-wise cosine similarity of two `(..., dim)` arrays, in NumPy.

    Args:
        a: array `(..., dim)`.
        b: array broadcastable to `a`.
        epsilon: float. Floor on the norms. Defaults to `1e-12`.

    Reference:
        - Meta LCM evaluation metric `cos_sim` (lcm.md section 5.4).
    """
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    num = np.sum(a * b, axis=-1)
    den = np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), epsilon)
    return (num / den).astype("float32")
