"""On-disk sentence-embedding cache and `encode_documents`.

Encoding is the slow step of the concept pipeline, so embeddings are stored on
disk keyed by a hash of (encoder identity, sentence text): a corpus is encoded
once, and later runs (on any backend) read the vectors back. Storage is plain
NumPy `.npz` shards (unicode key arrays + float32 matrices), read with
`allow_pickle=False`; each write goes to a new shard through an atomic rename,
so an interrupted run never leaves a corrupt cache.
"""

import hashlib
import json
import os
import tempfile
import uuid
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from dlzoo.concepts.corpus import Document, split_documents


def sentence_key(identity: str, sentence: str) -> str:
    """The cache key of one sentence: sha256 of (encoder identity, text), 32 hex chars."""
    return hashlib.sha256(identity.encode() + b"\0" + sentence.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class EmbeddingCache:
    """A directory of `.npz` shards mapping sentence keys to embeddings.

    The cache for one encoder lives in `<cache_dir>/<identity[:16]>/` with a
    `meta.json` recording the full identity and the embedding size.

    Args:
        cache_dir: str. Root directory (created if needed).
        identity: str. The encoder identity (`SentenceEncoder.identity`).
        dim: int or None. Embedding size, checked against stored shards.
            Defaults to `None` (taken from the first shard).

    Reference:
        - NumPy `np.savez` / `np.load(allow_pickle=False)` (no pickled objects).
    """

    def __init__(self, cache_dir: Union[str, os.PathLike], identity: str, dim: Optional[int] = None):
        if not isinstance(identity, str) or not identity:
            raise ValueError(f"`identity` must be a non-empty string. Received: identity={identity!r}.")
        self.identity = identity
        self.directory = os.path.join(os.fspath(cache_dir), identity[:16])
        os.makedirs(self.directory, exist_ok=True)
        meta_path = os.path.join(self.directory, "meta.json")
        if os.path.exists(meta_path):
            with open(meta_path, "r", encoding="utf-8") as f:
                meta = json.load(f)
            if meta.get("identity") != identity:
                raise ValueError(f"Cache directory {self.directory} belongs to another encoder "
                                 f"(identity {meta.get('identity')!r}). Received: identity={identity!r}.")
            dim = dim or meta.get("dim")
        self.dim = dim
        self._index: Dict[str, int] = {}
        self._rows: List[np.ndarray] = []
        self._loaded_shards = set()
        self.refresh()

    def refresh(self) -> None:
        """Read shards written since the last refresh (e.g. by another process)."""
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".npz") or name in self._loaded_shards:
                continue
            with np.load(os.path.join(self.directory, name), allow_pickle=False) as data:
                keys, embeddings = data["keys"], data["embeddings"]
            self._check_dim(embeddings.shape[1])
            for key, row in zip(keys.tolist(), embeddings):
                if key not in self._index:
                    self._index[key] = len(self._rows)
                    self._rows.append(row)
            self._loaded_shards.add(name)

    def _check_dim(self, dim):
        if self.dim is None:
            self.dim = int(dim)
        elif int(dim) != self.dim:
            raise ValueError(f"Cached embeddings have size {dim} but this cache holds size {self.dim}.")

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """Stacked embeddings for `keys` (all must be present)."""
        if not keys:
            return np.zeros((0, self.dim or 0), dtype="float32")
        return np.stack([self._rows[self._index[k]] for k in keys]).astype("float32")

    def put(self, keys: Sequence[str], embeddings) -> None:
        """Store new embeddings in a new shard (atomic write)."""
        embeddings = np.asarray(embeddings, dtype="float32")
        if len(keys) != embeddings.shape[0]:
            raise ValueError(f"`keys` and `embeddings` must have the same length. "
                             f"Received: {len(keys)} keys and {embeddings.shape[0]} embeddings.")
        if not len(keys):
            return
        self._check_dim(embeddings.shape[1])
        meta_path = os.path.join(self.directory, "meta.json")
        if not os.path.exists(meta_path):
            _atomic_write(meta_path, json.dumps({"identity": self.identity, "dim": self.dim}).encode())
        name = f"shard-{uuid.uuid4().hex[:12]}.npz"
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, keys=np.array(list(keys), dtype="<U32"), embeddings=embeddings)
        os.replace(tmp, os.path.join(self.directory, name))
        self._loaded_shards.add(name)
        for key, row in zip(keys, embeddings):
            if key not in self._index:
                self._index[key] = len(self._rows)
                self._rows.append(row)


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def encode_sentences(sentences: Sequence[str], encoder: Any, cache_dir: Optional[Union[str, os.PathLike]] = None,
                     progress: Optional[bool] = None) -> np.ndarray:
    """Encode sentences, each unique text once, through the on-disk cache.

    Args:
        sentences: sequence of str.
        encoder: a `SentenceEncoder` (anything with `encode(list, progress=)`,
            `embedding_dim` and, for caching, `identity`).
        cache_dir: str or None. Cache root; `None` disables caching.
        progress: bool or None. Passed to `encoder.encode`. Defaults to `None`
            (the encoder decides).

    Returns:
        float32 array `(len(sentences), dim)`.
    """
    sentences = list(sentences)
    unique = list(dict.fromkeys(sentences))
    if cache_dir is None:
        vectors = np.asarray(encoder.encode(unique, progress=progress), dtype="float32") if unique else None
        table = dict(zip(unique, vectors)) if unique else {}
    else:
        cache = EmbeddingCache(cache_dir, encoder.identity, dim=encoder.embedding_dim)
        keys = {s: sentence_key(cache.identity, s) for s in unique}
        missing = [s for s in unique if keys[s] not in cache]
        if missing:
            new = np.asarray(encoder.encode(missing, progress=progress), dtype="float32")
            cache.put([keys[s] for s in missing], new)
        table = dict(zip(unique, cache.get([keys[s] for s in unique])))
    if not sentences:
        return np.zeros((0, encoder.embedding_dim), dtype="float32")
    return np.stack([table[s] for s in sentences]).astype("float32")


def encode_documents(documents: Iterable[Union[str, Sequence[str], Document]], encoder: Any,
                     cache_dir: Optional[Union[str, os.PathLike]] = None, splitter: Any = "rule_based",
                     progress: Optional[bool] = None) -> List[np.ndarray]:
    """Documents -> one `(n_i, dim)` float32 array of sentence embeddings each.

    All sentences of all documents are encoded in one pass (each unique text
    once, sorted into length-homogeneous batches by the encoder), through the
    on-disk cache when `cache_dir` is given, so a corpus is encoded only once.

    Args:
        documents: iterable of raw texts (split with `splitter`), sentence
            lists, or `Document`s.
        encoder: a `SentenceEncoder` or compatible object.
        cache_dir: str or None. Embedding cache root. Defaults to `None` (no cache).
        splitter: str or splitter object, for raw-text documents. Defaults to
            `"rule_based"`.
        progress: bool or None. Progress bar for the encode. Defaults to
            `None` (shown for long encodes).

    Returns:
        A list of float32 arrays `(n_i, dim)`, in document order (a document
        with no sentence gives a `(0, dim)` array).

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.2
          (documents are embedded sentence by sentence with a frozen encoder).
    """
    docs = split_documents(list(documents), splitter=splitter, min_sentences=0)
    flat = [s for d in docs for s in d.sentences]
    vectors = encode_sentences(flat, encoder, cache_dir=cache_dir, progress=progress)
    out, start = [], 0
    for d in docs:
        out.append(vectors[start:start + len(d.sentences)])
        start += len(d.sentences)
    return out
