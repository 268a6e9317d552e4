"""LoRA: trainable low-rank updates on frozen projections (Hu et al., 2021).

Two things live here: the `LoRA` block, a layer that wraps one `Dense` or
`EinsumDense` projection, and the `lora` extension, which wraps the chosen
projections of a built model, freezes everything else, and can be saved and
loaded on its own (`save_lora_weights` / `load_lora_weights`).
"""

import json
import math
import os
import string

import numpy as np

import keras
from keras import ops

from dlzoo.extensions import Extension
from dlzoo.extensions._common import check_patterns, iter_layers, matches, replace_layer
from dlzoo.registry import register_block, register_extension
from dlzoo.validation import check_bool, check_float, check_int, check_positive_int, check_rate

PAPER = "arXiv:2106.09685"
_META_KEY = "__dlzoo_lora__"


def _equation_of(layer):
    """`(inputs, kernel, outputs, contracted, produced)` axis letters of a projection.

    `contracted`: kernel axes summed with the input; `produced`: kernel axes
    passed to the output (both in kernel order). Raises `ValueError` for a
    kernel axis that is both (a per-position weight, which has no matrix form).
    """
    # Dense: (..., in) x (in, out) -> (..., out).
    equation = layer.equation if isinstance(layer, keras.layers.EinsumDense) else "...a,ab->...b"
    inputs, rest = equation.split(",")
    kernel, outputs = rest.split("->")
    contracted = "".join(c for c in kernel if c in inputs and c not in outputs)
    produced = "".join(c for c in kernel if c not in inputs and c in outputs)
    if len(contracted) + len(produced) != len(kernel) or not contracted or not produced:
        raise ValueError(
            "LoRA needs a projection whose kernel axes are either summed with the input or passed to the "
            f"output (no shared axes). Received: layer {layer.name!r} with equation={equation!r}."
        )
    return inputs, kernel, outputs, contracted, produced


def _kernel_layout(layer):
    """How a wrapped projection maps inputs to outputs.

    Returns `(down, up, in_dims, out_dims, perm)`: the einsum equations of
    `x -> x A` and `(x A) -> (x A) B` with `A` reshaped to
    `in_dims + (rank,)` and `B` to `(rank,) + out_dims`, and the permutation
    taking the `in_dims + out_dims` layout of `A @ B` to the kernel's layout.
    """
    inputs, kernel, outputs, contracted, produced = _equation_of(layer)
    kernel_shape = tuple(int(d) for d in layer.kernel.shape)
    rank_letter = next(c for c in string.ascii_letters if c not in inputs + kernel + outputs)
    kept = "".join(c for c in inputs if c not in contracted)
    down = f"{inputs},{contracted}{rank_letter}->{kept}{rank_letter}"
    up = f"{kept}{rank_letter},{rank_letter}{produced}->{outputs}"
    in_dims = tuple(kernel_shape[kernel.index(c)] for c in contracted)
    out_dims = tuple(kernel_shape[kernel.index(c)] for c in produced)
    order = contracted + produced
    perm = tuple(order.index(c) for c in kernel)
    return down, up, in_dims, out_dims, perm


def _einsum_kernel_shape(layer, input_shape):
    """Kernel shape of an unbuilt `EinsumDense` (as its `build` would make it)."""
    inputs, rest = layer.equation.split(",")
    kernel, outputs = rest.split("->")
    output_shape = list(layer.partial_output_shape)
    input_shape = list(input_shape)

    def dims_of(spec, shape, right_aligned):
        spec = spec.replace("...", "")
        shape = shape[len(shape) - len(spec):] if right_aligned else shape
        return dict(zip(spec, shape))

    known = dims_of(inputs, input_shape, "..." in inputs)
    out_spec = outputs.replace("...", "")
    out_letters = out_spec if "..." in outputs else out_spec[1:]
    known.update({c: d for c, d in zip(out_letters[len(out_letters) - len(output_shape):], output_shape) if d})
    return tuple(int(known[c]) for c in kernel), known


