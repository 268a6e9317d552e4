"""The concept-corpus layout reader: streaming across record batches and shards, layout errors,
and one training step of the LCM quickstart composition from a Parquet corpus (jax suite)."""

import os

import keras
import numpy as np
import pyarrow.parquet as pq
import pytest

from dlzoo.concepts import concept_parquet as P

DIM = 384  # the quickstart models' concept size (all-MiniLM-L6-v2)


def _write_corpus(directory, documents, shard_sizes, dim=DIM):
    """`documents`: list of (document_id, (n, dim) array); shards of `shard_sizes` documents each."""
    os.makedirs(directory, exist_ok=True)
    start = 0
    for shard, size in enumerate(shard_sizes):
        part = documents[start:start + size]
        start += size
        table = P.as_arrow_table([i for i, _ in part], [[f"s{i}.{k}" for k in range(len(e))] for i, e in part],
                                 np.concatenate([e for _, e in part]) if part else np.zeros((0, dim), "float32"))
        pq.write_table(table, os.path.join(directory, f"part-{shard:05d}.parquet"), row_group_size=3)
    rng = np.random.default_rng(1)
    P.write_concept_metadata(directory, {"embedding_dim": dim, "encoder": {"identity": "0" * 64},
                                         "end_of_text": rng.normal(size=dim).tolist()})
    return str(directory)


def _random_documents(count, dim=DIM, seed=0):
    rng = np.random.default_rng(seed)
    return [(i, rng.normal(size=(int(rng.integers(1, 9)), dim)).astype("float32")) for i in range(count)]


def test_streaming_gives_every_document_whole_and_in_order(tmp_path):
    documents = _random_documents(9, dim=4)
    corpus = _write_corpus(tmp_path / "c", documents, [4, 0, 5], dim=4)
    for batch_rows in (1, 2, 7, 4096):  # documents split across batches and row groups, or not at all
        got = list(P.iter_concept_documents(corpus, batch_rows=batch_rows, with_sentences=True))
        assert [d.document_id for d in got] == list(range(9))
        for (doc_id, embeddings), document in zip(documents, got):
            np.testing.assert_array_equal(document.embeddings, embeddings)
            assert document.sentences == [f"s{doc_id}.{k}" for k in range(len(embeddings))]
    kept = list(P.concept_documents(corpus, min_sentences=4, max_documents=3))
    assert [d.document_id for d in kept] == [i for i, e in documents if len(e) >= 4][:3]


def test_layout_errors(tmp_path):
    documents = _random_documents(3, dim=4)
    split = _write_corpus(tmp_path / "split", [documents[0], documents[1], documents[0]], [1, 2], dim=4)
    with pytest.raises(ValueError, match="rows of document 0 are not contiguous"):
        list(P.iter_concept_documents(split))
    wrong_dim = _write_corpus(tmp_path / "dim", documents, [3], dim=4)
    P.write_concept_metadata(wrong_dim, {"embedding_dim": 5, "encoder": {"identity": "0"}, "end_of_text": [0] * 5})
    with pytest.raises(ValueError, match="must have 5 values"):
        list(P.iter_concept_documents(wrong_dim))
    with pytest.raises(ValueError, match=r"`corpus` must be a directory written by `dlzoo concepts encode`.*corpus='"):
        P.read_concept_metadata(tmp_path)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the data path is NumPy: one backend trains from it")
def test_lcm_quickstart_composition_trains_one_step_from_a_parquet_corpus(tmp_path):
    import dlzoo
    from dlzoo.experiments import runner
    from dlzoo.experiments.schema import load_experiment
    from dlzoo.lcm.generation import loss_for

    corpus = _write_corpus(tmp_path / "corpus", _random_documents(20), [12, 8])
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "guides", "examples", "lcm_quickstart.yaml")
    # The composition file with two overrides passes every check of `dlzoo run` (options, data files)...
    experiment = load_experiment(examples, overrides=["data.dataset.name=concept_parquet",
                                                      f"data.dataset.corpus={corpus}"])
    config = experiment.runs[0].config
    assert config["data"]["dataset"] == {"name": "concept_parquet", "corpus": corpus, "max_documents": 300,
                                         "max_length": 32}
    # ...and the runner's own data path (dataset, document-grouped split, fitted normalizer) feeds one step.
    prepared = runner.prepare_data(config)
    train, _, states = runner.apply_transforms(config, prepared.data.take(prepared.splits["train"]), {})
    assert [s["name"] for s in states] == ["concept_normalizer"]
    assert train.x["embeddings"].shape[1:] == (32, DIM) and prepared.data.info["documents"] == 20
    model = dlzoo.build(config["model"]["name"], **config["model"].get("params", {}))
    model.compile(optimizer="adam", loss=loss_for(model))
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    loss = model.train_on_batch(train.x, train.y, sample_weight=train.sample_weight)
    assert np.isfinite(loss)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
