"""LoRA (Hu et al., 2021) through Keras' own `enable_lora`: chosen projections, the rest frozen.

Keras makes the adapter (`lora_kernel_a`, `lora_kernel_b`) and computes the
adapted kernel `W + (alpha / rank) A B`. dlzoo adds what Keras leaves out,
on the adapted layers only: dropout on the input of the low-rank branch
(the `lora_dropout` of the authors' `loralib`), merging the update into `W`
and taking it out again, saving the adapter with the model (Keras folds it
into the kernel and restarts it at zero on load), and adapter-only files.
It does so by giving each adapted layer a subclass of its own class
(`adapt_layer`), without rewiring the model's graph.
"""

import json
import math
import os

import h5py
import numpy as np

import keras
from keras import ops

from dlzoo.compat.keras_internals import base_kernel, unlocked
from dlzoo.extensions._common import check_patterns, iter_layers, matches
from dlzoo.extensions.base import Extension
from dlzoo.registry import register_extension
from dlzoo.validation import check_float, check_int, check_positive_int, check_rate

PAPER = "arXiv:2106.09685"
_META_KEY = "__dlzoo_lora__"
PROJECTIONS = (keras.layers.Dense, keras.layers.EinsumDense)


class LoRAProjectionMixin:
    """What an adapted `Dense`/`EinsumDense` gains: branch dropout, merge/unmerge, exact save/load.

    Attributes: `lora_dropout` (rate), `lora_merged` (whether `W` holds the
    update; then `B` is kept in `lora_stashed_b` and the live `B` is zero, so
    the layer computes the same function).

    Args:
        lora_dropout: float. Dropout on the branch input. Defaults to `0.0`.
        lora_seed: int. Seed of that dropout. Defaults to `None`.
        *args, **kwargs: the projection's own arguments (`lora_rank`, ...).
    """

    def __init__(self, *args, lora_dropout=0.0, lora_seed=None, **kwargs):
        self.lora_dropout = check_rate("lora_dropout", lora_dropout)
        self.lora_seed = check_int("lora_seed", lora_seed, allow_none=True)
        self.lora_merged, self.lora_stashed_b, self.lora_seed_generator = False, None, None
        super().__init__(*args, **kwargs)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        super().enable_lora(rank, lora_alpha=lora_alpha, a_initializer=a_initializer, b_initializer=b_initializer)
        if self.lora_dropout > 0:
            with unlocked(self):
                self.lora_seed_generator = keras.random.SeedGenerator(self.lora_seed)

    def get_config(self):
        config = super().get_config()
        config.update(lora_dropout=self.lora_dropout, lora_seed=self.lora_seed)
        return config

    @property
    def lora_scale(self):
        return self.lora_alpha / self.lora_rank

    def _lora_delta(self):
        delta = ops.matmul(ops.convert_to_tensor(self.lora_kernel_a), ops.convert_to_tensor(self.lora_kernel_b))
        return delta * self.lora_scale

    def call(self, inputs, training=None):
        outputs = super().call(inputs, training=training)
        if not (training and self.lora_dropout > 0 and not self.lora_merged):
            return outputs
        # x W + s drop(x) A B  =  x (W + s A B) + s (drop(x) - x) A B
        dropped = keras.random.dropout(inputs, self.lora_dropout, seed=self.lora_seed_generator)
        delta = ops.cast(self._lora_delta(), self.compute_dtype)
        difference = ops.cast(dropped - inputs, self.compute_dtype)
        if isinstance(self, keras.layers.EinsumDense):
            return outputs + ops.einsum(self.equation, difference, delta)
        return outputs + ops.matmul(difference, delta)

    def merge(self):
        """Add the update into `W` (no adapter cost at inference); `unmerge()` takes it out."""
        if self.lora_merged:
            return
        kernel = base_kernel(self)
        kernel.assign(ops.add(kernel, ops.cast(self._lora_delta(), kernel.dtype)))
        self.lora_stashed_b = ops.convert_to_numpy(self.lora_kernel_b)
        self.lora_kernel_b.assign(ops.zeros(self.lora_kernel_b.shape))
        self.lora_merged = True

    def unmerge(self):
        if not self.lora_merged:
            return
        self.lora_kernel_b.assign(self.lora_stashed_b)
        kernel = base_kernel(self)
        kernel.assign(ops.subtract(kernel, ops.cast(self._lora_delta(), kernel.dtype)))
        self.lora_stashed_b = None
        self.lora_merged = False

    def save_own_variables(self, store):
        store["0"] = ops.convert_to_numpy(base_kernel(self))
        if self.bias is not None:
            store["1"] = ops.convert_to_numpy(self.bias)
        store["lora_a"] = ops.convert_to_numpy(self.lora_kernel_a)
        store["lora_b"] = ops.convert_to_numpy(self.lora_kernel_b)
        if self.lora_merged:
            store["lora_stashed_b"] = self.lora_stashed_b

    def load_own_variables(self, store):
        keys = set(store.keys())
        base_kernel(self).assign(store["0"])
        if self.bias is not None:
            self.bias.assign(store["1"])
        if "lora_a" in keys:  # else a file without adapter: keep the fresh one (B = 0)
            self.lora_kernel_a.assign(store["lora_a"])
            self.lora_kernel_b.assign(store["lora_b"])
        self.lora_merged = "lora_stashed_b" in keys
        self.lora_stashed_b = np.asarray(store["lora_stashed_b"]) if self.lora_merged else None


