"""The concept pipeline of the Large Concept Model: text -> concepts -> text.

    raw documents --split_sentences--> sentences --SentenceEncoder--> (n_i, dim) embeddings
      --EmbeddingNormalizer.fit/normalize--> normalized concepts
      --add_affixes / wrap_sequences / ConceptSequenceDataset--> model.fit batches
    model outputs --EmbeddingNormalizer.denormalize--> RetrievalDecoder.decode --> sentences

Modules: `splitter` (rule-based sentence splitting, pluggable by name),
`sentence_encoder` (a checkpoint loaded into dlzoo's `bert`, or a keras-hub backbone, +
mean pooling; the model zoo and keras-hub are imported only when an encoder is
built), `tokenizer_file` (a `tokenizer.json` read with `tokenizers`), `normalizer` (robust per-dimension centre/scale, NumPy),
`decoder` (decoder interface, nearest-neighbour retrieval), `loaders` (text,
JSONL and Parquet files), `corpus` (documents, the standard-library docstring
corpus), `cache` (on-disk embedding cache, `encode_documents`), `sequences`
(affixes, wrapping, padding) and `dataset` (`ConceptSequenceDataset`).

Reference: [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821).
"""

from dlzoo.concepts.cache import EmbeddingCache, encode_documents, encode_sentences, sentence_key
from dlzoo.concepts.concept_parquet import iter_concept_documents
from dlzoo.concepts.corpus import (
    STDLIB_MODULES,
    Document,
    clean_docstring,
    corpus_stats,
    split_documents,
    stdlib_docstrings_corpus,
)
from dlzoo.concepts.corpus_encoding import encode_corpus
from dlzoo.concepts.dataset import ConceptSequenceDataset
from dlzoo.concepts.decoder import ConceptDecoder, RetrievalDecoder, cosine_similarity
from dlzoo.concepts.loaders import (
    load_documents,
    load_jsonl_documents,
    load_parquet_documents,
    load_parquet_embeddings,
    load_text_documents,
)
from dlzoo.concepts.normalizer import EmbeddingNormalizer
from dlzoo.concepts.sentence_encoder import SentenceEncoder, default_model_dir
from dlzoo.concepts.sequences import (
    END_OF_TEXT,
    add_affixes,
    encode_affix,
    pad_concept_sequences,
    wrap_sequences,
)
from dlzoo.concepts.splitter import (
    FALLBACK_SEPARATORS,
    LineSplitter,
    RuleBasedSplitter,
    get_splitter,
    list_splitters,
    resplit_long,
    split_sentences,
)

__all__ = [
    "END_OF_TEXT",
    "FALLBACK_SEPARATORS",
    "STDLIB_MODULES",
    "ConceptDecoder",
    "ConceptSequenceDataset",
    "Document",
    "EmbeddingCache",
    "EmbeddingNormalizer",
    "LineSplitter",
    "RetrievalDecoder",
    "RuleBasedSplitter",
    "SentenceEncoder",
    "add_affixes",
    "clean_docstring",
    "corpus_stats",
    "cosine_similarity",
    "default_model_dir",
    "encode_affix",
    "encode_corpus",
    "encode_documents",
    "encode_sentences",
    "get_splitter",
    "iter_concept_documents",
    "list_splitters",
    "load_documents",
    "load_jsonl_documents",
    "load_parquet_documents",
    "load_parquet_embeddings",
    "load_text_documents",
    "pad_concept_sequences",
    "resplit_long",
    "sentence_key",
    "split_documents",
    "split_sentences",
    "stdlib_docstrings_corpus",
    "wrap_sequences",
]
