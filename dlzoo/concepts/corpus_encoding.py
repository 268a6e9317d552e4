"""`encode_corpus`: a text corpus -> a concept corpus on disk (sentences and their embeddings, in Parquet).

    INPUT (text / JSONL / Parquet documents) --read on the driver-->
      batches of documents --split_sentences, SentenceEncoder.encode--> rows
      --> part-*.parquet + _concepts.json   (layout: `dlzoo.concepts.concept_parquet`)

Two engines run the same per-batch function, `encode_document_batch`, so they
write the same rows: `"local"` encodes the batches one after another in this
process; `"spark"` hands them to PySpark (`dlzoo.concepts.spark_engine`),
whose Python workers each load the encoder once and run it on their share of
the documents. Embeddings are the encoder's (L2-normalized for MiniLM);
the LCM's per-dimension `EmbeddingNormalizer` is fitted later, on the
training split only (the `concept_normalizer` transform), so it is not
applied here.

The output is staged in a hidden sibling directory and renamed into place at
the end, so a failed or interrupted run leaves no half-written corpus; an
existing non-empty `out` is replaced only with `overwrite=True`.
"""

import glob
import json
import os
import shutil
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from dlzoo.concepts import concept_parquet
from dlzoo.concepts.loaders import TEXT_MODES, load_jsonl_documents, load_parquet_documents, load_text_documents
from dlzoo.concepts.splitter import get_splitter, list_splitters
from dlzoo.validation import check_bool, check_choice, check_positive_int

ENGINES = ("local", "spark")
FORMATS = ("text", "jsonl", "parquet")
FORMAT_OF_EXTENSION = {".txt": "text", ".text": "text", ".md": "text", ".jsonl": "jsonl", ".json": "jsonl",
                       ".parquet": "parquet", ".pq": "parquet"}
DIRECTORY_PATTERN = {"text": "*.txt", "jsonl": "*.jsonl", "parquet": "*.parquet"}


# ------------------------------------------------------------------- input
def input_format(input: str, format: Optional[str] = None) -> str:
    """The input's format: `format` checked, or inferred from the extension (a directory needs `format`)."""
    if format is not None:
        return check_choice("format", format, FORMATS)
    if os.path.isdir(input):
        raise ValueError(f"Give `format` ({', '.join(FORMATS)}) when the input is a directory. "
                         f"Received: input={input!r}, format=None.")
    extension = os.path.splitext(input)[1].lower()
    if extension not in FORMAT_OF_EXTENSION:
        raise ValueError(f"`input` has an unknown format: the extension {extension or '(none)'!r} is not one of "
                         f"{', '.join(sorted(FORMAT_OF_EXTENSION))}; give `format` ({', '.join(FORMATS)}). "
                         f"Received: input={input!r}.")
    return FORMAT_OF_EXTENSION[extension]


def read_documents(input: Union[str, os.PathLike], format: Optional[str] = None, field: str = "text",
                   text_mode: str = "file") -> List[Union[str, List[str]]]:
    """The documents of `input` (a file, a directory with `format`, or a glob), in order.

    Args:
        input: str. A text, JSONL or Parquet file, a directory of them, or a glob.
        format: str or None. `"text"`, `"jsonl"` or `"parquet"`; `None`
            infers it from the extension.
        field: str. The JSONL field / Parquet column holding each document
            (a string, or a list of sentences). Defaults to `"text"`.
        text_mode: str. For text files: `"file"` (a document per file),
            `"line"` (per non-empty line) or `"blank_line"`. Defaults to `"file"`.

    Returns:
        A list of documents (str, or list of str for pre-split ones).
    """
    input = os.fspath(input)
    if not (os.path.exists(input) or glob.glob(input)):
        raise ValueError(f"`input` does not exist (no file, directory or glob match). Received: input={input!r}.")
    format = input_format(input, format)
    text_mode = check_choice("text_mode", text_mode, TEXT_MODES)
    pattern = DIRECTORY_PATTERN[format]
    try:
        if format == "text":
            return load_text_documents(input, mode=text_mode, pattern=pattern)
        if format == "jsonl":
            return load_jsonl_documents(input, field=field, pattern=pattern)
        return load_parquet_documents(input, column=field, pattern=pattern)
    except KeyError as error:
        raise ValueError(f"`field` names no {'column' if format == 'parquet' else 'field'} of the input: "
                         f"{error.args[0]} Received: field={field!r}.") from None


