"""The concept-corpus Parquet layout: what `dlzoo concepts encode` writes and the LCM loader streams.

A concept corpus is a directory of Parquet shards (`part-*.parquet`), one row
per sentence, plus a `_concepts.json` file describing the encoding:

    document_id     int64          index of the document in the input (0, 1, ...)
    sentence_index  int32          position of the sentence in its document (0, 1, ...)
    text            string         the sentence
    embedding       list<float32>  its sentence embedding (`embedding_dim` values)

The rows of one document are contiguous inside one shard, in sentence order;
documents without a sentence have no row. Both encoding engines (in-process
and Spark) write this layout; Spark names its shards
`part-<n>-<uuid>-c000.snappy.parquet`. `_concepts.json` holds the encoder
identity and embedding size, the splitter, the row counts and the
"End of text." concept, so training needs no sentence encoder. Files whose
names start with `_` or `.` are not shards (Spark's and Hadoop's convention).

`iter_concept_documents` streams the shards in file order with
`pyarrow.parquet.ParquetFile.iter_batches`: at most one record batch and one
document are held at a time, whatever the corpus size.
"""

import glob
import json
import os
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from dlzoo.validation import check_bool, check_positive_int

METADATA_FILE = "_concepts.json"
LAYOUT_NAME = "dlzoo-concepts"
LAYOUT_VERSION = 1
COLUMNS = ("document_id", "sentence_index", "text", "embedding")


def arrow_schema():
    """The pyarrow schema of a concept shard (see the module docstring)."""
    import pyarrow as pa  # lazy: optional dependency (pyarrow)

    return pa.schema([
        ("document_id", pa.int64()),
        ("sentence_index", pa.int32()),
        ("text", pa.string()),
        ("embedding", pa.list_(pa.float32())),
    ])


class ConceptDocument(NamedTuple):
    """One document of a concept corpus: its id, sentence embeddings and (optionally) sentences."""

    document_id: int
    embeddings: np.ndarray
    sentences: Optional[List[str]] = None


def shard_files(directory: Union[str, os.PathLike]) -> List[str]:
    """The Parquet shards of a concept corpus, in sorted (document) order."""
    directory = os.fspath(directory)
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.parquet")))
    return [os.path.join(directory, n) for n in names if not n.startswith(("_", "."))]


def write_concept_metadata(directory: Union[str, os.PathLike], metadata: Dict[str, Any]) -> str:
    """Write `_concepts.json` (the layout name and version are added)."""
    path = os.path.join(os.fspath(directory), METADATA_FILE)
    content = {"layout": LAYOUT_NAME, "version": LAYOUT_VERSION, **metadata}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=1)
    return path


def read_concept_metadata(directory: Union[str, os.PathLike]) -> Dict[str, Any]:
    """`_concepts.json` of a concept corpus.

    Raises:
        ValueError: naming the directory, when it is not a concept corpus.
    """
    directory = os.fspath(directory)
    path = os.path.join(directory, METADATA_FILE)
    if not os.path.isfile(path):
        raise ValueError(
            f"`corpus` must be a directory written by `dlzoo concepts encode` (with {METADATA_FILE}). "
            f"Received: corpus={directory!r}."
        )
    with open(path, "r", encoding="utf-8") as f:
        metadata = json.load(f)
    if metadata.get("layout") != LAYOUT_NAME or metadata.get("version") != LAYOUT_VERSION:
        raise ValueError(
            f"{path} is not a version-{LAYOUT_VERSION} {LAYOUT_NAME!r} corpus. "
            f"Received: layout={metadata.get('layout')!r}, version={metadata.get('version')!r}."
        )
    return metadata


def iter_concept_documents(directory: Union[str, os.PathLike], batch_rows: int = 4096,
                           with_sentences: bool = False) -> Iterator[ConceptDocument]:
    """Stream the documents of a concept corpus, shard by shard, batch by batch.

    Args:
        directory: str. A directory written by `dlzoo concepts encode`.
        batch_rows: int. Rows (sentences) per Parquet record batch read:
            with one document, the memory held at once. Defaults to `4096`.
        with_sentences: bool. Also read the `text` column. Defaults to `False`.

    Yields:
        `ConceptDocument(document_id, embeddings (n, dim) float32, sentences)`,
        in shard order (the input order for both engines).

    Raises:
        ValueError: when a document's rows are split across places, its
            sentence indices are not `0..n-1`, or an embedding has the wrong size.

    Reference:
        - Apache Arrow, `pyarrow.parquet.ParquetFile.iter_batches`.
    """
    import pyarrow.parquet as pq  # lazy: optional dependency (pyarrow)

    batch_rows = check_positive_int("batch_rows", batch_rows)
    check_bool("with_sentences", with_sentences)
    dim = int(read_concept_metadata(directory)["embedding_dim"])
    columns = ["document_id", "sentence_index", "embedding"] + (["text"] if with_sentences else [])
    seen = set()
    for path in shard_files(directory):
        pending = None  # (document_id, [sentence_index arrays], [embedding arrays], [texts])
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns):
            ids = batch.column("document_id").to_numpy()
            positions = batch.column("sentence_index").to_numpy()
            vectors = _embedding_matrix(batch.column("embedding"), dim, path)
            texts = batch.column("text").to_pylist() if with_sentences else None
            # Start of each run of equal document ids inside the batch.
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            ends = np.r_[starts[1:], len(ids)]
            for start, end in zip(starts, ends):
                document_id = int(ids[start])
                part = (positions[start:end], vectors[start:end], None if texts is None else texts[start:end])
                if pending is not None and pending[0] == document_id:
                    for store, value in zip(pending[1:], part):
                        store.append(value)
                    continue
                if pending is not None:
                    yield _finish(pending, path)
                if document_id in seen:
                    raise ValueError(f"The rows of document {document_id} are not contiguous in {path}: "
                                     "the corpus was not written by `dlzoo concepts encode`.")
                seen.add(document_id)
                pending = (document_id, [part[0]], [part[1]], [part[2]])
        if pending is not None:
            yield _finish(pending, path)


