"""`TokenizerFile`: a Hugging Face `tokenizer.json`, read with the `tokenizers` library, for `SentenceEncoder`.

It gives the ids sentence-transformers gives (the same file, the same Rust
tokenizer), without keras-hub or TensorFlow. The interface is the part of a
keras-hub tokenizer that `SentenceEncoder` uses: called on a list of
sentences it returns their ids without special tokens; `start_token_id`,
`end_token_id` and `pad_token_id` come from the file's post-processor and
padding (BERT: `[CLS]`, `[SEP]`, `[PAD]`).
"""

import importlib.util
import json
import os
from typing import Any, Dict, List, Optional, Sequence

TOKENIZER_FILE = "tokenizer.json"


def has_tokenizer_file(directory) -> bool:
    """Whether `directory` holds a `tokenizer.json` and the `tokenizers` package is installed."""
    return (os.path.isfile(os.path.join(os.fspath(directory), TOKENIZER_FILE))
            and importlib.util.find_spec("tokenizers") is not None)


class TokenizerFile:
    """A `tokenizer.json` tokenizer (WordPiece for BERT models) with keras-hub's tokenizer interface.

    Args:
        directory: path. A directory with `tokenizer.json` (a Hugging Face
            model directory).

    Call arguments:
        sentences: list of str.

    Returns:
        list of lists of int: the ids of each sentence, without special
        tokens and without truncation.

    Example:

    >>> tokenizer = TokenizerFile(default_model_dir())          # doctest: +SKIP
    >>> tokenizer(["Hello world!"]), tokenizer.start_token_id   # doctest: +SKIP
    ([[7592, 2088, 999]], 101)
    """

    def __init__(self, directory):
        import tokenizers  # lazy: optional dependency (tokenizers)

        self.directory = os.fspath(directory)
        path = os.path.join(self.directory, TOKENIZER_FILE)
        with open(path, "r", encoding="utf-8") as f:
            self._spec = json.load(f)
        self._tokenizer = tokenizers.Tokenizer.from_file(path)
        self._tokenizer.no_truncation()  # SentenceEncoder truncates, after counting the special tokens
        self._tokenizer.no_padding()
        # The post-processor's template for one sentence: special tokens around the sequence ([CLS] A [SEP]).
        template = (self._spec.get("post_processor") or {}).get("single") or []
        sequence_at = next((i for i, piece in enumerate(template) if "Sequence" in piece), len(template))
        specials = [(i, piece["SpecialToken"]["id"]) for i, piece in enumerate(template) if "SpecialToken" in piece]
        starts = [token for i, token in specials if i < sequence_at]
        ends = [token for i, token in specials if i > sequence_at]
        self.start_token_id = self._id_of(starts[0]) if starts else None
        self.end_token_id = self._id_of(ends[-1]) if ends else None
        padding = self._spec.get("padding") or {}
        self.pad_token_id = padding.get("pad_id", self._id_of("[PAD]") or 0)
        normalizer = self._spec.get("normalizer") or {}
        self.lowercase = normalizer.get("lowercase")
        self.strip_accents = normalizer.get("strip_accents")

    def _id_of(self, token: str) -> Optional[int]:
        return self._tokenizer.token_to_id(token)

    def __call__(self, sentences: Sequence[str]) -> List[List[int]]:
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(sentences), add_special_tokens=False)]

    def get_vocabulary(self) -> List[str]:
        vocabulary = self._tokenizer.get_vocab(with_added_tokens=True)
        return [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]

    def get_config(self) -> Dict[str, Any]:
        """Everything but the vocabulary (which `get_vocabulary` gives): normalizer, pre-tokenizer, model type."""
        model = {k: v for k, v in (self._spec.get("model") or {}).items() if k not in ("vocab", "merges")}
        return {"normalizer": self._spec.get("normalizer"), "pre_tokenizer": self._spec.get("pre_tokenizer"),
                "model": model, "start_token_id": self.start_token_id, "end_token_id": self.end_token_id}

    def __repr__(self):
        return f"TokenizerFile({self.directory!r})"


__all__ = ["TokenizerFile", "has_tokenizer_file"]