_ADAPTED_CLASSES = {}


def adapted_class(cls):
    """The subclass of `cls` with `LoRAProjectionMixin` (one per class, serializable as `dlzoo>LoRA<cls>`)."""
    if cls not in _ADAPTED_CLASSES:
        adapted = type(f"LoRA{cls.__name__}", (LoRAProjectionMixin, cls), {"__module__": __name__})
        _ADAPTED_CLASSES[cls] = keras.saving.register_keras_serializable(package="dlzoo")(adapted)
    return _ADAPTED_CLASSES[cls]


LoRADense = adapted_class(keras.layers.Dense)
LoRAEinsumDense = adapted_class(keras.layers.EinsumDense)


def adapt_layer(layer, path, rank, alpha=None, dropout=0.0, seed=None):
    """Enable Keras LoRA on a built projection and give it the dlzoo additions (no graph change).

    The layer becomes an instance of `adapted_class(type(layer))` in place.
    The adapter's weights are created under the layer's full path (its
    ancestors' name scopes), so `A`'s path is `f"{path}/lora_kernel_a"`.
    `A` starts Gaussian with standard deviation `1/sqrt(fan_in)` and `B` at
    zero (the paper's section 4.1), so the layer's output is unchanged.
    """
    fan_in = int(layer.kernel.shape[0])
    a_initializer = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(fan_in), seed=seed)
    layer.__class__ = adapted_class(type(layer))
    layer.lora_dropout = check_rate("dropout", dropout)
    layer.lora_seed = seed
    layer.lora_merged, layer.lora_stashed_b, layer.lora_seed_generator = False, None, None
    with _scopes(path.split("/")[:-1]):
        layer.enable_lora(rank, lora_alpha=alpha, a_initializer=a_initializer, b_initializer="zeros")
    return layer


class _scopes:
    """Nested `keras.name_scope`s, outermost first."""

    def __init__(self, names):
        self.scopes = [keras.name_scope(n) for n in names]

    def __enter__(self):
        for scope in self.scopes:
            scope.__enter__()

    def __exit__(self, *exc):
        for scope in reversed(self.scopes):
            scope.__exit__(*exc)


# ------------------------------------------------------------- model helpers
def lora_layers(model):
    """`{layer path: adapted layer}` of every LoRA projection in `model`."""
    return {path: layer for path, layer, _ in iter_layers(model) if isinstance(layer, LoRAProjectionMixin)}


def merge_lora(model):
    """Merge every LoRA update of `model` into its kernel. Returns the paths."""
    found = lora_layers(model)
    for layer in found.values():
        layer.merge()
    return sorted(found)


def unmerge_lora(model):
    """Undo `merge_lora`. Returns the paths."""
    found = lora_layers(model)
    for layer in found.values():
        layer.unmerge()
    return sorted(found)


def _adapter_format(path):
    path = os.fspath(path)
    if path.endswith(".npz"):
        return path, "npz"
    if path.endswith(".h5"):
        return path, "h5"
    raise ValueError("The LoRA adapter file must end in '.weights.h5' (or '.h5') or '.npz'. " f"Received: path={path!r}.")


