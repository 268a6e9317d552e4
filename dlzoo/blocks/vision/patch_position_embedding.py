"""Learned position embeddings of a patch grid, resized bicubically for another image size (ViT)."""

import keras
import numpy as np
from keras import ops

from dlzoo.flops import matmul_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_float, check_int, check_positive_int

# Keys' cubic convolution kernel parameter used by PyTorch's (and OpenCV's)
# bicubic mode; `jax.image.resize` and TensorFlow's resize use -0.5.
CUBIC_COEFFICIENT = -0.75


def _keys_cubic(distance, a=CUBIC_COEFFICIENT):
    """Keys (1981) cubic convolution kernel at `distance` (array of |x|)."""
    d = np.abs(distance)
    near = ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0  # |x| <= 1
    far = ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a  # 1 < |x| < 2
    return np.where(d <= 1.0, near, np.where(d < 2.0, far, 0.0))


def bicubic_resize_matrix(in_size, out_size):
    """The `(out_size, in_size)` matrix of 1-D bicubic resizing (half-pixel centres, edges clamped).

    Output sample `i` sits at source coordinate `(i + 0.5) * in_size / out_size - 0.5`
    (`align_corners=False`); it mixes the four nearest source samples with
    Keys' cubic weights (`a = -0.75`), and taps past an edge read the edge
    sample. This is PyTorch's `F.interpolate(mode="bicubic",
    align_corners=False, antialias=False)` along one axis; resizing a grid is
    this matrix applied along each axis in turn. Computed in float64 NumPy:
    it depends only on the two sizes.
    """
    in_size, out_size = check_positive_int("in_size", in_size), check_positive_int("out_size", out_size)
    source = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    left = np.floor(source)
    t = source - left
    matrix = np.zeros((out_size, in_size))
    for tap in range(-1, 3):  # the four neighbours left-1, left, left+1, left+2
        weight = _keys_cubic(t - tap)
        index = np.clip(left + tap, 0, in_size - 1).astype(int)
        np.add.at(matrix, (np.arange(out_size), index), weight)
    return matrix


def resize_bicubic(grid, size):
    """Resize a `(height, width, channels)` tensor to `size = (new_height, new_width)` bicubically.

    Separable: `out[i, j] = sum_{y, x} R_h[i, y] R_w[j, x] grid[y, x]` with
    `R = bicubic_resize_matrix(...)`; `keras.ops` only, so every backend gives
    the same numbers. Computed in float32.
    """
    # Shape legend: (y, x) source grid, (i, j) target grid, c channels.
    height, width = grid.shape[0], grid.shape[1]
    rows = ops.convert_to_tensor(bicubic_resize_matrix(height, size[0]).astype("float32"))
    cols = ops.convert_to_tensor(bicubic_resize_matrix(width, size[1]).astype("float32"))
    grid = ops.cast(grid, "float32")
    grid = ops.einsum("jx,yxc->yjc", cols, grid)
    return ops.einsum("iy,yjc->ijc", rows, grid)


def _grid_size(value):
    pair = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise ValueError(
            f"`grid_size` must be a positive integer or a [height, width] pair of them. Received: grid_size={value!r}."
        )
    return [check_positive_int("grid_size", pair[0]), check_positive_int("grid_size", pair[1])]


def _grid_shape(input_shape):
    if len(input_shape) != 4 or input_shape[-1] is None:
        raise ValueError(
            "PatchPositionEmbedding expects a patch grid of shape (batch, grid_height, grid_width, hidden_dim) "
            f"with a known hidden_dim. Received: input_shape={tuple(input_shape)}."
        )
    return _concrete(input_shape[1]), _concrete(input_shape[2]), int(input_shape[-1])


def _concrete(dim):
    """A grid size as a Python int when the tracer knows it (TorchScript traces give 0-d tensors), else as is."""
    if dim is None or isinstance(dim, int):
        return dim
    try:
        return int(dim)
    except Exception:  # a symbolic size (JAX shape polymorphism): the caller refuses it by name
        return dim