@register_block(
    "lora",
    paper=PAPER,
    category="adapter",
    example={
        "init_kwargs": {
            "layer": {"module": "keras.layers", "class_name": "Dense", "config": {"units": 6}, "registered_name": None},
            "rank": 2,
            "alpha": 4.0,
        },
        "inputs": (2, 5, 8),
    },
)
class LoRA(keras.layers.Layer):
    """Low-rank adaptation of a frozen projection: `y = W x + (alpha / rank) B A x`.

    Wraps a `Dense` or `EinsumDense` layer whose kernel `W` stays frozen and
    adds a trainable update of rank `rank`: the input is projected down by
    `A` (`in_features x rank`) and back up by `B` (`rank x out_features`),
    scaled by `alpha / rank`. `B` starts at zero, so the wrapped layer's
    output is unchanged until training moves it; `A` starts random
    (Gaussian, standard deviation `1 / sqrt(in_features)`). For an
    `EinsumDense` the kernel is read as a matrix from the axes summed with
    the input to the axes passed to the output (e.g. attention's
    `"btd,dnh->btnh"` query projection is a `d x (n*h)` matrix).

    `merge()` adds the update into `W` (no extra cost at inference) and
    `unmerge()` takes it out again; both give the same outputs. The merged
    state is saved with the weights.

    Args:
        layer: `keras.layers.Dense` or `keras.layers.EinsumDense` without
            activation, or its serialized config (a dict). The layer is
            frozen (`trainable=False`).
        rank: int. Rank `r` of the update. Defaults to `8`.
        alpha: float. Scale numerator: the update is multiplied by
            `alpha / rank`. Defaults to `None` (= `rank`, scale 1).
        dropout: float. Dropout on the input of the low-rank branch.
            Defaults to `0.0`.
        merged: bool. Whether the wrapped kernel already contains the
            update (set by `merge()`; kept in the config and the weights).
            Defaults to `False`.
        seed: int. Seed of `A`'s initializer and of the dropout. Defaults
            to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).
            `name` and `dtype` default to the wrapped layer's.

    Call arguments:
        inputs: Tensor accepted by the wrapped layer.
        training: bool. Whether dropout is active.

    Returns:
        Tensor shaped like the wrapped layer's output.

    Example:

    >>> layer = dlzoo.extensions.lora.LoRA(keras.layers.Dense(6), rank=2)
    >>> tuple(layer(np.zeros((2, 5, 8))).shape)
    (2, 5, 6)

    Notes:
        Rank-`r` adapters on the query and value projections are the paper's
        default setting (section 7.1). The dropout on the branch input is the
        `lora_dropout` of the authors' `loralib`, not part of the paper's
        formula.

    Reference:
        - [Hu et al., 2021. LoRA: Low-Rank Adaptation of Large Language Models](https://arxiv.org/abs/2106.09685)
    """

    def __init__(self, layer, rank=8, alpha=None, dropout=0.0, merged=False, seed=None, **kwargs):
        if isinstance(layer, dict):
            config = json.loads(json.dumps(layer))
            if kwargs.get("dtype") is not None and isinstance(config.get("config"), dict):
                config["config"]["dtype"] = keras.dtype_policies.serialize(keras.dtype_policies.get(kwargs["dtype"]))
            layer = keras.saving.deserialize_keras_object(config)
        if not isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
            raise TypeError(
                "`layer` must be a keras.layers.Dense or keras.layers.EinsumDense (or its config). "
                f"Received: layer={layer!r} of type {type(layer).__name__}."
            )
        activation = getattr(layer.activation, "__name__", str(layer.activation))
        if activation != "linear":
            raise ValueError(
                "`layer` must have no activation: the low-rank update is added to its linear output. "
                f"Received: layer={layer.name!r} with activation={activation!r}."
            )
        _equation_of(layer)
        if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
            raise ValueError(
                f"`layer` must be a plain float projection (no Keras LoRA, no quantization). Received: layer={layer.name!r}."
            )
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        self.layer = layer
        self.layer.trainable = False
        self.rank = check_positive_int("rank", rank)
        self.alpha = check_float("alpha", alpha, min_value=0.0, min_inclusive=False, allow_none=True)
        self.dropout = check_rate("dropout", dropout)
        self.merged = check_bool("merged", merged)
        self.seed = check_int("seed", seed, allow_none=True)
        self.dropout_layer = None
        if self.dropout > 0:
            self.dropout_layer = keras.layers.Dropout(
                self.dropout, seed=self.seed, dtype=self.dtype_policy, name="lora_dropout"
            )

    @property
    def scale(self):
        """`alpha / rank`."""
        return (self.rank if self.alpha is None else self.alpha) / self.rank

    def build(self, input_shape=None):
        # Shapes: A (in_features, rank), B (rank, out_features); in/out
        # features are the products of the kernel's input and output axes.
        if not self.layer.built:
            self.layer.build(input_shape)
        down, up, in_dims, out_dims, perm = _kernel_layout(self.layer)
        self._down, self._up, self._in_dims, self._out_dims, self._perm = down, up, in_dims, out_dims, perm
        in_features, out_features = math.prod(in_dims), math.prod(out_dims)
        self.lora_a = self.add_weight(
            name="lora_a",
            shape=(in_features, self.rank),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(in_features), seed=self.seed),
        )
        self.lora_b = self.add_weight(name="lora_b", shape=(self.rank, out_features), initializer="zeros")
        if self.dropout_layer is not None and input_shape is not None:
            self.dropout_layer.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        outputs = self.layer(inputs)
        if self.merged:
            return outputs
        x = inputs
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        x = ops.cast(x, self.compute_dtype)
        a = ops.reshape(ops.cast(self.lora_a, self.compute_dtype), self._in_dims + (self.rank,))
        b = ops.reshape(ops.cast(self.lora_b, self.compute_dtype), (self.rank,) + self._out_dims)
        delta = ops.einsum(self._up, ops.einsum(self._down, x, a), b)
        return ops.add(ops.cast(outputs, self.compute_dtype), delta * ops.cast(self.scale, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def count_params_for(self, input_shape):
        input_shape = tuple(input_shape)
        if isinstance(self.layer, keras.layers.EinsumDense):
            kernel_shape, dims = _einsum_kernel_shape(self.layer, input_shape)
            bias = math.prod(dims[c] for c in self.layer.bias_axes) if self.layer.bias_axes else 0
        else:
            kernel_shape = (int(input_shape[-1]), self.layer.units)
            bias = self.layer.units if self.layer.use_bias else 0
        _, kernel, _, contracted, _ = _equation_of(self.layer)
        in_features = math.prod(d for c, d in zip(kernel, kernel_shape) if c in contracted)
        out_features = math.prod(kernel_shape) // in_features
        return math.prod(kernel_shape) + bias + self.rank * (in_features + out_features)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.layer),
                "rank": self.rank,
                "alpha": self.alpha,
                "dropout": self.dropout,
                "merged": self.merged,
                "seed": self.seed,
            }
        )
        return config

    # ------------------------------------------------------------- merging
    def _delta_kernel(self):
        delta = ops.matmul(ops.convert_to_tensor(self.lora_a), ops.convert_to_tensor(self.lora_b))
        delta = ops.reshape(delta, self._in_dims + self._out_dims)
        return ops.transpose(delta, self._perm) * self.scale

    def merge(self):
        """Add the low-rank update into the wrapped kernel; the branch is then skipped."""
        if not self.merged:
            kernel = self.layer.kernel
            kernel.assign(ops.add(kernel, ops.cast(self._delta_kernel(), kernel.dtype)))
            self.merged = True

    def unmerge(self):
        """Take the low-rank update out of the wrapped kernel again."""
        if self.merged:
            kernel = self.layer.kernel
            kernel.assign(ops.subtract(kernel, ops.cast(self._delta_kernel(), kernel.dtype)))
            self.merged = False

    # -------------------------------------------------------------- saving
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["merged"] = np.array(self.merged)

    def load_own_variables(self, store):
        keys = [k for k in store.keys() if k != "merged"]
        own = self._trainable_variables + self._non_trainable_variables
        if len(keys) != len(own):
            raise ValueError(
                f"LoRA layer {self.name!r} expected {len(own)} variables but the file holds {len(keys)}."
            )
        for i, variable in enumerate(own):
            variable.assign(store[f"{i}"])
        if "merged" in store.keys():
            self.merged = bool(np.asarray(store["merged"]))