def save_lora_weights(model, path):
    """Write only the LoRA weights of `model` (`A` and `B` of each adapted projection, unmerged).

    Args:
        model: a model with LoRA layers (`dlzoo.build(..., extensions=["lora"])`).
        path: str. `*.weights.h5` (HDF5) or `*.npz` (NumPy). No pickle.

    Returns:
        The list of adapted layer paths saved.
    """
    path, fmt = _adapter_format(path)
    found = lora_layers(model)
    if not found:
        raise ValueError(f"The model {model.name!r} has no LoRA layers to save. Apply the 'lora' extension first.")
    arrays, meta = {}, {}
    for layer_path, layer in sorted(found.items()):
        arrays[f"{layer_path}/lora_a"] = ops.convert_to_numpy(layer.lora_kernel_a)
        b = layer.lora_stashed_b if layer.lora_merged else layer.lora_kernel_b
        arrays[f"{layer_path}/lora_b"] = np.asarray(ops.convert_to_numpy(b))
        meta[layer_path] = {"rank": layer.lora_rank, "alpha": layer.lora_alpha}
    text = json.dumps({"format": "dlzoo-lora", "version": 2, "layers": meta})
    if fmt == "npz":
        arrays[_META_KEY] = np.frombuffer(text.encode("utf-8"), dtype="uint8")
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    else:
        with h5py.File(path, "w") as f:
            f.attrs[_META_KEY] = text
            for key, value in arrays.items():
                f.create_dataset(key, data=value)
    return sorted(found)


def _read_adapter(path, fmt):
    if not os.path.exists(path):
        raise FileNotFoundError(f"No LoRA adapter file at {path!r}.")
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = arrays.pop(_META_KEY, None)
        return arrays, None if meta is None else json.loads(bytes(meta).decode("utf-8"))
    arrays = {}
    with h5py.File(path, "r") as f:
        meta = json.loads(f.attrs[_META_KEY]) if _META_KEY in f.attrs else None
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays, meta


def load_lora_weights(model, path):
    """Load LoRA weights written by `save_lora_weights` into `model`'s adapted layers.

    The model must have LoRA layers at the same paths, with the same rank
    and alpha; otherwise a `ValueError` lists what differs and nothing is
    changed. A merged layer is unmerged, updated and merged again.

    Returns:
        The list of layer paths loaded.
    """
    path, fmt = _adapter_format(path)
    arrays, meta = _read_adapter(path, fmt)
    found = lora_layers(model)
    expected = {f"{p}/{w}" for p in found for w in ("lora_a", "lora_b")}
    missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
    if missing or extra:
        raise ValueError(
            f"The LoRA adapter in {path!r} does not fit the model {model.name!r}: "
            f"missing from the file: {missing or 'none'}; not in the model: {extra or 'none'}."
        )
    for layer_path, layer in found.items():
        saved = (meta or {}).get("layers", {}).get(layer_path)
        if saved is not None and (saved["rank"], saved["alpha"]) != (layer.lora_rank, layer.lora_alpha):
            raise ValueError(
                f"The LoRA adapter in {path!r} was saved with rank={saved['rank']}, alpha={saved['alpha']} for "
                f"{layer_path!r}; the model has rank={layer.lora_rank}, alpha={layer.lora_alpha}."
            )
        for name, variable in (("lora_a", layer.lora_kernel_a), ("lora_b", layer.lora_kernel_b)):
            value = arrays[f"{layer_path}/{name}"]
            if tuple(variable.shape) != tuple(value.shape):
                raise ValueError(
                    f"Shape mismatch for {layer_path}/{name}: the model has {tuple(variable.shape)}, "
                    f"the file {path!r} has {tuple(value.shape)}."
                )
    for layer_path, layer in found.items():
        was_merged = layer.lora_merged
        layer.unmerge()
        layer.lora_kernel_a.assign(arrays[f"{layer_path}/lora_a"])
        layer.lora_kernel_b.assign(arrays[f"{layer_path}/lora_b"])
        if was_merged:
            layer.merge()
    return sorted(found)


