"""Data transforms: registered, fitted on the training split only, applied to every split.

A transform is a class registered with `@dlzoo.register_component("transform", name)`.
Its constructor takes the options of the composition file; the runner calls
`fit(data)` once on the training split (of each fold), then `apply(data)` on
each split. Stateless transforms only implement `apply`. `state()` returns
what was fitted (plain JSON, saved in the run directory).

Every transform takes `key`: for data whose `x` is a dict (several model
inputs), the input it applies to (`None`: `x` itself, or every input).
"""

import dataclasses
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from dlzoo.registry import register_component
from dlzoo.validation import check_choice, check_float, check_positive_int


class Transform:
    """Base class: override `apply_array` (and `fit_array` for fitted transforms)."""

    #: Which part of the data the transform changes: "x" or "y".
    target = "x"

    def __init__(self, key: Optional[str] = None):
        self.key = key

    # The public protocol -------------------------------------------------
    def fit(self, data) -> "Transform":
        for array in self._arrays(data):
            self.fit_array(np.asarray(array))
        return self

    def apply(self, data):
        value = getattr(data, self.target)
        if value is None:
            return data
        if isinstance(value, Mapping):
            if self.key is not None and self.key not in value:
                raise ValueError(
                    f"{type(self).__name__}: no {self.target} named {self.key!r}. "
                    f"Available: {sorted(value)}. Received: key={self.key!r}."
                )
            value = {k: (self.apply_array(np.asarray(v)) if self.key in (None, k) else v) for k, v in value.items()}
        else:
            value = self.apply_array(np.asarray(value))
        return dataclasses.replace(data, **{self.target: value})

    def state(self) -> Dict[str, Any]:
        return {}

    # To override ----------------------------------------------------------
    def fit_array(self, array: np.ndarray) -> None:
        pass

    def apply_array(self, array: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _arrays(self, data) -> List[np.ndarray]:
        value = getattr(data, self.target)
        if value is None:
            return []
        if isinstance(value, Mapping):
            return [v for k, v in value.items() if self.key in (None, k)]
        return [value]


@register_component("transform", "scale")
class Scale(Transform):
    """`x * factor + offset` (e.g. `factor: 0.0625` maps digits' 0..16 to 0..1).

    Args:
        factor: float. Multiplier. Defaults to `1.0`.
        offset: float. Added after scaling. Defaults to `0.0`.
        key: str or None. Input to transform. Defaults to `None`.
    """

    def __init__(self, factor: float = 1.0, offset: float = 0.0, key: Optional[str] = None):
        super().__init__(key)
        self.factor = check_float("factor", factor)
        self.offset = check_float("offset", offset)

    def apply_array(self, array):
        return (array.astype("float32") * self.factor + self.offset).astype("float32")


@register_component("transform", "standardize")
class Standardize(Transform):
    """Per-feature `(x - mean) / std`, with mean and std fitted on the training split.

    Args:
        axis: str. `"feature"` (statistics per feature over examples) or
            `"global"` (one mean and std). Defaults to `"feature"`.
        epsilon: float. Added to the std. Defaults to `1e-7`.
        key: str or None. Input to transform. Defaults to `None`.
    """

    def __init__(self, axis: str = "feature", epsilon: float = 1e-7, key: Optional[str] = None):
        super().__init__(key)
        self.axis = check_choice("axis", axis, ("feature", "global"))
        self.epsilon = check_float("epsilon", epsilon, min_value=0.0)
        self.mean = None
        self.std = None

    def fit_array(self, array):
        array = array.astype("float64")
        axis = 0 if self.axis == "feature" else None
        self.mean = array.mean(axis=axis)
        self.std = array.std(axis=axis)

    def apply_array(self, array):
        if self.mean is None:
            raise ValueError("`standardize` must be fitted on the training split before it is applied.")
        return ((array - self.mean) / (self.std + self.epsilon)).astype("float32")

    def state(self):
        return {"mean": np.asarray(self.mean).tolist(), "std": np.asarray(self.std).tolist()}


@register_component("transform", "min_max")
class MinMax(Transform):
    """Per-feature scaling to `[0, 1]` with the training split's minimum and maximum.

    Args:
        key: str or None. Input to transform. Defaults to `None`.
    """

    def __init__(self, key: Optional[str] = None):
        super().__init__(key)
        self.low = None
        self.high = None

    def fit_array(self, array):
        self.low = array.min(axis=0).astype("float64")
        self.high = array.max(axis=0).astype("float64")

    def apply_array(self, array):
        if self.low is None:
            raise ValueError("`min_max` must be fitted on the training split before it is applied.")
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return ((array - self.low) / span).astype("float32")

    def state(self):
        return {"min": np.asarray(self.low).tolist(), "max": np.asarray(self.high).tolist()}


@register_component("transform", "reshape")
class Reshape(Transform):
    """Reshape every example (`shape` excludes the example axis), e.g. `[8, 8, 1]` or `[64]`.

    Args:
        shape: list of int. New per-example shape (one entry may be -1).
        key: str or None. Input to transform. Defaults to `None`.
    """

    def __init__(self, shape: List[int], key: Optional[str] = None):
        super().__init__(key)
        if not isinstance(shape, (list, tuple)) or not shape:
            raise TypeError(f"`shape` must be a non-empty list of integers. Received: shape={shape!r}.")
        self.shape = [int(s) for s in shape]

    def apply_array(self, array):
        return array.reshape((len(array),) + tuple(self.shape))


@register_component("transform", "upscale")
class Upscale(Transform):
    """Enlarge images `(n, h, w, c)` by an integer factor, each pixel repeated as a `factor x factor` block.

    For architectures that need more pixels than the data has (scikit-learn's
    8x8 digits -> 32x32 for a ViT with 8x8 patches or a ResNet's four
    downsamplings). Nearest-neighbour on purpose: it adds no information and
    no interpolation artefact.

    Args:
        factor: int. Size multiplier of height and width. Defaults to `2`.
        key: str or None. Input to transform. Defaults to `None`.
    """

    def __init__(self, factor: int = 2, key: Optional[str] = None):
        super().__init__(key)
        self.factor = check_positive_int("factor", factor)

    def apply_array(self, array):
        if array.ndim != 4:
            raise ValueError(
                f"`upscale` needs images (n, height, width, channels). Received: an array of shape {array.shape}."
            )
        return np.repeat(np.repeat(array, self.factor, axis=1), self.factor, axis=2)


@register_component("transform", "one_hot")
class OneHot(Transform):
    """Integer class ids in `y` -> one-hot float32 vectors (for categorical losses).

    Args:
        num_classes: int. Number of classes.
        key: str or None. Output to transform (multi-output data). Defaults to `None`.
    """

    target = "y"

    def __init__(self, num_classes: int, key: Optional[str] = None):
        super().__init__(key)
        self.num_classes = check_positive_int("num_classes", num_classes)

    def apply_array(self, array):
        ids = array.astype("int64").reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
            raise ValueError(f"Class ids must be in [0, {self.num_classes}). Received: min={ids.min()}, max={ids.max()}.")
        return np.eye(self.num_classes, dtype="float32")[ids].reshape(array.shape + (self.num_classes,))


@register_component("transform", "cast")
class Cast(Transform):
    """Cast to a dtype (`float32`, `int32`, ...).

    Args:
        dtype: str. NumPy dtype name. Defaults to `"float32"`.
        target: str. `"x"` or `"y"`. Defaults to `"x"`.
        key: str or None. Input/output to transform. Defaults to `None`.
    """

    def __init__(self, dtype: str = "float32", target: str = "x", key: Optional[str] = None):
        super().__init__(key)
        self.dtype = str(np.dtype(dtype))
        self.target = check_choice("target", target, ("x", "y"))

    def apply_array(self, array):
        return array.astype(self.dtype)


@register_component("transform", "concept_normalizer")
class ConceptNormalizer(Transform):
    """Fit `dlzoo.concepts.EmbeddingNormalizer` on the training concepts; normalize every split.

    Only real concepts are used to fit and are normalized (padding stays
    zero, as the LCM losses expect). The fitted centre and scale are saved
    with the run (`transforms.json`) for de-normalizing predictions.

    Args:
        method: str. See `EmbeddingNormalizer`. Defaults to `"gaussian_robust"`.
        clip_proba: float or None. See `EmbeddingNormalizer`. Defaults to `None`.
        key: str. The concept input. Defaults to `"embeddings"`.
        mask_key: str. The padding-mask input. Defaults to `"padding_mask"`.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.1
    """

    def __init__(self, method: str = "gaussian_robust", clip_proba: Optional[float] = None,
                 key: str = "embeddings", mask_key: str = "padding_mask"):
        super().__init__(key)
        from dlzoo.concepts import EmbeddingNormalizer  # lazy: keras (dlzoo.concepts imports it)

        self.mask_key = mask_key
        self.normalizer = EmbeddingNormalizer(method=method, clip_proba=clip_proba)

    def _rows(self, data):
        x = data.x
        if not isinstance(x, Mapping) or self.key not in x or self.mask_key not in x:
            raise ValueError(
                f"`concept_normalizer` needs x[{self.key!r}] and x[{self.mask_key!r}] (the `concepts` dataset)."
            )
        return np.asarray(x[self.key]), np.asarray(x[self.mask_key]).astype(bool)

    def fit(self, data):
        embeddings, mask = self._rows(data)
        self.normalizer.fit(embeddings[mask])
        return self

    def apply(self, data):
        embeddings, mask = self._rows(data)
        out = np.zeros_like(embeddings, dtype="float32")
        out[mask] = np.asarray(self.normalizer.normalize(embeddings[mask]), dtype="float32")
        x = dict(data.x)
        x[self.key] = out
        return dataclasses.replace(data, x=x)

    def state(self):
        return {"normalizer": self.normalizer.get_config()}
