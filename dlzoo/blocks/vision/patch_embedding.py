"""Patch embedding: a strided convolution that cuts an image into non-overlapping patches."""

import keras

from dlzoo.flops import conv_flops
from dlzoo.registry import count_weights, get_block, register_block
from dlzoo.validation import check_bool, check_choice, check_float, check_positive_int, check_registered

NORM_POSITIONS = ("post", "pre", "none")


def _image_shape(input_shape, owner):
    if len(input_shape) != 4:
        raise ValueError(
            f"{owner} expects images of shape (batch, height, width, channels). "
            f"Received: input_shape={tuple(input_shape)}."
        )
    if input_shape[-1] is None:
        raise ValueError(f"The channel axis must have a known size. Received: input_shape={tuple(input_shape)}.")
    return input_shape[1], input_shape[2], int(input_shape[-1])


@register_block(
    "patch_embedding",
    paper="arXiv:2010.11929",
    example={"init_kwargs": {"hidden_dim": 8, "patch_size": 2}, "inputs": (2, 4, 4, 3)},
)
class PatchEmbedding(keras.layers.Layer):
    """Patch embedding ("patchify"): a `patch_size`-strided convolution over non-overlapping patches.

    Each `patch_size x patch_size` patch is linearly projected to
    `hidden_dim` features (a convolution whose kernel size equals its
    stride), so an `(h, w, c)` image becomes an `(h/p, w/p, hidden_dim)`
    grid. ViT flattens that grid into tokens; ConvNeXt keeps it as a feature
    map and uses the same layer twice: as its stem (4x4 patches, then a
    LayerNorm: `norm_position="post"`) and, with 2x2 patches, as the
    downsampling layer between stages (a LayerNorm first:
    `norm_position="pre"`).

    Args:
        hidden_dim: int. Output features per patch.
        patch_size: int. Side of the square patches (= stride). Defaults to `4`.
        norm: str. Registered normalization block. Defaults to `"layer_norm"`.
        norm_position: str. `"post"` (normalize the embeddings: a ConvNeXt
            stem), `"pre"` (normalize the input: a ConvNeXt downsampling
            layer) or `"none"` (ViT). Defaults to `"post"`.
        norm_epsilon: float. Epsilon of the normalization. Defaults to `1e-6`.
        use_bias: bool. Bias in the projection. Defaults to `True`.
        kernel_initializer: str. Initializer of the projection kernel.
            Defaults to `"glorot_uniform"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, height, width, channels)`; height and
            width must be multiples of `patch_size`.

    Returns:
        Tensor of shape `(batch, height / patch_size, width / patch_size, hidden_dim)`.

    Example:

    >>> layer = dlzoo.blocks.PatchEmbedding(hidden_dim=16, patch_size=2)
    >>> tuple(layer(np.zeros((2, 8, 8, 1))).shape)
    (2, 4, 4, 16)

    Reference:
        - [Dosovitskiy et al., 2020. An Image is Worth 16x16 Words](https://arxiv.org/abs/2010.11929), section 3.1
        - [Liu et al., 2022. A ConvNet for the 2020s](https://arxiv.org/abs/2201.03545), section 2.2
          ("patchify" stem, separate downsampling layers)
    """

    def __init__(
        self,
        hidden_dim,
        patch_size=4,
        norm="layer_norm",
        norm_position="post",
        norm_epsilon=1e-6,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.norm = check_registered("norm", norm)
        self.norm_position = check_choice("norm_position", norm_position, NORM_POSITIONS)
        self.norm_epsilon = check_float("norm_epsilon", norm_epsilon, min_value=0.0)
        self.use_bias = check_bool("use_bias", use_bias)
        if not isinstance(kernel_initializer, str):
            raise TypeError(
                f"`kernel_initializer` must be an initializer name. Received: kernel_initializer={kernel_initializer!r}."
            )
        keras.initializers.get(kernel_initializer)
        self.kernel_initializer = kernel_initializer
        self._norm_cls = get_block(self.norm)

    def _check_divisible(self, input_shape):
        h, w, _ = _image_shape(input_shape, "PatchEmbedding")
        for axis, size in (("height", h), ("width", w)):
            if size is not None and size % self.patch_size:
                raise ValueError(
                    f"The image {axis} must be a multiple of `patch_size`. "
                    f"Received: patch_size={self.patch_size}, input_shape={tuple(input_shape)}."
                )

    def build(self, input_shape):
        # Shape legend: b = batch, (h, w, c) input, p = patch_size, d = hidden_dim.
        self._check_divisible(input_shape)
        self.norm_layer = None
        if self.norm_position != "none":
            self.norm_layer = self._norm_cls(epsilon=self.norm_epsilon, dtype=self.dtype_policy, name="norm")
        if self.norm_position == "pre":
            self.norm_layer.build(tuple(input_shape))
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            self.patch_size,
            strides=self.patch_size,
            padding="valid",
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(tuple(input_shape))
        if self.norm_position == "post":
            self.norm_layer.build(self.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs):
        x = inputs
        if self.norm_position == "pre":
            x = self.norm_layer(x)
        x = self.projection(x)  # (b, h/p, w/p, d)
        if self.norm_position == "post":
            x = self.norm_layer(x)
        return x

    def compute_output_shape(self, input_shape):
        h, w, _ = _image_shape(input_shape, "PatchEmbedding")
        p = self.patch_size
        return (input_shape[0], None if h is None else h // p, None if w is None else w // p, self.hidden_dim)

    def count_params_for(self, input_shape):
        self._check_divisible(input_shape)
        _, _, c = _image_shape(input_shape, "PatchEmbedding")
        p, d = self.patch_size, self.hidden_dim
        total = p * p * c * d + (d if self.use_bias else 0)
        if self.norm_position == "pre":
            total += count_weights(self._norm_cls(epsilon=self.norm_epsilon), tuple(input_shape))
        elif self.norm_position == "post":
            total += count_weights(self._norm_cls(epsilon=self.norm_epsilon), self.compute_output_shape(input_shape))
        return total

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the patch convolution (kernel = stride = `patch_size`); norms are not counted."""
        self._check_divisible(input_shape)
        _, _, c = _image_shape(input_shape, "PatchEmbedding")
        p = self.patch_size
        return conv_flops(self.compute_output_shape(tuple(input_shape)), (p, p), c)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "patch_size": self.patch_size,
                "norm": self.norm,
                "norm_position": self.norm_position,
                "norm_epsilon": self.norm_epsilon,
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