# ------------------------------------------------------------- model helpers
def lora_layers(model):
    """`{layer path: LoRA layer}` of every LoRA wrapper in `model`."""
    return {path: layer for path, layer, _ in iter_layers(model) if isinstance(layer, LoRA)}


def merge_lora(model):
    """Merge every LoRA update of `model` into its kernel (`LoRA.merge`). Returns the paths."""
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
    raise ValueError(
        "The LoRA adapter file must end in '.weights.h5' (or '.h5') or '.npz'. " f"Received: path={path!r}."
    )


def save_lora_weights(model, path):
    """Write only the LoRA weights of `model` (`A`, `B` per wrapped projection).

    Args:
        model: a model with LoRA layers (`dlzoo.build(..., extensions=["lora"])`).
        path: str. `*.weights.h5` (HDF5) or `*.npz` (NumPy). No pickle.

    Returns:
        The list of wrapped layer paths saved.
    """
    path, fmt = _adapter_format(path)
    found = lora_layers(model)
    if not found:
        raise ValueError(f"The model {model.name!r} has no LoRA layers to save. Apply the 'lora' extension first.")
    arrays, meta = {}, {}
    for layer_path, layer in sorted(found.items()):
        arrays[f"{layer_path}/lora_a"] = ops.convert_to_numpy(layer.lora_a)
        arrays[f"{layer_path}/lora_b"] = ops.convert_to_numpy(layer.lora_b)
        meta[layer_path] = {"rank": layer.rank, "alpha": layer.alpha}
    text = json.dumps({"format": "dlzoo-lora", "version": 1, "layers": meta})
    if fmt == "npz":
        arrays[_META_KEY] = np.frombuffer(text.encode("utf-8"), dtype="uint8")
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    else:
        import h5py

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
        meta = None if meta is None else json.loads(bytes(meta).decode("utf-8"))
        return arrays, meta
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        meta = json.loads(f.attrs[_META_KEY]) if _META_KEY in f.attrs else None
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays, meta