# ----------------------------------------------------------------- extension
@register_extension("lora", paper=PAPER)
class LoRAExtension(Extension):
    """Adapt chosen projections of a model with LoRA and freeze the rest.

    Every `Dense`/`EinsumDense` projection without activation, nested inside
    a top-level block, whose path
    (`"decoder/transformer_layer_0/self_attention/query"`) or a tail of it
    (`"query"`, `"transformer_layer_0/*"`) matches one of `targets` gets a
    Keras LoRA adapter (`enable_lora`). Then every weight except the
    adapters (and those matching `keep_trainable`) is frozen, so training
    updates only the adapters. Saving a model built with this extension and
    loading it back (`dlzoo.load`) re-applies it from the config, with the
    trained adapters and the merged state.

    Args:
        rank: int. Rank of each update. Defaults to `8`.
        alpha: float. The update is scaled by `alpha / rank`. Defaults to
            `None` (= `rank`).
        dropout: float. Dropout on the input of the low-rank branch during
            training. Defaults to `0.0`.
        targets: str or list of str. Patterns of the projections to adapt.
            Defaults to `["query", "value"]` (the paper's choice). In the
            Transformer families the attention projections are `query`,
            `key`, `value`, `attention_output`, the feed-forward ones
            `inner_proj`, `gate_proj`, `output_proj`.
        keep_trainable: str or list of str. Patterns of weight paths to leave
            trainable (e.g. a head: `"classifier/*"`). Defaults to `[]`.
        seed: int. Seed of the adapters' initializers and dropout (layer `i`
            uses `seed + i`). Defaults to `None`.

    Notes:
        Keras factors an `EinsumDense` kernel by its last axis: for a query
        projection with kernel `(hidden, heads, head_dim)`, `A` is
        `(hidden, heads, rank)` and `B` is `(rank, head_dim)`, the update of
        each head has rank `rank` (Keras and keras-hub LoRA). The paper
        factors the whole `(hidden, heads * head_dim)` matrix, with fewer
        parameters; the output projection and the feed-forward `Dense`
        layers are factored exactly as in the paper.

    Reference:
        - [Hu et al., 2021. LoRA: Low-Rank Adaptation of Large Language Models](https://arxiv.org/abs/2106.09685)
    """

    def __init__(self, rank=8, alpha=None, dropout=0.0, targets=("query", "value"), keep_trainable=(), seed=None):
        self.rank = check_positive_int("rank", rank)
        self.alpha = check_float("alpha", alpha, min_value=0.0, min_inclusive=False, allow_none=True)
        self.dropout = check_rate("dropout", dropout)
        self.targets = check_patterns("targets", targets)
        self.keep_trainable = check_patterns("keep_trainable", keep_trainable, allow_empty=True)
        self.seed = check_int("seed", seed, allow_none=True)

    def _candidates(self, model):
        found = []
        for path, layer, parent in iter_layers(model):
            if parent is None or not isinstance(layer, PROJECTIONS) or isinstance(layer, LoRAProjectionMixin):
                continue
            if getattr(layer.activation, "__name__", "") != "linear" or layer.quantization_mode is not None:
                continue
            found.append((path, layer))
        return found

    def apply_model(self, model):
        candidates = self._candidates(model)
        chosen = [(path, layer) for path, layer in candidates if matches(path, self.targets)]
        if not chosen:
            names = sorted({path.rsplit("/", 1)[-1] for path, _ in candidates})
            raise ValueError(
                f"Extension 'lora': no projection of model {model.name!r} matches targets={self.targets!r}. "
                f"Projections that can be adapted: {', '.join(names) or 'none'}."
            )
        for i, (path, layer) in enumerate(chosen):
            adapt_layer(layer, path, self.rank, self.alpha, self.dropout, None if self.seed is None else self.seed + i)
        adapters = {id(w) for layer in lora_layers(model).values() for w in (layer.lora_kernel_a, layer.lora_kernel_b)}
        for weight in model.weights:
            if id(weight) in adapters:
                weight.trainable = True
            elif not (self.keep_trainable and matches(weight.path, self.keep_trainable)):
                weight.trainable = False
        return model


__all__ = [
    "LoRADense",
    "LoRAEinsumDense",
    "LoRAExtension",
    "LoRAProjectionMixin",
    "adapt_layer",
    "load_lora_weights",
    "lora_layers",
    "merge_lora",
    "save_lora_weights",
    "unmerge_lora",
]
