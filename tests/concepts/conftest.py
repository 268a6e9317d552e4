"""Fixtures of the concept-pipeline tests."""

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory):
    """A tiny BERT sentence-encoder checkpoint (random weights, 16-d) with all-MiniLM-L6-v2's tokenizer files.

    Written once per test process with `ZooModel.save_pretrained`, in Hugging Face layout, so
    `SentenceEncoder(preset=dir)` (and a Spark worker given the path) loads it as it loads MiniLM.
    """
    import dlzoo
    from dlzoo.concepts import default_model_dir

    directory = tmp_path_factory.mktemp("tiny_encoder")
    model = dlzoo.build("bert-tiny", hidden_dim=16, num_layers=1, attention={"num_heads": 2},
                        feedforward={"intermediate_dim": 32}, use_pooler=False)
    model.save_pretrained(directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(os.path.join(default_model_dir(), name), directory)
    return str(directory)


DOCUMENTS = [
    {"text": "The first document has two sentences. Here is the second one."},
    {"text": ["A pre-split document.", "  ", "With a second sentence."]},
    {"text": ""},
    {"text": "Dr. Smith arrived at 3.15 p.m. today. Why? Nobody knows!\n- first item\n- second item"},
    {"text": "One more. And another one. And a third sentence here, which is longer than the others."},
    {"text": "Short."},
    {"text": "Spark and the local engine must agree. Row by row. Embedding by embedding."},
]


@pytest.fixture()
def documents_jsonl(tmp_path):
    """A small JSONL corpus: raw texts, a pre-split document, an empty one."""
    import json

    path = tmp_path / "documents.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS))
    return str(path)
