"""Fixed sinusoidal position embeddings (Transformer, tensor2tensor and fairseq layouts)."""

import math

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_choice, check_float

LAYOUTS = ("concat", "interleaved")


@register_block(
    "sinusoidal_position_embedding",
    paper="arXiv:1706.03762",
    example={"init_kwargs": {"layout": "concat"}, "inputs": (2, 5, 8)},
)
class SinusoidalPositionEmbedding(keras.layers.Layer):
    """Fixed sinusoidal position embeddings (no weights).

    With `d = hidden_dim`, `half = d // 2`, position `p` (counted from
    `start_index`) and `k = 0 .. half - 1`:

    - `layout="concat"` (tensor2tensor, fairseq2 / Meta LCM `"sine"`):
      `PE[p, k] = sin(p * w_k)` and `PE[p, half + k] = cos(p * w_k)` with
      `w_k = max_wavelength ** (-k / max(half - 1, 1))`, so the slowest
      frequency is exactly `1 / max_wavelength`.
    - `layout="interleaved"` (the paper, section 3.5):
      `PE[p, 2k] = sin(p * w_k)` and `PE[p, 2k + 1] = cos(p * w_k)` with
      `w_k = max_wavelength ** (-2k / d)`.

    Angles are computed in float32; the result is cast to the compute dtype.
    Like `LearnedPositionEmbedding`, the call **returns** the embeddings
    broadcast to the shape of `inputs`; the caller adds them.

    Args:
        max_wavelength: float. Longest wavelength (`10000` in the paper).
            Defaults to `10000.0`.
        layout: str. `"concat"` or `"interleaved"` (see above).
            Defaults to `"concat"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., seq_len, hidden_dim)`, `hidden_dim`
            even. Only its shape is used.
        start_index: int or scalar int tensor. Position of the first element
            (KV-cached decoding). Defaults to `0`.

    Returns:
        Tensor of the same shape as `inputs`, in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.SinusoidalPositionEmbedding()
    >>> tuple(layer(np.zeros((2, 5, 8))).shape)
    (2, 5, 8)

    Notes:
        The two layouts differ in the feature order *and* in the frequency
        exponent (`k / (half - 1)` versus `2k / d`), as their sources do.

    Reference:
        - [Vaswani et al., 2017. Attention Is All You Need](https://arxiv.org/abs/1706.03762), section 3.5
    """

    def __init__(self, max_wavelength=10000.0, layout="concat", **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = check_float("max_wavelength", max_wavelength, min_value=0.0, min_inclusive=False)
        self.layout = check_choice("layout", layout, LAYOUTS)

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        if hidden_dim is None or hidden_dim % 2:
            raise ValueError(
                f"`SinusoidalPositionEmbedding` needs an even hidden_dim. "
                f"Received: hidden_dim={hidden_dim} (input_shape={tuple(input_shape)})."
            )
        self.built = True

    def call(self, inputs, start_index=0):
        # Shapes: s=seq_len, h=hidden_dim // 2.
        hidden_dim = inputs.shape[-1]
        half = hidden_dim // 2
        positions = ops.arange(ops.shape(inputs)[-2], dtype="float32") + ops.cast(start_index, "float32")
        k = ops.arange(half, dtype="float32")
        if self.layout == "concat":
            exponents = -k / max(half - 1, 1)
        else:
            exponents = -2.0 * k / hidden_dim
        frequencies = ops.exp(exponents * math.log(self.max_wavelength))  # (h,)
        angles = positions[:, None] * frequencies  # (s, h)
        if self.layout == "concat":
            table = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        else:
            table = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (-1, hidden_dim))
        return ops.cast(ops.broadcast_to(table, ops.shape(inputs)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a computed table, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength, "layout": self.layout})
        return config
