"""Series patching: cut a univariate series into (possibly overlapping) patches of consecutive steps."""

import keras
import numpy as np
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int


def num_patches(length, patch_length, stride, use_end_padding=True):
    """Number of patches of a series of `length` steps (the rule the family sizes its position table by)."""
    if length < patch_length:
        raise ValueError(
            f"The series must be at least `patch_length` steps long. Received: length={length}, "
            f"patch_length={patch_length}."
        )
    return (length - patch_length) // stride + (2 if use_end_padding else 1)


def patch_indices(length, patch_length, stride, use_end_padding=True):
    """`(num_patches, patch_length)` time indices of every patch (NumPy; clipped indices = end padding)."""
    count = num_patches(length, patch_length, stride, use_end_padding)
    # Without padding the patches end exactly at the last step (the first steps are dropped).
    start = 0 if use_end_padding else length - (patch_length + stride * (count - 1))
    index = start + stride * np.arange(count)[:, None] + np.arange(patch_length)[None, :]
    return np.minimum(index, length - 1).astype("int32")


def _series_length(input_shape):
    if len(input_shape) != 2 or input_shape[-1] is None:
        raise ValueError(
            "SeriesPatching expects univariate series of shape (batch, time) with a known length "
            f"(fold the channels into the batch first, e.g. with `channel_independence`). "
            f"Received: input_shape={tuple(input_shape)}."
        )
    return int(input_shape[-1])


@register_block(
    "series_patching",
    paper="arXiv:2211.14730",
    example={"init_kwargs": {"patch_length": 4, "stride": 2}, "inputs": (3, 10)},
)
class SeriesPatching(keras.layers.Layer):
    """Patching: a series of `time` steps becomes `num_patches` patches of `patch_length` steps.

    PatchTST's first idea: a single time step carries almost no meaning (a
    word is not one letter), so the Transformer's tokens are *patches* of
    `patch_length` consecutive values, taken every `stride` steps. That
    gives tokens with local semantics, and cuts the sequence the attention
    sees from `time` to about `time / stride` tokens (the cost of attention
    falls quadratically with it), so a longer look-back fits.

    With `use_end_padding=True` (the paper), the series is first extended by
    `stride` copies of its last value, giving
    `num_patches = (time - patch_length) // stride + 2` and a last patch that
    repeats the last value. With `use_end_padding=False` (Hugging Face
    `PatchTSTPatchify`), nothing is added, `num_patches = (time -
    patch_length) // stride + 1`, and the first `(time - patch_length) %
    stride` steps are dropped so that the last patch ends at the last step.

    Args:
        patch_length: int. Steps per patch.
        stride: int. Steps between the starts of consecutive patches
            (`stride < patch_length` overlaps them).
        use_end_padding: bool. Pad the end by repeating the last value
            `stride` times. Defaults to `True`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, time)` with a known `time`.

    Returns:
        Tensor `(batch, num_patches, patch_length)`.

    Example:

    >>> layer = dlzoo.blocks.SeriesPatching(patch_length=4, stride=2)
    >>> tuple(layer(np.zeros((3, 10))).shape)
    (3, 5, 4)

    Reference:
        - [Nie et al., 2023. A Time Series is Worth 64 Words: Long-term Forecasting with Transformers (PatchTST)](https://arxiv.org/abs/2211.14730), section 3.1
    """

    def __init__(self, patch_length, stride, use_end_padding=True, **kwargs):
        super().__init__(**kwargs)
        self.patch_length = check_positive_int("patch_length", patch_length)
        self.stride = check_positive_int("stride", stride)
        self.use_end_padding = check_bool("use_end_padding", use_end_padding)

    def build(self, input_shape):
        # A constant of the static length, made here so that tracing `call` (export) needs no NumPy on shapes.
        self._patch_index = patch_indices(
            _series_length(input_shape), self.patch_length, self.stride, self.use_end_padding
        )
        self.built = True

    def call(self, inputs):
        # Shape legend: b = batch, t = time, n = num_patches, p = patch_length.
        return ops.take(inputs, ops.convert_to_tensor(self._patch_index), axis=1)  # (b, n, p)

    def compute_output_shape(self, input_shape):
        count = num_patches(_series_length(input_shape), self.patch_length, self.stride, self.use_end_padding)
        return (input_shape[0], count, self.patch_length)

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a gather; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(
            {"patch_length": self.patch_length, "stride": self.stride, "use_end_padding": self.use_end_padding}
        )
        return config