@register_block(
    "patch_position_embedding",
    paper="arXiv:2010.11929",
    example={"init_kwargs": {"grid_size": [3, 3]}, "inputs": (2, 4, 5, 8)},
)
class PatchPositionEmbedding(keras.layers.Layer):
    """ViT's learned position embeddings: one vector per patch of a grid (plus class tokens), resizable.

    The table `embeddings` has `num_prefix_tokens + grid_height * grid_width`
    rows: first the rows of the prefix tokens (ViT's class token), then one
    per patch in row-major order. Called on a patch grid `(b, h, w, d)`, the
    block **returns** the position embeddings of the token sequence
    `[prefix tokens, patches]` for that grid, `(b, num_prefix_tokens + h*w, d)`;
    the caller adds them to the tokens.

    When the grid differs from `grid_size` (fine-tuning or inference at
    another resolution) the patch rows, seen as a `grid_height x grid_width`
    image of `d` channels, are resized bicubically to `h x w` (ViT,
    section 3.2); prefix rows are used as they are. The resize reproduces
    Hugging Face `ViTEmbeddings.interpolate_pos_encoding` (PyTorch
    `F.interpolate(mode="bicubic", align_corners=False)`, Keys' kernel with
    `a = -0.75`), written with `keras.ops` so every backend agrees.

    Args:
        grid_size: int or `[height, width]`. The patch grid the table is made
            for (the pre-training image size divided by the patch size).
        num_prefix_tokens: int. Table rows for tokens before the patches (1
            with a class token, 0 without). Defaults to `1`.
        initializer_stddev: float. Standard deviation of the truncated-normal
            initializer. Defaults to `0.02` (DeiT, Hugging Face ViT).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: The patch grid, `(batch, height, width, hidden_dim)`; height
            and width must be static. Only its shape is used.

    Returns:
        Tensor `(batch, num_prefix_tokens + height * width, hidden_dim)` in
        the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.PatchPositionEmbedding(grid_size=[2, 2])
    >>> tuple(layer(np.zeros((1, 3, 4, 8))).shape)         # 1 + 3*4 rows, from a 2x2 table
    (1, 13, 8)

    Notes:
        The resize runs in float32 and depends only on the table, so with a
        fixed image size a deployed model could store the resized table
        instead; it is recomputed at each call here (a few small matmuls)
        so that the weights stay those of the pre-training grid. TensorFlow's
        and JAX's own bicubic resizes use Keys' `a = -0.5` and give other
        numbers; `bicubic_resize_matrix` is this file's own.

    Reference:
        - [Dosovitskiy et al., 2020. An Image is Worth 16x16 Words](https://arxiv.org/abs/2010.11929), sections 3.1 (eq. 1) and 3.2 ("Fine-tuning and higher resolution")
        - [Keys, 1981. Cubic convolution interpolation for digital image processing](https://doi.org/10.1109/TASSP.1981.1163711)
    """

    def __init__(self, grid_size, num_prefix_tokens=1, initializer_stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = _grid_size(grid_size)
        self.num_prefix_tokens = check_int("num_prefix_tokens", num_prefix_tokens, min_value=0)
        self.initializer_stddev = check_float(
            "initializer_stddev", initializer_stddev, min_value=0.0, min_inclusive=False
        )

    def build(self, input_shape):
        # Shape legend: b = batch, (h, w) input grid, (gh, gw) = grid_size, p = prefix tokens, d = hidden_dim.
        _, _, d = _grid_shape(input_shape)
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self._table_rows(), d),
            initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_stddev),
        )
        self.built = True

    def _table_rows(self):
        return self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]

    def call(self, inputs):
        h, w, d = _grid_shape(inputs.shape)
        if not isinstance(h, int) or not isinstance(w, int):
            raise ValueError(
                "PatchPositionEmbedding needs a static grid height and width to resize its table. "
                f"Received: input_shape={tuple(inputs.shape)}."
            )
        table = ops.cast(ops.convert_to_tensor(self.embeddings), "float32")
        prefix, patches = table[: self.num_prefix_tokens], table[self.num_prefix_tokens :]
        if [h, w] != self.grid_size:
            grid = ops.reshape(patches, (self.grid_size[0], self.grid_size[1], d))  # (gh, gw, d)
            patches = ops.reshape(resize_bicubic(grid, (h, w)), (h * w, d))  # (h*w, d)
        positions = ops.concatenate([prefix, patches], axis=0)[None]  # (1, p + h*w, d)
        positions = ops.broadcast_to(positions, (ops.shape(inputs)[0], self.num_prefix_tokens + h * w, d))
        return ops.cast(positions, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        h, w, d = _grid_shape(input_shape)
        length = None if h is None or w is None else self.num_prefix_tokens + h * w
        return (input_shape[0], length, d)

    def count_params_for(self, input_shape):
        return self._table_rows() * _grid_shape(input_shape)[2]

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 at the table's grid; on another grid, the two separable bicubic resize products."""
        h, w, d = _grid_shape(input_shape)
        gh, gw = self.grid_size
        if [h, w] == [gh, gw]:
            return 0
        return matmul_flops(w, gw, gh * d) + matmul_flops(h, gh, w * d)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": list(self.grid_size),
                "num_prefix_tokens": self.num_prefix_tokens,
                "initializer_stddev": self.initializer_stddev,
            }
        )
        return config