# --------------------------------------------------------------- encoding
def encoder_spec(preset: Optional[str] = None, sequence_length: int = 128, batch_size: int = 64) -> Dict[str, Any]:
    """A plain-data description of a `SentenceEncoder` (what Spark workers receive to build their own)."""
    return {"preset": None if preset is None else os.path.abspath(os.fspath(preset)),
            "sequence_length": check_positive_int("sequence_length", sequence_length),
            "batch_size": check_positive_int("batch_size", batch_size)}


def build_encoder(spec: Dict[str, Any]):
    """The `SentenceEncoder` of an `encoder_spec`."""
    from dlzoo.concepts.sentence_encoder import SentenceEncoder  # lazy: Keras only where an encoder is built

    return SentenceEncoder(**spec)


def document_sentences(document: Union[str, Sequence[str]], splitter: Any) -> List[str]:
    """A raw text split with `splitter`; a pre-split document keeps its non-blank sentences."""
    if isinstance(document, str):
        split = splitter.split if hasattr(splitter, "split") else splitter
        return list(split(document))
    return [s for s in document if s.strip()]


def encode_document_batch(document_ids: Sequence[int], documents: Sequence[Union[str, Sequence[str]]],
                          encoder: Any, splitter: Any):
    """Rows of the concept layout (a pyarrow Table) for one batch of documents.

    Args:
        document_ids: sequence of int. The documents' ids.
        documents: sequence of str or list of str. Raw texts or sentence lists.
        encoder: a `SentenceEncoder`.
        splitter: a splitter object (see `get_splitter`).

    Returns:
        A pyarrow Table with the columns of `concept_parquet.arrow_schema()`.
    """
    sentences = [document_sentences(d, splitter) for d in documents]
    flat = [s for doc in sentences for s in doc]
    embeddings = np.asarray(encoder.encode(flat, progress=False), dtype="float32")
    return concept_parquet.as_arrow_table(document_ids, sentences, embeddings)


def encode_locally(documents: Sequence[Union[str, Sequence[str]]], directory: str, encoder: Any, splitter: Any,
                   batch_documents: int = 256, shard_documents: int = 8192) -> List[str]:
    """The `"local"` engine: encode batch after batch in this process, `part-<n>.parquet` shards."""
    import pyarrow.parquet as pq  # lazy: optional dependency (pyarrow)

    written, writer, in_shard = [], None, 0
    try:
        for start in range(0, len(documents), batch_documents):
            batch = documents[start:start + batch_documents]
            table = encode_document_batch(range(start, start + len(batch)), batch, encoder, splitter)
            if writer is None:
                written.append(os.path.join(directory, f"part-{len(written):05d}.parquet"))
                writer = pq.ParquetWriter(written[-1], concept_parquet.arrow_schema())
            writer.write_table(table)
            in_shard += len(batch)
            if in_shard >= shard_documents:
                writer.close()
                writer, in_shard = None, 0
    finally:
        if writer is not None:
            writer.close()
    return written


# ---------------------------------------------------------------- output
def _check_output(out: str, overwrite: bool) -> None:
    if os.path.isfile(out):
        raise ValueError(f"`out` must be a directory, not a file. Received: out={out!r}.")
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise ValueError(f"`out` exists and is not empty; pass overwrite=True (`--overwrite`) to replace it. "
                         f"Received: out={out!r}.")


