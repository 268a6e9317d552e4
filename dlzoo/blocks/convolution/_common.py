"""Helpers shared by the convolution blocks: image shapes, output sizes, weight counts (private).

Nothing here is registered. Every block of this package works on
channels-last images `(batch, height, width, channels)`.
"""

import math

from dlzoo.registry import count_weights
from dlzoo.validation import check_choice

# "same": Keras/TensorFlow padding (output size ceil(n / stride); an odd amount of padding puts the extra
# row/column at the bottom/right). "valid": no padding. "symmetric": kernel_size // 2 on every side
# (PyTorch's `padding=kernel_size // 2`).
PADDINGS = ("same", "valid", "symmetric")


def image_channels(input_shape, owner):
    """The (known) channel count of an image batch shape; a ValueError for any other shape."""
    if len(input_shape) != 4:
        raise ValueError(
            f"{owner} expects images of shape (batch, height, width, channels). "
            f"Received: input_shape={tuple(input_shape)}."
        )
    if input_shape[-1] is None:
        raise ValueError(f"{owner}: the channel axis must have a known size. Received: input_shape={tuple(input_shape)}.")
    return int(input_shape[-1])


def check_padding(name, value):
    return check_choice(name, value, PADDINGS)


def symmetric_padding(kernel_size):
    """Pixels added on each side by `padding="symmetric"`."""
    return kernel_size // 2


def output_size(size, kernel_size, strides, padding):
    """Spatial output size of a convolution or pooling window (`None` stays `None`)."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / strides)
    pad = symmetric_padding(kernel_size) if padding == "symmetric" else 0
    return (size + 2 * pad - kernel_size) // strides + 1


def elements(shape):
    """Number of elements of a concrete shape (batch included)."""
    return math.prod(int(d) for d in shape)


def fixed_weights(layer, input_shape):
    """Weights of an unbuilt sub-layer that no gradient updates (a BatchNorm's moving mean and variance)."""
    shape = tuple(input_shape)
    return count_weights(layer, shape) - count_weights(layer, shape, trainable_only=True)
