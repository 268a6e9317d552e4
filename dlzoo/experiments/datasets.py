"""Datasets for experiments: the `Data` container and the built-in registered datasets.

A dataset component is a function (or class) registered with
`@dlzoo.register_component("dataset", name)`; called with its options, it
returns a `Data`. Built-in: `digits` (scikit-learn's 8x8 handwritten digits),
`arrays` (NumPy `.npy`/`.npz` files), `concepts` (documents as sequences of
sentence embeddings for the Large Concept Model, through `dlzoo.concepts`) and
`concept_parquet` (the same, streamed from a corpus `dlzoo concepts encode` wrote).

A dataset that reads files declares them: its attribute `data_files(**options)`
returns `[(option, path), ...]`, and `dlzoo run` checks that each exists while
it checks the composition file, before any run starts.
"""

import dataclasses
import hashlib
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from dlzoo.registry import register_component
from dlzoo.validation import check_bool, check_int, check_positive_int

SPLITS = ("train", "validation", "test")


def _map(fn, value):
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {k: fn(v) for k, v in value.items()}
    return fn(value)


def _first_array(value):
    if isinstance(value, Mapping):
        return next(iter(value.values()))
    return value


@dataclasses.dataclass
class Data:
    """Arrays of one dataset, before or after splitting.

    Args:
        x: array or dict of arrays (model input name -> array); the first
            axis indexes examples.
        y: array, dict of arrays (model output name -> array) or None.
        sample_weight: array or None. Per-example (or per-position) weights.
        labels: 1-D array or None. Class labels used for stratified splits
            (defaults to `y` when it is a 1-D integer array).
        groups: 1-D array or None. Group ids: examples of one group always
            land in the same split (e.g. the chunks of one document).
        splits: dict or None. Predefined splits: `"train"` / `"validation"` /
            `"test"` -> index arrays. When given, the ratios of the
            composition file are not used for those splits.
        files: list of str. Files the data was read from (fingerprinted).
        info: dict. Facts about the data (shapes, classes, source).
        y_from_x: str or None. `y` is `x[y_from_x]` after the transforms (a
            model that reconstructs or shifts its input, e.g. the LCM).
        sample_weight_from_x: str or None. `sample_weight` is
            `x[sample_weight_from_x]` as float32 (e.g. a padding mask).
        extra_metrics: callable or None. `(split data, predictions) ->
            {name: value}`: metrics that need facts of the data the model
            does not see (a forecast's MASE scale and naive baselines, see
            `time_series`); the runner reports them as `val_<name>` and
            `test_<name>` next to the Keras metrics.
    """

    x: Any
    y: Any = None
    sample_weight: Any = None
    labels: Optional[np.ndarray] = None
    groups: Optional[np.ndarray] = None
    splits: Optional[Dict[str, np.ndarray]] = None
    files: List[str] = dataclasses.field(default_factory=list)
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)
    y_from_x: Optional[str] = None
    sample_weight_from_x: Optional[str] = None
    extra_metrics: Optional[Callable[["Data", Any], Dict[str, float]]] = None

    def __len__(self) -> int:
        return int(len(_first_array(self.x)))

    @property
    def stratify_labels(self) -> Optional[np.ndarray]:
        if self.labels is not None:
            return np.asarray(self.labels)
        y = self.y
        if isinstance(y, np.ndarray) and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
            return y
        return None

    def take(self, indices) -> "Data":
        """The examples at `indices` (a new `Data`, predefined splits dropped)."""
        indices = np.asarray(indices, dtype="int64")

        def pick(a):
            return np.asarray(a)[indices]

        return dataclasses.replace(
            self,
            x=_map(pick, self.x),
            y=_map(pick, self.y),
            sample_weight=_map(pick, self.sample_weight),
            labels=None if self.labels is None else pick(self.labels),
            groups=None if self.groups is None else pick(self.groups),
            splits=None,
        )

    def finalize(self) -> "Data":
        """Resolve `y_from_x` / `sample_weight_from_x` (after the transforms)."""
        y, sw = self.y, self.sample_weight
        if self.y_from_x is not None:
            y = self.x[self.y_from_x]
        if self.sample_weight_from_x is not None:
            sw = np.asarray(self.x[self.sample_weight_from_x]).astype("float32")
        return dataclasses.replace(self, y=y, sample_weight=sw, y_from_x=None, sample_weight_from_x=None)

    def content_hash(self) -> str:
        """sha256 of every array (dtype, shape, bytes), in a fixed order."""
        digest = hashlib.sha256()
        for label, value in (("x", self.x), ("y", self.y), ("sample_weight", self.sample_weight)):
            if value is None:
                continue
            items = sorted(value.items()) if isinstance(value, Mapping) else [("", value)]
            for key, arr in items:
                arr = np.ascontiguousarray(arr)
                digest.update(f"{label}:{key}:{arr.dtype.str}:{arr.shape}".encode())
                digest.update(arr.tobytes())
        return digest.hexdigest()

    def describe(self) -> Dict[str, Any]:
        def shape(v):
            return _map(lambda a: [int(s) for s in np.shape(a)], v)

        return {"examples": len(self), "x": shape(self.x), "y": shape(self.y), **self.info}


