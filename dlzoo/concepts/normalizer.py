"""Per-dimension embedding normalizer (the LCM "SONAR normalizer"), in NumPy.

Every embedding a Large Concept Model sees is first mapped by a fixed,
pre-fitted per-dimension affine transform `(x - center) / scale`, and its
predictions are mapped back with `y * scale + center`. As in the reference,
this happens *outside* the model (in the data pipeline, the loss inputs and the
generation loop), so it lives here in NumPy rather than as a Keras layer.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 4))
>>> norm = EmbeddingNormalizer().fit(x)
>>> y = norm.normalize(x)
>>> bool(np.allclose(norm.denormalize(y), x, atol=1e-5))
True
"""

import json
import os
import statistics
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from dlzoo.validation import check_bool, check_choice, check_float, check_positive_int

METHODS = ("gaussian_robust", "robust", "standard")


class EmbeddingNormalizer:
    """Robust per-dimension centre and scale for sentence embeddings.

    `fit` estimates, for every embedding dimension, a centre and a scale:

    * `"gaussian_robust"` (the reference default): centre = median, scale =
      `(Q(q_hi) - Q(q_lo)) / (Phi^-1(q_hi) - Phi^-1(q_lo))`, a robust estimate
      of the standard deviation of Gaussian data (with the default quartiles,
      the inter-quartile range divided by 1.349);
    * `"robust"`: the same without the `Phi^-1` division (sklearn's
      `RobustScaler` default);
    * `"standard"`: mean and population standard deviation.

    A zero spread is replaced by one before the `Phi^-1` division (as
    scikit-learn does). With `clip_proba`,
    `clip_min`/`clip_max` are the `clip_proba` and `1 - clip_proba` quantiles
    of the normalized fitting data, and `normalize` clamps to them (and
    `denormalize` clamps before de-normalizing), as in the reference. With
    `with_fft`, vectors are first mapped to the real-valued FFT layout of the
    reference (`rfft` with `norm="backward"`: the `dim/2 + 1` real parts, then
    the `dim/2 - 1` imaginary parts without the first and the last).

    Args:
        method: str. `"gaussian_robust"`, `"robust"` or `"standard"`. Defaults
            to `"gaussian_robust"`.
        quantile_min: float. Lower quantile, as a fraction in (0, 1). Defaults
            to `0.25`.
        quantile_max: float. Upper quantile, as a fraction in (0, 1). Defaults
            to `0.75`.
        reference_quirk: bool. If `True`, reproduce what the reference code
            actually runs: it passes `(quantile_min, quantile_max)` to
            scikit-learn's `RobustScaler(quantile_range=...)`, which reads them
            as *percent*, so the default uses the 0.25th and 0.75th percentiles
            (fractions 0.0025 and 0.0075) and divides by
            `Phi^-1(0.0075) - Phi^-1(0.0025) = 0.3747`. Defaults to `False`
            (the inter-quartile range that the reference's docstring describes).
        clip_proba: float or None. Tail probability for clipping, in (0, 0.5).
            Defaults to `None` (no clipping).
        with_fft: bool. Normalize in the real FFT layout (needs an even dim).
            Defaults to `False`.
        center: array-like or None. Fitted per-dimension centre (set by `fit`
            or `from_config`). Defaults to `None` (not fitted).
        scale: array-like or None. Fitted per-dimension scale. Defaults to `None`.
        clip_min: array-like or None. Fitted lower clip values. Defaults to `None`.
        clip_max: array-like or None. Fitted upper clip values. Defaults to `None`.

    Notes:
        The reference fits on up to 10^6 vectors keeping every 5th sentence;
        pass `max_samples`/`down_sample` to `fit` for the same sub-sampling.
        Clip quantiles use NumPy's linear interpolation.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.4.1 (normalization).
        - Meta LCM `lcm/models/sonar_normalizer/builder.py` (lcm.md section 2).
        - scikit-learn `RobustScaler` (`unit_variance=True` for `"gaussian_robust"`).
    """

    def __init__(
        self,
        method: str = "gaussian_robust",
        quantile_min: float = 0.25,
        quantile_max: float = 0.75,
        reference_quirk: bool = False,
        clip_proba: Optional[float] = None,
        with_fft: bool = False,
        center: Optional[Sequence[float]] = None,
        scale: Optional[Sequence[float]] = None,
        clip_min: Optional[Sequence[float]] = None,
        clip_max: Optional[Sequence[float]] = None,
    ):
        self.method = check_choice("method", method, METHODS)
        self.quantile_min = check_float("quantile_min", quantile_min, min_value=0.0, max_value=1.0,
                                        min_inclusive=False, max_inclusive=False)
        self.quantile_max = check_float("quantile_max", quantile_max, min_value=0.0, max_value=1.0,
                                        min_inclusive=False, max_inclusive=False)
        if self.quantile_min >= self.quantile_max:
            raise ValueError(
                "`quantile_min` must be smaller than `quantile_max`. "
                f"Received: quantile_min={quantile_min!r}, quantile_max={quantile_max!r}."
            )
        self.reference_quirk = check_bool("reference_quirk", reference_quirk)
        self.clip_proba = check_float("clip_proba", clip_proba, min_value=0.0, max_value=0.5,
                                      min_inclusive=False, max_inclusive=False, allow_none=True)
        self.with_fft = check_bool("with_fft", with_fft)
        self.center = _vector("center", center)
        self.scale = _vector("scale", scale)
        self.clip_min = _vector("clip_min", clip_min)
        self.clip_max = _vector("clip_max", clip_max)
        if (self.center is None) != (self.scale is None):
            raise ValueError(
                "`center` and `scale` must be given together. "
                f"Received: center={'set' if center is not None else None}, "
                f"scale={'set' if scale is not None else None}."
            )
        if self.center is not None:
            if self.center.shape != self.scale.shape:
                raise ValueError(
                    "`center` and `scale` must have the same length. "
                    f"Received: center of length {self.center.size}, scale of length {self.scale.size}."
                )
            if np.any(self.scale <= 0):
                raise ValueError(f"`scale` must be positive. Received: scale with min {self.scale.min()!r}.")

    # ------------------------------------------------------------------ state
    @property
    def is_fitted(self) -> bool:
        return self.center is not None

    @property
    def dim(self) -> Optional[int]:
        """Embedding size, or `None` before fitting."""
        return None if self.center is None else int(self.center.size)

    def quantile_fractions(self):
        """The (low, high) quantiles actually used, as fractions."""
        if self.reference_quirk:
            return self.quantile_min / 100.0, self.quantile_max / 100.0
        return self.quantile_min, self.quantile_max

    # -------------------------------------------------------------------- fit
    def fit(self, embeddings, down_sample: int = 1, max_samples: Optional[int] = None) -> "EmbeddingNormalizer":
        """Estimate centre, scale (and clip bounds) from data.

        Args:
            embeddings: array `(n, dim)` or a list of `(n_i, dim)` arrays
                (e.g. one per document), concatenated.
            down_sample: int. Keep every `down_sample`-th vector (the
                reference's fitting script uses 5). Defaults to `1`.
            max_samples: int or None. Keep at most this many vectors after
                down-sampling. Defaults to `None` (all).

        Returns:
            `self`.
        """
        down_sample = check_positive_int("down_sample", down_sample)
        max_samples = check_positive_int("max_samples", max_samples, allow_none=True)
        x = _stack(embeddings)[::down_sample]
        if max_samples is not None:
            x = x[:max_samples]
        if x.shape[0] < 2:
            raise ValueError(f"`embeddings` must hold at least 2 vectors to fit. Received: {x.shape[0]} vectors.")
        x = self._forward_transform(x.astype("float64"))
        if self.method == "standard":
            center = x.mean(axis=0)
            scale = x.std(axis=0)
        else:
            lo, hi = self.quantile_fractions()
            center = np.median(x, axis=0)
            q_lo, q_hi = np.quantile(x, [lo, hi], axis=0)
            scale = _replace_zeros(q_hi - q_lo)
            if self.method == "gaussian_robust":
                normal = statistics.NormalDist()
                scale = scale / (normal.inv_cdf(hi) - normal.inv_cdf(lo))
        scale = _replace_zeros(scale)
        self.center, self.scale = center, scale
        self.clip_min = self.clip_max = None
        if self.clip_proba is not None:
            y = (x - center) / scale
            self.clip_min, self.clip_max = np.quantile(y, [self.clip_proba, 1.0 - self.clip_proba], axis=0)
        return self

    # ------------------------------------------------------ (de)normalization
    def normalize(self, x):
        """`(fft(x) - center) / scale`, clipped if fitted with `clip_proba`.

        Args:
            x: array `(..., dim)`.

        Returns:
            Array of the same shape, in `x`'s float dtype (float32 otherwise).
        """
        x, dtype = self._check_input(x)
        y = (self._forward_transform(x) - self.center) / self.scale
        if self.clip_min is not None:
            y = np.clip(y, self.clip_min, self.clip_max)
        return y.astype(dtype)

    def denormalize(self, y):
        """Inverse of `normalize` (after clipping): `ifft(y * scale + center)`.

        Args:
            y: array `(..., dim)` in normalized space.

        Returns:
            Array of the same shape, in `y`'s float dtype (float32 otherwise).
        """
        y, dtype = self._check_input(y, name="y")
        if self.clip_min is not None:
            y = np.clip(y, self.clip_min, self.clip_max)
        return self._inverse_transform(y * self.scale + self.center).astype(dtype)

    __call__ = normalize

    def _check_input(self, x, name="x"):
        if not self.is_fitted:
            raise ValueError("The normalizer is not fitted. Call `fit(embeddings)` or load a fitted one first.")
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype("float32")
        if x.ndim < 1 or x.shape[-1] != self.dim:
            raise ValueError(
                f"`{name}` must have last dimension {self.dim}. Received: {name} of shape {x.shape}."
            )
        return x.astype("float64"), dtype

    def _forward_transform(self, x):
        if not self.with_fft:
            return x
        dim = x.shape[-1]
        if dim % 2:
            raise ValueError(f"`with_fft=True` needs an even embedding size. Received: dim={dim}.")
        spectrum = np.fft.rfft(x, axis=-1, norm="backward")
        return np.concatenate([spectrum.real, spectrum.imag[..., 1:-1]], axis=-1)

    def _inverse_transform(self, y):
        if not self.with_fft:
            return y
        dim = y.shape[-1]
        half = dim // 2
        real = y[..., : half + 1]
        imag = np.zeros_like(real)
        imag[..., 1:-1] = y[..., half + 1:]
        return np.fft.irfft(real + 1j * imag, n=dim, axis=-1, norm="backward")

    # ----------------------------------------------------------- serialization
    def get_config(self) -> Dict[str, Any]:
        """A JSON-serializable dict; `from_config(get_config())` is identical."""
        return {
            "method": self.method,
            "quantile_min": self.quantile_min,
            "quantile_max": self.quantile_max,
            "reference_quirk": self.reference_quirk,
            "clip_proba": self.clip_proba,
            "with_fft": self.with_fft,
            "center": _to_list(self.center),
            "scale": _to_list(self.scale),
            "clip_min": _to_list(self.clip_min),
            "clip_max": _to_list(self.clip_max),
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "EmbeddingNormalizer":
        return cls(**config)

    def save(self, path: Union[str, os.PathLike]) -> str:
        """Save to `.json` (config with the statistics) or `.npz` (arrays, no pickle).

        Args:
            path: str. File name ending in `.json` or `.npz`.

        Returns:
            The path written.
        """
        path = os.fspath(path)
        config = self.get_config()
        if path.endswith(".json"):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(config, f)
        elif path.endswith(".npz"):
            arrays = {k: np.asarray(v, dtype="float64") for k, v in config.items()
                      if k in _ARRAY_KEYS and v is not None}
            settings = {k: v for k, v in config.items() if k not in _ARRAY_KEYS}
            np.savez(path, config=np.array(json.dumps(settings)), **arrays)
        else:
            raise ValueError(f"`path` must end in '.json' or '.npz'. Received: path={path!r}.")
        return path

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "EmbeddingNormalizer":
        """Load a normalizer written by `save` (no pickle is ever read).

        Args:
            path: str. A `.json` or `.npz` file.
        """
        path = os.fspath(path)
        if path.endswith(".json"):
            with open(path, "r", encoding="utf-8") as f:
                return cls.from_config(json.load(f))
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as data:
                config = json.loads(str(data["config"]))
                for key in _ARRAY_KEYS:
                    config[key] = data[key] if key in data.files else None
            return cls.from_config(config)
        raise ValueError(f"`path` must end in '.json' or '.npz'. Received: path={path!r}.")

    def __repr__(self):
        state = f"dim={self.dim}" if self.is_fitted else "not fitted"
        return f"EmbeddingNormalizer(method={self.method!r}, {state})"


_ARRAY_KEYS = ("center", "scale", "clip_min", "clip_max")


def _vector(name, value):
    if value is None:
        return None
    arr = np.asarray(value, dtype="float64")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`{name}` must be a non-empty 1-D sequence. Received: {name} of shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite. Received: {name} with non-finite values.")
    return arr


def _replace_zeros(scale):
    """Constant dimensions get scale 1 (checked before the Phi^-1 division, as scikit-learn does)."""
    return np.where(scale < 10 * np.finfo("float64").eps, 1.0, scale)


def _to_list(arr):
    return None if arr is None else [float(v) for v in arr]


def _stack(embeddings):
    if isinstance(embeddings, np.ndarray):
        x = embeddings
    else:
        parts = [np.asarray(e) for e in embeddings]
        if not parts:
            raise ValueError("`embeddings` is empty. Received: an empty list.")
        x = np.concatenate([p.reshape(-1, p.shape[-1]) for p in parts], axis=0)
    if x.ndim != 2:
        x = x.reshape(-1, x.shape[-1])
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"`embeddings` must be numeric. Received: dtype {x.dtype}.")
    return x
