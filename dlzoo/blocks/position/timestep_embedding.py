"""Diffusion timestep embedding: a sinusoid of the step, optionally followed by an MLP."""

import math

import keras
import numpy as np
from keras import ops

from dlzoo.flops import matmul_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_choice, check_float, check_positive_int

ORDERS = ("cos_sin", "sin_cos")


@register_block(
    "timestep_embedding",
    paper="arXiv:2212.09748",
    example={
        "init_kwargs": {"frequency_dim": 16, "hidden_dim": 8},
        "inputs": {"shape": (2, 5), "dtype": "int32", "max": 100},
    },
)
class TimestepEmbedding(keras.layers.Layer):
    """Sinusoidal embedding of diffusion timesteps, with an optional MLP (DiT).

    With `half = frequency_dim // 2` and `k = 0 .. half - 1`, the frequencies
    are `f_k = exp(-ln(max_period) * k / (half - frequency_shift))` (DiT and
    Meta LCM: `frequency_shift=0`) and the timestep `t` (cast to
    float32) becomes `[cos(t * f) | sin(t * f)]` (`order="cos_sin"`, DiT and
    Meta LCM) or `[sin(t * f) | cos(t * f)]` (`order="sin_cos"`). When
    `hidden_dim` is set, the sinusoid goes through
    `Dense(hidden_dim) -> SiLU -> Dense(hidden_dim)`, both biased, kernels
    initialised from `N(0, 0.02**2)` and biases at zero (as Meta LCM does).

    Args:
        frequency_dim: int. Size of the sinusoid (even). Defaults to `256`.
        hidden_dim: int or None. Width of the MLP; `None` returns the raw
            sinusoid. Defaults to `None`.
        max_period: float. Controls the lowest frequency. Defaults to `10000.0`.
        order: str. `"cos_sin"` or `"sin_cos"`. Defaults to `"cos_sin"`.
        frequency_shift: float. Subtracted from `half` in the frequency
            exponent: `0` in DiT and Meta LCM; `1` in diffusers'
            `CombinedTimestepLabelEmbeddings` (its `downscale_freq_shift`),
            which its DiT uses. Must be below `half`. Defaults to `0.0`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Integer or float timesteps of any shape `(...)`, e.g.
            `(batch,)` or `(batch, seq_len)`.

    Returns:
        Tensor `(..., frequency_dim)` (or `(..., hidden_dim)` with the MLP),
        in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.TimestepEmbedding(frequency_dim=16, hidden_dim=8)
    >>> tuple(layer(np.array([[0, 10, 99]])).shape)
    (1, 3, 8)

    Reference:
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers (DiT)](https://arxiv.org/abs/2212.09748)
        - [Ho et al., 2020. Denoising Diffusion Probabilistic Models](https://arxiv.org/abs/2006.11239)
    """

    def __init__(
        self, frequency_dim=256, hidden_dim=None, max_period=10000.0, order="cos_sin", frequency_shift=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.frequency_dim = check_positive_int("frequency_dim", frequency_dim)
        if self.frequency_dim % 2:
            raise ValueError(f"`frequency_dim` must be even. Received: frequency_dim={frequency_dim}.")
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim, allow_none=True)
        self.max_period = check_float("max_period", max_period, min_value=0.0, min_inclusive=False)
        self.order = check_choice("order", order, ORDERS)
        self.frequency_shift = check_float(
            "frequency_shift", frequency_shift, max_value=self.frequency_dim // 2, max_inclusive=False
        )
        if self.hidden_dim is not None:
            dense = dict(
                units=self.hidden_dim,
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
            )
            self.dense_1 = keras.layers.Dense(name="dense_1", **dense)
            self.dense_2 = keras.layers.Dense(name="dense_2", **dense)

    def build(self, input_shape):
        if self.hidden_dim is not None:
            self.dense_1.build(tuple(input_shape) + (self.frequency_dim,))
            self.dense_2.build(tuple(input_shape) + (self.hidden_dim,))
        self.built = True

    def call(self, inputs):
        frequencies = ops.convert_to_tensor(self._frequencies())  # (half,)
        angles = ops.cast(inputs, "float32")[..., None] * frequencies  # (..., half)
        parts = [ops.cos(angles), ops.sin(angles)]
        if self.order == "sin_cos":
            parts.reverse()
        x = ops.cast(ops.concatenate(parts, axis=-1), self.compute_dtype)
        if self.hidden_dim is not None:
            x = self.dense_2(ops.silu(self.dense_1(x)))
        return x

    def _frequencies(self):
        """`f_k` as a float32 NumPy constant, the same on every backend.

        The exponent is formed in float32 in the reference's order,
        `(-ln(max_period) * k) / (half - shift)`, and exponentiated in float64,
        then rounded: backends' float32 `exp` differ by an ulp, which the
        angle `t * f` magnifies about a thousandfold at `t ~ 1000`.
        """
        half = self.frequency_dim // 2
        k = np.arange(half, dtype="float32")
        exponents = (np.float32(-math.log(self.max_period)) * k) / np.float32(half - self.frequency_shift)
        return np.exp(exponents.astype("float64")).astype("float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.hidden_dim or self.frequency_dim,)

    def count_params_for(self, input_shape):
        if self.hidden_dim is None:
            return 0
        h = self.hidden_dim
        return (self.frequency_dim + 1) * h + (h + 1) * h

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the two dense layers after the sinusoids (0 without `hidden_dim`)."""
        if self.hidden_dim is None:
            return 0
        timesteps = math.prod(int(v) for v in input_shape)
        return matmul_flops(timesteps, self.frequency_dim, self.hidden_dim) + matmul_flops(timesteps, self.hidden_dim, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "frequency_dim": self.frequency_dim,
                "hidden_dim": self.hidden_dim,
                "max_period": self.max_period,
                "order": self.order,
                "frequency_shift": self.frequency_shift,
            }
        )
        return config