def _publish(stage: str, out: str) -> None:
    """Move the finished `stage` directory to `out` (replacing an old `out`) by renames."""
    if os.path.isdir(out) and not os.listdir(out):
        os.rmdir(out)
    old = None
    if os.path.exists(out):
        old = f"{stage}.old"
        os.rename(out, old)
    os.rename(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def encode_corpus(input: Union[str, os.PathLike], out: Union[str, os.PathLike], engine: str = "local",
                  master: str = "local[2]", format: Optional[str] = None, field: str = "text",
                  text_mode: str = "file", splitter: str = "rule_based", encoder: Optional[str] = None,
                  sequence_length: int = 128, batch_size: int = 64, batch_documents: int = 256,
                  shard_documents: int = 8192, partitions: Optional[int] = None, overwrite: bool = False,
                  spark_session: Any = None) -> Dict[str, Any]:
    """Split and encode a corpus into a directory of Parquet shards, in-process or with Spark.

    Args:
        input: str. Text, JSONL or Parquet documents (a file, a directory
            with `format`, or a glob); read with `read_documents`.
        out: str. The output directory (must not exist, or be empty, unless
            `overwrite`).
        engine: str. `"local"` (in this process) or `"spark"` (PySpark).
            Defaults to `"local"`.
        master: str. Spark master URL, e.g. `"local[2]"` or
            `"spark://host:7077"` (`"spark"` engine only). Defaults to `"local[2]"`.
        format: str or None. `"text"`, `"jsonl"` or `"parquet"`; `None`
            infers it from the extension.
        field: str. JSONL field / Parquet column of the documents. Defaults to `"text"`.
        text_mode: str. Text files: `"file"`, `"line"` or `"blank_line"`. Defaults to `"file"`.
        splitter: str. A registered sentence splitter. Defaults to `"rule_based"`.
        encoder: str or None. A checkpoint or keras-hub preset directory for
            the `SentenceEncoder`; `None` is all-MiniLM-L6-v2.
        sequence_length: int. Encoder tokens per sentence. Defaults to `128`.
        batch_size: int. Sentences per encoder forward pass. Defaults to `64`.
        batch_documents: int. Documents per encoding batch (and per Arrow
            batch a Spark worker receives): the memory bound. Defaults to `256`.
        shard_documents: int. Documents per shard (`"local"`). Defaults to `8192`.
        partitions: int or None. Spark partitions (= shards); `None` is the
            session's default parallelism. Defaults to `None`.
        overwrite: bool. Replace a non-empty `out`. Defaults to `False`.
        spark_session: a `pyspark.sql.SparkSession` or None. Use (and leave
            running) this session instead of starting one for `master`.

    Returns:
        The `_concepts.json` content (counts, encoder, engine, seconds).

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.2
          (documents are split into sentences and embedded with a frozen encoder).
    """
    engine = check_choice("engine", engine, ENGINES)
    splitter = check_choice("splitter", splitter, list_splitters())
    batch_documents = check_positive_int("batch_documents", batch_documents)
    shard_documents = check_positive_int("shard_documents", shard_documents)
    partitions = check_positive_int("partitions", partitions, allow_none=True)
    check_bool("overwrite", overwrite)
    spec = encoder_spec(encoder, sequence_length, batch_size)
    out = os.path.abspath(os.fspath(out))
    _check_output(out, overwrite)
    if engine == "spark" and spark_session is None:
        from dlzoo.concepts.spark_engine import find_java  # lazy: the Spark engine only when asked for

        find_java()  # before anything slow: a missing Java is the commonest Spark failure
    start = time.perf_counter()
    documents = read_documents(input, format=format, field=field, text_mode=text_mode)
    sentence_encoder = build_encoder(spec)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    stage = os.path.join(parent, f".{os.path.basename(out)}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(stage)
        if engine == "local":
            encode_locally(documents, stage, sentence_encoder, get_splitter(splitter), batch_documents, shard_documents)
        else:
            from dlzoo.concepts import spark_engine  # lazy: pyspark only for the Spark engine

            master = spark_engine.encode_with_spark(documents, stage, spec, splitter, master=master,
                                                    batch_documents=batch_documents, partitions=partitions,
                                                    spark_session=spark_session)
        metadata = _metadata(stage, input, engine, master, splitter, spec, sentence_encoder, len(documents),
                             time.perf_counter() - start)
        concept_parquet.write_concept_metadata(stage, metadata)
        _publish(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return concept_parquet.read_concept_metadata(out)


def _metadata(stage, input, engine, master, splitter, spec, encoder, input_documents, seconds) -> Dict[str, Any]:
    import pyarrow.parquet as pq  # lazy: optional dependency (pyarrow)

    from dlzoo.concepts.sequences import END_OF_TEXT, encode_affix

    shards = concept_parquet.shard_files(stage)
    sentences = sum(pq.ParquetFile(path).metadata.num_rows for path in shards)
    end_of_text = encode_affix(END_OF_TEXT, encoder, splitter=splitter)
    return {
        "input": os.path.abspath(os.fspath(input)),
        "input_documents": input_documents,
        "sentences": int(sentences),
        "shards": len(shards),
        "engine": engine,
        "master": master if engine == "spark" else None,
        "splitter": splitter,
        "encoder": {**spec, "identity": encoder.identity},
        "embedding_dim": int(encoder.embedding_dim),
        "end_of_text": json.loads(json.dumps(end_of_text.astype("float64").ravel().tolist())),
        "seconds": round(seconds, 3),
    }

