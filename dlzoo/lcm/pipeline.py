"""`LCMPipeline`: text -> sentences -> concepts -> LCM -> concepts -> text.

The end-to-end inference path of a Large Concept Model, as in the reference
(lcm.md 0, 3.3, 4.6), with this project's offline substitutes: a rule-based
splitter instead of SaT, MiniLM (384-d) instead of the SONAR encoder, and a
nearest-neighbour `RetrievalDecoder` over a sentence bank instead of the SONAR
decoder:

    text --splitter--> sentences --encoder--> raw concepts --normalizer.normalize-->
    model (generate) --normalizer.denormalize--> raw predictions --decoder--> sentences
"""

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

import dlzoo
from dlzoo.concepts import EmbeddingNormalizer, RetrievalDecoder, SentenceEncoder, split_sentences
from dlzoo.lcm.generation import GenerationResult, generate

DECODE_SPACES = ("raw", "normalized")


class LCMPipeline:
    """Continue a text with a trained LCM, concept by concept.

    Args:
        model: a built or loaded LCM (`lcm-base*` or `lcm-two-tower*`).
        encoder: a `dlzoo.concepts.SentenceEncoder` (anything with
            `encode(list_of_str) -> (n, dim)`), the one the model was trained on.
        normalizer: a fitted `dlzoo.concepts.EmbeddingNormalizer` or None.
        decoder: a `dlzoo.concepts.ConceptDecoder` (e.g. `RetrievalDecoder`).
        splitter: str or splitter object (see `dlzoo.concepts.split_sentences`).
            Defaults to `"rule_based"`.
        end_of_text: str or None. The end-of-text sentence whose raw embedding
            stops generation. Defaults to `"End of text."`.
        eot_embedding: `(dim,)` array or None. Its embedding, if already
            computed (else it is encoded once). Defaults to `None`.
        decode_space: str. `"raw"` (the decoder's bank holds raw encoder
            embeddings; generated concepts are de-normalized first) or
            `"normalized"` (the bank is in the normalizer's space, where
            per-dimension standardization removes the direction shared by all
            sentences; the quickstart decodes this way). Defaults to `"raw"`.

    Example:

    >>> pipe = LCMPipeline(model, encoder, normalizer, decoder)        # doctest: +SKIP
    >>> pipe("The json module encodes Python objects.", max_new_concepts=3)  # doctest: +SKIP
    ['...', '...', '...']

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), figure 1 and section 2.
    """

    def __init__(self, model, encoder, normalizer=None, decoder=None, splitter: Any = "rule_based",
                 end_of_text: Optional[str] = "End of text.", eot_embedding=None, decode_space: str = "raw"):
        if decode_space not in DECODE_SPACES:
            raise ValueError(f"`decode_space` must be one of {DECODE_SPACES}. Received: decode_space={decode_space!r}.")
        if decode_space == "normalized" and normalizer is None:
            raise ValueError("`decode_space='normalized'` needs a `normalizer`. Received: normalizer=None.")
        self.decode_space = decode_space
        self.model = model
        self.encoder = encoder
        self.normalizer = normalizer
        self.decoder = decoder
        self.splitter = splitter
        self.end_of_text = end_of_text
        if eot_embedding is None and end_of_text:
            eot_embedding = np.asarray(encoder.encode([end_of_text], progress=False), "float32")[0]
        self.eot_embedding = None if eot_embedding is None else np.asarray(eot_embedding, "float32").reshape(-1)

    def split(self, text: str) -> List[str]:
        """Sentences of `text`."""
        return split_sentences(text, splitter=self.splitter)

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """Raw concepts `(n, dim)` of sentences."""
        return np.asarray(self.encoder.encode(list(sentences), progress=False), dtype="float32")

    def continue_concepts(self, concepts, **generate_kwargs) -> GenerationResult:
        """Generate from raw prompt concepts (one `(n, dim)` array or a list)."""
        generate_kwargs.setdefault("eot_embedding", self.eot_embedding)
        return generate(self.model, concepts, normalizer=self.normalizer, **generate_kwargs)

    def decode(self, concepts) -> List[str]:
        """Sentences for concepts in the decoder's space (raw, or normalized with `decode_space="normalized"`)."""
        if self.decoder is None:
            raise ValueError("LCMPipeline needs a `decoder` to turn concepts into text. Received: decoder=None.")
        concepts = np.asarray(concepts, dtype="float32")
        return self.decoder.decode(concepts) if len(concepts) else []

    def __call__(self, text: Union[str, Sequence[str]], **generate_kwargs) -> List[str]:
        """Continue `text` (a string, or a list of its sentences): the generated sentences."""
        sentences = self.split(text) if isinstance(text, str) else list(text)
        if not sentences:
            raise ValueError("The prompt text has no sentence. Received: an empty text.")
        result = self.continue_concepts(self.encode(sentences), **generate_kwargs)
        if self.decode_space == "normalized":
            return self.decode(result.normalized[0])
        return self.decode(result.concepts[0])

    def generate(self, documents: Sequence[Union[str, Sequence[str]]], max_new_concepts: int = 8,
                 **generate_kwargs) -> List[List[str]]:
        """Continue several documents (strings or lists of sentences): one list of sentences each.

        The method `dlzoo.to_app(..., text_pipeline=pipe)` serves as `POST /generate`.
        """
        if isinstance(documents, str):
            raise TypeError("`documents` must be a list of documents. Received: a single str; wrap it in a list.")
        return [self(document, max_new_concepts=max_new_concepts, **generate_kwargs) for document in documents]

    @classmethod
    def from_directory(cls, path: Union[str, "os.PathLike"], encoder=None) -> "LCMPipeline":
        """The pipeline of a trained LCM directory, as the quickstart writes it.

        The directory (or the `model.keras` inside it) holds `model.keras`,
        `normalizer.json` and the sentence bank `bank.json` + `bank.npy`
        (sentences and their raw encoder embeddings). Decoding is by
        retrieval in the normalized space, as in the quickstart. Usable as a
        server factory: `dlzoo serve DIR/model.keras --text-pipeline
        dlzoo.lcm.pipeline:LCMPipeline.from_directory`.

        Args:
            path: str or PathLike. The directory or its `model.keras`.
            encoder: the sentence encoder the model was trained on. Defaults
                to `dlzoo.concepts.SentenceEncoder()` (MiniLM).
        """
        directory = os.fspath(path)
        if os.path.isfile(directory):
            directory = os.path.dirname(os.path.abspath(directory))
        needed = ("model.keras", "normalizer.json", "bank.json", "bank.npy")
        missing = [name for name in needed if not os.path.exists(os.path.join(directory, name))]
        if missing:
            raise FileNotFoundError(
                f"{directory!r} is not a trained LCM directory: missing {', '.join(missing)} "
                f"(it needs {', '.join(needed)}, as `dlzoo quickstart` writes them)."
            )
        model = dlzoo.load(os.path.join(directory, "model.keras"))
        normalizer = EmbeddingNormalizer.load(os.path.join(directory, "normalizer.json"))
        with open(os.path.join(directory, "bank.json"), encoding="utf-8") as f:
            texts = json.load(f)
        embeddings = np.load(os.path.join(directory, "bank.npy"), allow_pickle=False)
        decoder = RetrievalDecoder(texts, normalizer.normalize(embeddings))
        return cls(model, encoder or SentenceEncoder(), normalizer, decoder, decode_space="normalized")

    def describe(self) -> Dict[str, Any]:
        return {
            "model": getattr(self.model, "name", type(self.model).__name__),
            "encoder": repr(self.encoder),
            "normalizer": repr(self.normalizer),
            "decoder": type(self.decoder).__name__ if self.decoder is not None else None,
            "end_of_text": self.end_of_text,
        }
