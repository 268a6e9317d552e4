"""Rotary position embedding (RoPE): rotate feature pairs by position-dependent angles."""

import math

import keras
import numpy as np
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_choice, check_float

LAYOUTS = ("interleaved", "rotate_half")


@register_block(
    "rotary_embedding",
    paper="arXiv:2104.09864",
    example={"init_kwargs": {"layout": "interleaved"}, "inputs": (2, 5, 4, 8)},
)
class RotaryEmbedding(keras.layers.Layer):
    """Rotary position embedding applied to query or key heads.

    Each pair of features is treated as a complex number and multiplied by
    `exp(1j * pos * theta_i)` with `theta_i = max_wavelength ** (-2i / head_dim)`,
    `i = 0 .. head_dim/2 - 1`. The dot product of a rotated query at position
    `m` and a rotated key at position `n` then depends only on `m - n`.
    Angles and the rotation are computed in float32; the output is cast to
    the compute dtype. The block has no weights.

    Two pairings of the head dimension are in use:
    `"interleaved"` pairs adjacent features `(2i, 2i+1)` (RoFormer, original
    LLaMA, Meta fairseq2 / LCM); `"rotate_half"` pairs `(i, i + head_dim/2)`
    (Hugging Face Llama, keras-hub). They give the same result up to a fixed
    permutation of the head dimension, which is how `"interleaved"` is
    implemented here: de-interleave, rotate halves, re-interleave.

    Args:
        max_wavelength: float. The base `theta` of the frequencies.
            Defaults to `10000.0`.
        layout: str. `"interleaved"` or `"rotate_half"` (see above).
            Defaults to `"interleaved"`.
        scaling_factor: float. Positions are divided by it before computing
            angles (linear position interpolation). Defaults to `1.0`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, seq_len, num_heads, head_dim)`,
            `head_dim` even.
        start_index: int or scalar int tensor. Position of the first token;
            positions are `start_index + arange(seq_len)` (KV-cached
            decoding). Defaults to `0`.
        positions: Optional int tensor `(batch, seq_len)` of explicit
            positions; overrides `start_index`.

    Returns:
        Tensor of the same shape as `inputs`, in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.RotaryEmbedding()
    >>> tuple(layer(np.ones((2, 5, 4, 8))).shape)
    (2, 5, 4, 8)

    Reference:
        - [Su et al., 2021. RoFormer: Enhanced Transformer with Rotary Position Embedding](https://arxiv.org/abs/2104.09864)
    """

    def __init__(self, max_wavelength=10000.0, layout="interleaved", scaling_factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = check_float("max_wavelength", max_wavelength, min_value=0.0, min_inclusive=False)
        self.layout = check_choice("layout", layout, LAYOUTS)
        self.scaling_factor = check_float("scaling_factor", scaling_factor, min_value=0.0, min_inclusive=False)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None or input_shape[-1] % 2:
            raise ValueError(
                "`RotaryEmbedding` expects inputs of shape (batch, seq_len, num_heads, head_dim) "
                f"with an even head_dim. Received: input_shape={tuple(input_shape)}."
            )
        self.built = True

    def call(self, inputs, start_index=0, positions=None):
        cos, sin = self.cos_sin(ops.shape(inputs)[1], inputs.shape[-1], start_index=start_index, positions=positions)
        return self.rotate(inputs, cos, sin)

    def cos_sin(self, seq_len, head_dim, start_index=0, positions=None):
        """Cosines and sines of the rotation angles, float32, shape `(batch|1, seq_len, 1, head_dim // 2)`.

        Computed once per attention call and shared by queries and keys
        (`GroupedQueryAttention` does), since both see the same positions.
        """
        # Shapes: b=batch, s=seq_len, h=head_dim // 2.
        if positions is None:
            positions = ops.arange(seq_len, dtype="float32")
            positions = (positions + ops.cast(start_index, "float32"))[None, :]  # (1, s)
        positions = ops.cast(positions, "float32") / self.scaling_factor
        angles = positions[:, :, None, None] * ops.convert_to_tensor(self.inverse_frequencies(head_dim))  # (b|1, s, 1, h)
        return ops.cos(angles), ops.sin(angles)

    def inverse_frequencies(self, head_dim):
        """`theta_i = max_wavelength ** (-2i / head_dim)`, `i < head_dim // 2` (float32 NumPy constants)."""
        exponents = np.arange(head_dim // 2, dtype="float64") * (-2.0 / head_dim)
        return np.exp(exponents * math.log(self.max_wavelength)).astype("float32")

    def rotate(self, inputs, cos, sin):
        """Rotate `inputs` `(batch, seq_len, num_heads, head_dim)` by the angles of `cos_sin`."""
        head_dim = inputs.shape[-1]
        half = head_dim // 2
        x = ops.cast(inputs, "float32")
        if self.layout == "interleaved":
            x = ops.take(x, deinterleave_permutation(head_dim), axis=-1)
        x1, x2 = x[..., :half], x[..., half:]
        out = ops.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
        if self.layout == "interleaved":
            out = ops.take(out, interleave_permutation(head_dim), axis=-1)
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params_for(self, input_shape, positions_shape=None):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (an elementwise rotation, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "layout": self.layout,
                "scaling_factor": self.scaling_factor,
            }
        )
        return config


def deinterleave_permutation(dim):
    """Feature order `[0, 2, 4, ..., 1, 3, 5, ...]`: interleaved pairs -> halves."""
    return list(range(0, dim, 2)) + list(range(1, dim, 2))


def interleave_permutation(dim):
    """Inverse of `deinterleave_permutation`: halves -> interleaved pairs."""
    half = dim // 2
    return [half * (i % 2) + i // 2 for i in range(dim)]