def file_hash(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------ digits
@register_component("dataset", "digits")
def digits(n_class: int = 10, image_shape: Optional[Sequence[int]] = (8, 8, 1)) -> Data:
    """scikit-learn's handwritten digits: 1,797 8x8 grey images (values 0..16), 10 classes.

    Args:
        n_class: int. Keep the digits `0 .. n_class - 1`. Defaults to `10`.
        image_shape: list or None. Shape of each image, `(8, 8, 1)` for image
            models; `None` gives flat 64-feature vectors. Defaults to `(8, 8, 1)`.

    Returns:
        `Data` with `x` float32 `(n, *image_shape)` (values 0..16; scale with
        the `scale` transform) and `y` int32 class ids.

    Reference:
        - UCI "Optical Recognition of Handwritten Digits" (Alpaydin and Kaynak, 1998), via
          `sklearn.datasets.load_digits`.
    """
    from sklearn import datasets as sk_datasets  # lazy: optional dependency (sklearn)

    n_class = check_int("n_class", n_class, min_value=2, max_value=10)
    bunch = sk_datasets.load_digits(n_class=n_class)
    x = bunch.data.astype("float32")
    if image_shape is not None:
        x = x.reshape((len(x),) + tuple(int(s) for s in image_shape))
    files = []
    source = os.path.join(os.path.dirname(sk_datasets.__file__), "data", "digits.csv.gz")
    if os.path.exists(source):
        files.append(source)
    return Data(
        x=x,
        y=bunch.target.astype("int32"),
        files=files,
        info={"source": "sklearn.datasets.load_digits", "classes": int(n_class)},
    )


# ------------------------------------------------------------------ arrays
def _load_array_file(path: str, key: Optional[str] = None) -> np.ndarray:
    if not os.path.exists(path):
        raise FileNotFoundError(f"No array file at {path!r}.")
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            if key is None:
                raise ValueError(f"Name the array to read from {path!r}. Available: {sorted(data.files)}.")
            if key not in data.files:
                raise ValueError(f"{path!r} has no array {key!r}. Available: {sorted(data.files)}.")
            return data[key]
    raise ValueError(f"Array files must end in .npy or .npz. Received: {path!r}.")


def _read_arrays(path: Optional[str], spec: Any) -> Any:
    """`spec` is a key of `path` (.npz), a .npy path, or a mapping name -> either."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return {name: _read_arrays(path, item) for name, item in spec.items()}
    if path is not None:
        return _load_array_file(path, spec)
    return _load_array_file(spec)


def _spec_files(path, spec) -> List[str]:
    if path is not None:
        return [path]
    if spec is None:
        return []
    if isinstance(spec, Mapping):
        return [f for item in spec.values() for f in _spec_files(None, item)]
    return [spec]


def _concat(parts):
    if parts[0] is None:
        return None
    if isinstance(parts[0], Mapping):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


@register_component("dataset", "arrays")
def arrays(
    path: Optional[str] = None,
    x: Union[str, Dict[str, str]] = "x",
    y: Union[str, Dict[str, str], None] = "y",
    sample_weight: Optional[str] = None,
    splits: Optional[Dict[str, str]] = None,
    labels: Optional[str] = None,
) -> Data:
    """Arrays from NumPy files: one `.npz` with named arrays, separate `.npy` files, or pre-split files.

    Args:
        path: str or None. An `.npz` file; then `x`, `y`, `sample_weight` and
            `labels` are array names inside it. `None`: they are `.npy` paths.
        x: str or dict. The inputs: an array name/path, or a mapping model
            input name -> array name/path. Defaults to `"x"`.
        y: str, dict or None. The targets (mapping: model output name ->
            array). Defaults to `"y"`.
        sample_weight: str or None. Per-example weights. Defaults to `None`.
        splits: dict or None. Pre-split data: `{"train": a.npz, "test":
            b.npz, ...}`, each an `.npz` with the same array names; `path` is
            then unused and the splits are kept as given. Defaults to `None`.
        labels: str or None. Class labels for stratified splitting (defaults
            to `y` when it is 1-D integers).

    Returns:
        `Data`; files are fingerprinted by content hash.
    """
    if splits is not None:
        if not isinstance(splits, Mapping) or not splits:
            raise TypeError(f"`splits` must map split names to .npz files. Received: splits={splits!r}.")
        unknown = [k for k in splits if k not in SPLITS]
        if unknown:
            raise ValueError(f"`splits` keys must be among {SPLITS}. Received: {unknown}.")
        parts, indices, start = [], {}, 0
        for name in SPLITS:
            if name not in splits:
                continue
            part = arrays(path=splits[name], x=x, y=y, sample_weight=sample_weight, labels=labels)
            indices[name] = np.arange(start, start + len(part))
            start += len(part)
            parts.append(part)
        return Data(
            x=_concat([p.x for p in parts]),
            y=_concat([p.y for p in parts]),
            sample_weight=_concat([p.sample_weight for p in parts]),
            labels=_concat([p.labels for p in parts]),
            splits=indices,
            files=[f for p in parts for f in p.files],
            info={"source": "arrays", "splits": {k: len(v) for k, v in indices.items()}},
        )
    data_x = _read_arrays(path, x)
    data_y = _read_arrays(path, y)
    data = Data(
        x=data_x,
        y=data_y,
        sample_weight=_read_arrays(path, sample_weight),
        labels=_read_arrays(path, labels),
        files=sorted(set(_spec_files(path, x) + _spec_files(path, y) + _spec_files(path, sample_weight))),
        info={"source": "arrays"},
    )
    n = len(data)
    for label, value in (("y", data.y), ("sample_weight", data.sample_weight), ("labels", data.labels)):
        for arr in (value.values() if isinstance(value, Mapping) else [value]):
            if arr is not None and len(arr) != n:
                raise ValueError(f"`{label}` has {len(arr)} rows but `x` has {n}.")
    return data


def _arrays_files(path=None, x="x", y="y", sample_weight=None, splits=None, labels=None):
    """`(option, path)` of every file `arrays(...)` reads."""
    if splits is not None:
        return [(f"splits.{k}", v) for k, v in splits.items() if isinstance(v, str)] if isinstance(splits, Mapping) else []
    if path is not None:
        return [("path", path)] if isinstance(path, str) else []
    files = []
    for option, spec in (("x", x), ("y", y), ("sample_weight", sample_weight), ("labels", labels)):
        if isinstance(spec, str):
            files.append((option, spec))
        elif isinstance(spec, Mapping):
            files += [(f"{option}.{k}", v) for k, v in spec.items() if isinstance(v, str)]
    return files


arrays.data_files = _arrays_files


# ---------------------------------------------------------------- concepts
@register_component("dataset", "concepts")
def concepts(
    corpus: str = "stdlib_docstrings",
    paths: Optional[List[str]] = None,
    format: Optional[str] = None,
    max_documents: Optional[int] = 200,
    min_sentences: int = 4,
    max_length: int = 32,
    end_of_text: bool = True,
    encoder: Optional[str] = None,
    cache_dir: Optional[str] = None,
    shuffle_seed: int = 0,
) -> Data:
    """Documents as sequences of sentence embeddings (concepts), for Large Concept Models.

    Documents come from the standard-library docstring corpus
    (`corpus="stdlib_docstrings"`) or from text/JSONL/Parquet files
    (`corpus="files"`, `paths=[...]`); each is split into sentences, encoded
    with a frozen sentence encoder (all-MiniLM-L6-v2 by default, 384-d)
    through an on-disk cache, suffixed with the "End of text." concept, and
    cut into chunks of at most `max_length` concepts. Chunks of one document
    share a group id, so splits and folds never separate them.

    Args:
        corpus: str. `"stdlib_docstrings"` or `"files"`. Defaults to `"stdlib_docstrings"`.
        paths: list of str or None. Files for `corpus="files"`.
        format: str or None. `"text"`, `"jsonl"` or `"parquet"` (by suffix when `None`).
        max_documents: int or None. Keep at most this many documents. Defaults to `200`.
        min_sentences: int. Keep documents with at least this many sentences. Defaults to `4`.
        max_length: int. Concepts per sequence (longer documents are wrapped). Defaults to `32`.
        end_of_text: bool. Append the "End of text." concept. Defaults to `True`.
        encoder: str or None. A keras-hub preset directory for the
            `SentenceEncoder`; `None` is all-MiniLM-L6-v2. Defaults to `None`.
        cache_dir: str or None. Embedding cache; `None` uses
            `$DLZOO_CACHE_DIR/concepts` or `~/.cache/dlzoo/concepts`.
        shuffle_seed: int. Seed of the document order. Defaults to `0`.

    Returns:
        `Data` with `x = {"embeddings": (n, max_length, dim), "padding_mask":
        (n, max_length)}`, `y` = the embeddings (after the transforms, e.g.
        `concept_normalizer`) and `sample_weight` = the padding mask.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2
    """
    from dlzoo import concepts as C  # lazy: keras (dlzoo.concepts imports it)

    max_documents = check_positive_int("max_documents", max_documents, allow_none=True)
    min_sentences = check_positive_int("min_sentences", min_sentences)
    max_length = check_int("max_length", max_length, min_value=2)
    check_bool("end_of_text", end_of_text)
    files: List[str] = []
    if corpus == "stdlib_docstrings":
        documents = C.stdlib_docstrings_corpus(
            min_sentences=min_sentences, max_documents=max_documents, shuffle_seed=shuffle_seed
        )
    elif corpus == "files":
        if not paths:
            raise ValueError("`corpus='files'` needs `paths`: a list of text, JSONL or Parquet files.")
        documents = C.load_documents(list(paths), format=format)
        documents = C.split_documents(documents, min_sentences=min_sentences)
        if max_documents is not None:
            documents = documents[:max_documents]
        files = sorted(str(p) for p in paths)
    else:
        raise ValueError(f"`corpus` must be 'stdlib_docstrings' or 'files'. Received: corpus={corpus!r}.")
    if cache_dir is None:
        root = os.environ.get("DLZOO_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "dlzoo")
        cache_dir = os.path.join(root, "concepts")
    sentence_encoder = C.SentenceEncoder(preset=encoder)
    embedded = C.encode_documents(documents, sentence_encoder, cache_dir=cache_dir)
    suffix = C.encode_affix(C.END_OF_TEXT, sentence_encoder) if end_of_text else None
    return concept_sequence_data(embedded, suffix, max_length, files=files,
                                 info={"source": f"concepts:{corpus}", "encoder": sentence_encoder.identity[:16]})


def concept_sequence_data(documents: Iterable[np.ndarray], suffix: Optional[np.ndarray], max_length: int,
                          files: Sequence[str] = (), info: Optional[Dict[str, Any]] = None) -> Data:
    """`Data` of concept sequences: each document's `(n_i, dim)` concepts suffixed and wrapped into chunks.

    Args:
        documents: iterable of `(n_i, dim)` arrays, one per document (consumed once: a stream works).
        suffix: `(k, dim)` array or None. Appended to every document (the "End of text." concept).
        max_length: int. Concepts per sequence; longer documents become several chunks of one group.
        files: sequence of str. Files the data was read from.
        info: dict or None. Facts about the source, merged into `Data.info`.
    """
    from dlzoo import concepts as C  # lazy: keras (dlzoo.concepts imports it)

    groups, sequences, count = [], [], 0
    for doc_index, seq in enumerate(documents):
        count += 1
        affixed = C.add_affixes([seq], suffix=suffix)
        for chunk in C.wrap_sequences(affixed, max_length):
            sequences.append(chunk)
            groups.append(doc_index)
    if not sequences:
        raise ValueError(f"The dataset has no document with a concept. Received: source={(info or {}).get('source')!r}.")
    embeddings, mask = C.pad_concept_sequences(sequences, max_length=max_length)
    return Data(
        x={"embeddings": embeddings.astype("float32"), "padding_mask": mask.astype(bool)},
        groups=np.asarray(groups, dtype="int64"),
        files=list(files),
        info={
            **(info or {}),
            "documents": count,
            "sequences": len(sequences),
            "concepts": int(mask.sum()),
            "embedding_dim": int(embeddings.shape[-1]),
        },
        y_from_x="embeddings",
        sample_weight_from_x="padding_mask",
    )


def _concepts_files(corpus="stdlib_docstrings", paths=None, **options):
    """`(option, path)` of the files `concepts(corpus="files", paths=[...])` reads."""
    if corpus != "files" or not isinstance(paths, (list, tuple)):
        return []
    return [(f"paths[{i}]", p) for i, p in enumerate(paths) if isinstance(p, str)]


concepts.data_files = _concepts_files


# --------------------------------------------------------- concept_parquet
@register_component("dataset", "concept_parquet")
def concept_parquet(
    corpus: str,
    max_documents: Optional[int] = None,
    min_sentences: int = 1,
    max_length: int = 32,
    end_of_text: bool = True,
    batch_rows: int = 4096,
) -> Data:
    """Concept sequences of an encoded corpus: the Parquet shards `dlzoo concepts encode` wrote.

    The shards are streamed (`pyarrow` record batches of `batch_rows`
    sentences, one document assembled at a time); each document's concepts
    are suffixed with the "End of text." concept recorded in
    `_concepts.json` (no sentence encoder runs) and wrapped into chunks of at
    most `max_length`, exactly as the `concepts` dataset does with the same
    documents. Chunks of one document share a group id.

    Args:
        corpus: str. The directory written by `dlzoo concepts encode` (either engine).
        max_documents: int or None. Keep the first documents only. Defaults to `None` (all).
        min_sentences: int. Skip documents with fewer sentences. Defaults to `1`.
        max_length: int. Concepts per sequence. Defaults to `32`.
        end_of_text: bool. Append the "End of text." concept. Defaults to `True`.
        batch_rows: int. Sentences per record batch read. Defaults to `4096`.

    Returns:
        `Data` as the `concepts` dataset gives it (`embeddings`, `padding_mask`, groups).

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2
          (the reference trains from Parquet shards of pre-computed sentence embeddings).
    """
    from dlzoo.concepts import concept_parquet as P  # lazy: pyarrow only for this dataset

    max_length = check_int("max_length", max_length, min_value=2)
    check_bool("end_of_text", end_of_text)
    metadata = P.read_concept_metadata(corpus)
    documents = P.concept_documents(corpus, min_sentences=min_sentences, max_documents=max_documents,
                                    batch_rows=batch_rows)
    suffix = P.end_of_text_concept(metadata) if end_of_text else None
    files = [os.path.join(corpus, P.METADATA_FILE)] + P.shard_files(corpus)
    return concept_sequence_data((d.embeddings for d in documents), suffix, max_length, files=files,
                                 info={"source": f"concept_parquet:{corpus}",
                                       "encoder": metadata["encoder"]["identity"][:16]})


def _concept_parquet_files(corpus=None, **options):
    """`(option, path)`: the corpus's `_concepts.json` (checked before any run starts)."""
    return [("corpus", os.path.join(corpus, "_concepts.json"))] if isinstance(corpus, str) else []


concept_parquet.data_files = _concept_parquet_files
