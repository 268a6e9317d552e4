"""Unpatchify: a sequence of patch tokens back to an image (the inverse of patchify)."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_positive_int


@register_block(
    "unpatchify",
    paper="arXiv:2212.09748",
    example={"init_kwargs": {"patch_size": 2, "height": 4, "width": 6}, "inputs": (2, 6, 12)},
)
class Unpatchify(keras.layers.Layer):
    """Unpatchify: `(batch, tokens, p * p * c)` patch tokens to a `(batch, height, width, c)` image.

    The inverse of cutting an image into `p x p` patches in row-major order
    (token `i * (width / p) + j` is the patch at grid row `i`, column `j`)
    and flattening each patch as `(p_row, p_column, channel)`: the layout of
    DiT's `unpatchify` (`x.reshape(n, h, w, p, p, c)`,
    `einsum("nhwpqc->nchpwq")`) in channels-last form, and the flattening
    order of a `p x p`-strided convolution kernel (`PatchEmbedding`), so
    unpatchify after a linear map to `p * p * c` features undoes the patch
    embedding's cut. No weights.

    Args:
        patch_size: int. Side `p` of the square patches.
        height: int. Image height; a multiple of `patch_size`.
        width: int. Image width; a multiple of `patch_size`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, (height / p) * (width / p), p * p * c)`.

    Returns:
        Tensor `(batch, height, width, c)`.

    Example:

    >>> layer = dlzoo.blocks.Unpatchify(patch_size=2, height=8, width=8)
    >>> tuple(layer(np.zeros((2, 16, 12))).shape)
    (2, 8, 8, 3)

    Reference:
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748), section 3.2
        - [Dosovitskiy et al., 2020. An Image is Worth 16x16 Words](https://arxiv.org/abs/2010.11929)
    """

    def __init__(self, patch_size, height, width, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.height = check_positive_int("height", height)
        self.width = check_positive_int("width", width)
        for name, size in (("height", self.height), ("width", self.width)):
            if size % self.patch_size:
                raise ValueError(
                    f"`{name}` must be a multiple of `patch_size`. "
                    f"Received: {name}={size}, patch_size={self.patch_size}."
                )

    def _channels(self, input_shape):
        input_shape = tuple(input_shape)
        p = self.patch_size
        tokens = (self.height // p) * (self.width // p)
        if len(input_shape) != 3 or input_shape[-1] is None or input_shape[-1] % (p * p):
            raise ValueError(
                "`Unpatchify` needs tokens (batch, tokens, patch_size * patch_size * channels). "
                f"Received: input_shape={input_shape}, patch_size={p}."
            )
        if input_shape[1] is not None and input_shape[1] != tokens:
            raise ValueError(
                f"`Unpatchify` needs (height / patch_size) * (width / patch_size) = {tokens} tokens. "
                f"Received: input_shape={input_shape}, height={self.height}, width={self.width}, patch_size={p}."
            )
        return input_shape[-1] // (p * p)

    def build(self, input_shape):
        self._channels(input_shape)
        self.built = True

    def call(self, inputs):
        # Einstein notation: b batch, i/j grid row/column, p/q row/column
        # inside a patch, c channels.
        p = self.patch_size
        grid_h, grid_w = self.height // p, self.width // p
        channels = inputs.shape[-1] // (p * p)
        x = ops.reshape(inputs, (-1, grid_h, grid_w, p, p, channels))  # b i j p q c
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # b i p j q c
        return ops.reshape(x, (-1, self.height, self.width, channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, self._channels(input_shape))

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a reshape, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "height": self.height, "width": self.width})
        return config