def load_lora_weights(model, path):
    """Load LoRA weights written by `save_lora_weights` into `model`'s LoRA layers.

    The model must have LoRA layers at the same paths, with the same rank and
    alpha; otherwise a `ValueError` lists what differs. A merged layer is
    unmerged, updated and merged again.

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
        if saved is not None and (saved["rank"], saved["alpha"]) != (layer.rank, layer.alpha):
            raise ValueError(
                f"The LoRA adapter in {path!r} was saved with rank={saved['rank']}, alpha={saved['alpha']} for "
                f"{layer_path!r}; the model has rank={layer.rank}, alpha={layer.alpha}."
            )
        for name in ("lora_a", "lora_b"):
            variable, value = getattr(layer, name), arrays[f"{layer_path}/{name}"]
            if tuple(variable.shape) != tuple(value.shape):
                raise ValueError(
                    f"Shape mismatch for {layer_path}/{name}: the model has {tuple(variable.shape)}, "
                    f"the file {path!r} has {tuple(value.shape)}."
                )
    for layer_path, layer in found.items():
        was_merged = layer.merged
        layer.unmerge()
        layer.lora_a.assign(arrays[f"{layer_path}/lora_a"])
        layer.lora_b.assign(arrays[f"{layer_path}/lora_b"])
        if was_merged:
            layer.merge()
    return sorted(found)


# ----------------------------------------------------------------- extension
@register_extension("lora", paper=PAPER)
class LoRAExtension(Extension):
    """Wrap chosen projections of a model in `LoRA` layers and freeze the rest.

    Every `Dense`/`EinsumDense` projection without activation, nested inside
    a top-level layer, whose path (`"transformer_layer_0/self_attention/query"`)
    or name (`"query"`) matches one of `targets` (fnmatch wildcards) is
    wrapped. Then every weight except the LoRA ones (and those matching
    `keep_trainable`) is frozen, so training updates only the adapters.
    Saving a model built with this extension and loading it back
    (`dlzoo.load`) re-applies it from the config, with the trained adapters
    and the merged state.

    Args:
        rank: int. Rank of each update. Defaults to `8`.
        alpha: float. The update is scaled by `alpha / rank`. Defaults to
            `None` (= `rank`).
        dropout: float. Dropout on the LoRA branch input. Defaults to `0.0`.
        targets: str or list of str. Patterns of the projections to adapt.
            Defaults to `["query", "value"]` (the paper's choice). In the
            Transformer families the attention projections are `query`,
            `key`, `value`, `attention_output`, the feed-forward ones
            `inner_proj`, `gate_proj`, `output_proj`.
        keep_trainable: str or list of str. Patterns of weight paths to leave
            trainable (e.g. a head added before: `"classifier/*"`).
            Defaults to `[]`.
        seed: int. Seed of the adapters' initializers and dropout (layer `i`
            uses `seed + i`). Defaults to `None`.

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

    def apply_model(self, model):
        candidates = []
        for path, layer, parent in iter_layers(model):
            if parent is None or isinstance(parent, LoRA) or isinstance(layer, LoRA):
                continue
            if not isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
                continue
            if getattr(layer.activation, "__name__", "") != "linear":
                continue
            candidates.append((path, layer, parent))
        chosen = [c for c in candidates if matches(c[0], self.targets)]
        if not chosen:
            names = sorted({path.rsplit("/", 1)[-1] for path, _, _ in candidates})
            raise ValueError(
                f"Extension 'lora': no projection of model {model.name!r} matches targets={self.targets!r}. "
                f"Projections that can be adapted: {', '.join(names) or 'none'}."
            )
        for i, (path, layer, parent) in enumerate(chosen):
            wrapper = LoRA(
                layer,
                rank=self.rank,
                alpha=self.alpha,
                dropout=self.dropout,
                seed=None if self.seed is None else self.seed + i,
            )
            # Weights go under the wrapped layer's own path: ".../query/lora_a".
            scopes = layer.kernel.path.split("/")[:-2]
            _build_in_scopes(wrapper, scopes)
            replace_layer(parent, layer, wrapper)
        adapters = {id(w) for _, wrapper in lora_layers(model).items() for w in (wrapper.lora_a, wrapper.lora_b)}
        for weight in model.weights:
            if id(weight) in adapters:
                weight.trainable = True
            elif not (self.keep_trainable and matches(weight.path, self.keep_trainable)):
                weight.trainable = False
        return model


def _build_in_scopes(layer, scopes):
    if not scopes:
        layer.build(None)
        return
    with keras.name_scope(scopes[0]):
        _build_in_scopes(layer, scopes[1:])


__all__ = [
    "LoRA",
    "LoRAExtension",
    "load_lora_weights",
    "lora_layers",
    "merge_lora",
    "save_lora_weights",
    "unmerge_lora",
]