def _embedding_matrix(column, dim: int, path: str) -> np.ndarray:
    import pyarrow.compute as pc  # lazy: optional dependency (pyarrow)

    if len(column) and (column.null_count or pc.min(pc.list_value_length(column)).as_py() != dim
                        or pc.max(pc.list_value_length(column)).as_py() != dim):
        raise ValueError(f"Every embedding in {path} must have {dim} values (the corpus's `embedding_dim`).")
    return column.flatten().to_numpy(zero_copy_only=False).astype("float32", copy=False).reshape(len(column), dim)


def _finish(pending, path: str) -> ConceptDocument:
    document_id, positions, vectors, texts = pending
    positions = np.concatenate(positions)
    vectors = np.concatenate(vectors)
    order = np.argsort(positions, kind="stable")
    if not np.array_equal(positions[order], np.arange(len(positions))):
        raise ValueError(f"Document {document_id} in {path} must have sentence indices 0..{len(positions) - 1}. "
                         f"Received: {sorted(positions.tolist())[:8]}.")
    sentences = None
    if texts[0] is not None:
        flat = [t for chunk in texts for t in chunk]
        sentences = [flat[i] for i in order]
    return ConceptDocument(document_id, vectors[order], sentences)


def concept_documents(directory: Union[str, os.PathLike], min_sentences: int = 1,
                      max_documents: Optional[int] = None, batch_rows: int = 4096) -> Iterator[ConceptDocument]:
    """`iter_concept_documents` with the dataset filters: enough sentences, at most `max_documents`.

    Args:
        directory: str. A concept corpus directory.
        min_sentences: int. Skip documents with fewer sentences. Defaults to `1`.
        max_documents: int or None. Stop after this many documents. Defaults to `None`.
        batch_rows: int. Rows per record batch read. Defaults to `4096`.

    Yields:
        `ConceptDocument`s, in corpus order.
    """
    min_sentences = check_positive_int("min_sentences", min_sentences)
    max_documents = check_positive_int("max_documents", max_documents, allow_none=True)
    kept = 0
    for document in iter_concept_documents(directory, batch_rows=batch_rows):
        if max_documents is not None and kept >= max_documents:
            return
        if len(document.embeddings) >= min_sentences:
            kept += 1
            yield document


def end_of_text_concept(metadata: Dict[str, Any]) -> np.ndarray:
    """The "End of text." concept `(k, dim)` recorded in `_concepts.json`."""
    return np.asarray(metadata["end_of_text"], dtype="float32").reshape(-1, int(metadata["embedding_dim"]))


def as_arrow_table(document_ids: Sequence[int], sentences: Sequence[Sequence[str]], embeddings: np.ndarray):
    """Rows of the layout for documents, their sentences and the stacked `(sum n_i, dim)` embeddings."""
    import pyarrow as pa  # lazy: optional dependency (pyarrow)

    counts = np.array([len(s) for s in sentences], dtype="int64")
    embeddings = np.ascontiguousarray(embeddings, dtype="float32")
    offsets = np.arange(len(embeddings) + 1, dtype="int32") * embeddings.shape[1]
    return pa.table({
        "document_id": pa.array(np.repeat(np.asarray(document_ids, dtype="int64"), counts), pa.int64()),
        "sentence_index": pa.array(np.concatenate([np.arange(c, dtype="int32") for c in counts])
                                   if len(counts) else np.zeros(0, "int32"), pa.int32()),
        "text": pa.array([s for doc in sentences for s in doc], pa.string()),
        "embedding": pa.ListArray.from_arrays(pa.array(offsets), pa.array(embeddings.reshape(-1))),
    }, schema=arrow_schema())
