"""Fixed 2-D sine-cosine position embeddings of a patch grid (MAE, DiT)."""

import math

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_float


@register_block(
    "sinusoidal_position_embedding_2d",
    paper="arXiv:2212.09748",
    example={"init_kwargs": {}, "inputs": (2, 3, 4, 16)},
)
class SinusoidalPositionEmbedding2D(keras.layers.Layer):
    """Fixed 2-D sine-cosine position embeddings of a patch grid (no weights).

    Half of the channels encode the column of a patch, the other half its
    row, each with the 1-D sinusoid of the Transformer. With `d =
    hidden_dim` (a multiple of 4), `q = d / 4` and `k = 0 .. q - 1`,
    `w_k = max_wavelength ** (-k / q)`, the patch at row `r` and column `c`
    gets

        [sin(c w_k) | cos(c w_k) | sin(r w_k) | cos(r w_k)]     (4 blocks of q)

    which is the table of MAE and DiT (`get_2d_sincos_pos_embed`: its
    `meshgrid` puts the width coordinate first, so the first half encodes the
    column). Angles are computed in float32; the result is cast to the
    compute dtype. Like `SinusoidalPositionEmbedding`, the call **returns**
    the table broadcast to the shape of `inputs`; the caller adds it.

    Args:
        max_wavelength: float. Longest wavelength. Defaults to `10000.0`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, grid_height, grid_width, hidden_dim)` (a
            patch grid, e.g. the output of `PatchEmbedding`). Only its shape
            is used.

    Returns:
        Tensor of the same shape as `inputs`, in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.SinusoidalPositionEmbedding2D()
    >>> tuple(layer(np.zeros((2, 4, 4, 16))).shape)
    (2, 4, 4, 16)

    Notes:
        The reference DiT code stores this table as an `nn.Parameter` with
        `requires_grad=False` (counted by `sum(p.numel())`: 256 x 1152 =
        294,912 values for DiT-XL/2 at 256 px); diffusers keeps it as a
        non-persistent buffer. Here it is computed in the call and is not a
        weight: it counts 0 (see `guides/diffusion.md`).

    Reference:
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748)
        - [He et al., 2022. Masked Autoencoders Are Scalable Vision Learners](https://arxiv.org/abs/2111.06377)
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = check_float("max_wavelength", max_wavelength, min_value=0.0, min_inclusive=False)

    def _check_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None or input_shape[-1] % 4:
            raise ValueError(
                "`SinusoidalPositionEmbedding2D` needs a patch grid (batch, grid_height, grid_width, hidden_dim) "
                f"with hidden_dim a multiple of 4. Received: input_shape={input_shape}."
            )

    def build(self, input_shape):
        self._check_shape(input_shape)
        self.built = True

    def call(self, inputs):
        # Shapes: h = grid_height, w = grid_width, q = hidden_dim // 4.
        quarter = inputs.shape[-1] // 4
        k = ops.arange(0, quarter, 1, dtype="float32")
        frequencies = ops.exp(k * (-math.log(self.max_wavelength) / quarter))  # (q,)
        # A static grid size when the model has one keeps the table a constant (ONNX export traces it once).
        grid = [inputs.shape[i] if inputs.shape[i] is not None else ops.shape(inputs)[i] for i in (1, 2)]
        rows = ops.arange(0, grid[0], 1, dtype="float32")[:, None] * frequencies  # (h, q)
        columns = ops.arange(0, grid[1], 1, dtype="float32")[:, None] * frequencies  # (w, q)
        height, width = ops.shape(rows)[0], ops.shape(columns)[0]
        column_part = ops.broadcast_to(
            ops.concatenate([ops.sin(columns), ops.cos(columns)], axis=-1)[None, :, :], (height, width, 2 * quarter)
        )
        row_part = ops.broadcast_to(
            ops.concatenate([ops.sin(rows), ops.cos(rows)], axis=-1)[:, None, :], (height, width, 2 * quarter)
        )
        table = ops.concatenate([column_part, row_part], axis=-1)  # (h, w, 4q)
        return ops.cast(ops.broadcast_to(table, ops.shape(inputs)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a computed table, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
