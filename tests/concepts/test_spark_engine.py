"""The Spark engine writes the same rows and embeddings as the local engine (torch suite only).

One `local[2]` session for the module. The local engine's output is the
reference (itself checked sentence by sentence in `test_corpus_encoding.py`).
"""

import os
import sys

import keras
import numpy as np
import pyarrow.dataset as ds
import pytest

from dlzoo.concepts import concept_parquet
from dlzoo.concepts import spark_engine
from dlzoo.concepts.corpus_encoding import encode_corpus

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="Spark starts a JVM and Python workers: once, in the torch suite")


@pytest.fixture(scope="module")
def spark():
    session = spark_engine.start_spark_session("local[2]", app_name="dlzoo-tests")
    yield session
    session.stop()


def _rows(directory):
    table = ds.dataset(directory, format="parquet").to_table()
    return table.sort_by([("document_id", "ascending"), ("sentence_index", "ascending")])


def test_spark_and_local_engines_write_the_same_corpus(spark, tiny_encoder_dir, documents_jsonl, tmp_path):
    local = encode_corpus(documents_jsonl, tmp_path / "local", encoder=tiny_encoder_dir)
    # 2 documents per Arrow batch: several batches per worker, one encoder per worker.
    remote = encode_corpus(documents_jsonl, tmp_path / "spark", engine="spark", encoder=tiny_encoder_dir,
                           batch_documents=2, partitions=2, spark_session=spark)
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    a, b = _rows(tmp_path / "local"), _rows(tmp_path / "spark")
    for column in ("document_id", "sentence_index", "text"):
        assert a.column(column).to_pylist() == b.column(column).to_pylist(), column
    embeddings_a = np.array(a.column("embedding").to_pylist(), dtype="float32")
    embeddings_b = np.array(b.column("embedding").to_pylist(), dtype="float32")
    np.testing.assert_allclose(embeddings_b, embeddings_a, atol=1e-6, rtol=0)
    assert remote["engine"] == "spark" and remote["master"] == "local[2]" and remote["shards"] == 2
    for key in ("input_documents", "sentences", "embedding_dim", "end_of_text", "encoder", "splitter"):
        assert remote[key] == local[key], key
    # Each shard holds whole documents, so the loader streams the Spark corpus as it does the local one.
    streamed = [d.document_id for d in concept_parquet.iter_concept_documents(tmp_path / "spark", batch_rows=3)]
    assert streamed == sorted(set(a.column("document_id").to_pylist()))
    names = sorted(os.listdir(tmp_path / "spark"))
    assert names[0] == "_concepts.json" and all(n.startswith("part-") and n.endswith(".parquet") for n in names[1:])
    # The Python workers kept the encoder they built (module-level cache): a later Arrow job sees it.

    def encoders_held(batches):
        import pyarrow as pa

        for _ in batches:
            yield pa.RecordBatch.from_pydict({"encoders": [len(spark_engine._ENCODERS)]})

    held = spark.range(2).repartition(2).mapInArrow(encoders_held, "encoders long").collect()
    assert max(row.encoders for row in held) == 1
