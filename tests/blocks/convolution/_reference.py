"""Float64 NumPy references for the convolution block tests (written from the papers' and frameworks' formulas).

Images are channels-last `(batch, height, width, channels)`; kernels are
`(kh, kw, in_channels / groups, out_channels)`.
"""

import math

import numpy as np


def pad_amounts(size, kernel_size, strides, padding):
    """(before, after) padding of one spatial axis.

    "symmetric": kernel_size // 2 on both sides (PyTorch `padding=k // 2`).
    "same": TensorFlow's rule, total = max((ceil(n / s) - 1) * s + k - n, 0),
    the odd pixel after (bottom/right). "valid": none.
    """
    if padding == "symmetric":
        return kernel_size // 2, kernel_size // 2
    if padding == "same":
        total = max((math.ceil(size / strides) - 1) * strides + kernel_size - size, 0)
        return total // 2, total - total // 2
    return 0, 0


def conv2d(x, kernel, strides=1, padding="valid", groups=1, bias=None):
    """Grouped 2D cross-correlation, written out as loops over output positions."""
    x = np.asarray(x, "float64")
    kernel = np.asarray(kernel, "float64")
    b, h, w, c = x.shape
    k, _, cin, f = kernel.shape
    assert cin * groups == c and f % groups == 0
    (top, bottom), (left, right) = pad_amounts(h, k, strides, padding), pad_amounts(w, k, strides, padding)
    x = np.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)])
    out_h, out_w = (x.shape[1] - k) // strides + 1, (x.shape[2] - k) // strides + 1
    out = np.zeros((b, out_h, out_w, f))
    per_group = f // groups
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * strides:i * strides + k, j * strides:j * strides + k, :]  # (b, k, k, c)
            for g in range(groups):
                channels = window[..., g * cin:(g + 1) * cin]
                outputs = slice(g * per_group, (g + 1) * per_group)
                out[:, i, j, outputs] = np.einsum("bxyc,xycf->bf", channels, kernel[..., outputs])
    return out if bias is None else out + bias


def depthwise_as_grouped(kernel):
    """A Keras depthwise kernel `(k, k, c, m)` as a grouped kernel `(k, k, 1, c * m)` (output i * m + j)."""
    k, _, c, m = kernel.shape
    return np.asarray(kernel).reshape(k, k, 1, c * m)


def batch_norm(x, gamma, beta, mean, variance, epsilon):
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def relu(x):
    return np.maximum(x, 0.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def squeeze_excitation(x, w1, b1, w2, b2, activation=relu, gate=sigmoid):
    """Hu et al. (2018), equations 2-4: x * gate(W2 act(W1 mean_hw(x) + b1) + b2)."""
    z = x.mean(axis=(1, 2))  # (b, c)
    s = gate(activation(z @ w1 + b1) @ w2 + b2)
    return x * s[:, None, None, :]


def random_batch_norm(rng, channels):
    """Random BN parameters and statistics (positive variances): defaults would hide mistakes."""
    return {
        "gamma": rng.uniform(0.5, 1.5, channels),
        "beta": rng.normal(0, 0.5, channels),
        "mean": rng.normal(0, 0.5, channels),
        "variance": rng.uniform(0.5, 2.0, channels),
    }


def assign_batch_norm(layer, values):
    """Copy `random_batch_norm` values into a built `keras.layers.BatchNormalization`."""
    for name, key in (("gamma", "gamma"), ("beta", "beta"), ("moving_mean", "mean"), ("moving_variance", "variance")):
        getattr(layer, name).assign(np.asarray(values[key], "float32"))


def as_float32(values):
    """Round every array of a dict to float32 and back, so the reference sees the layer's exact weights."""
    return {k: np.asarray(v, "float32").astype("float64") for k, v in values.items()}


def randomize_conv_norm(layer, rng, scale=0.3):
    """Random kernel and BN values for a built `ConvNormAct`; returns them (float32-rounded, float64)."""
    values = {"kernel": rng.standard_normal(tuple(layer.conv.kernel.shape)) * scale, **random_batch_norm(rng, layer.filters)}
    layer.conv.kernel.assign(values["kernel"].astype("float32"))
    assign_batch_norm(layer.norm_layer, values)
    return as_float32(values)


def conv_bn(x, values, strides, padding, epsilon, groups=1):
    """conv2d (no bias) then inference batch norm, from `randomize_conv_norm` values."""
    kernel = values["kernel"]
    if groups > 1 and kernel.shape[2] != x.shape[-1] // groups:
        kernel = depthwise_as_grouped(kernel)
    y = conv2d(x, kernel, strides=strides, padding=padding, groups=groups)
    return batch_norm(y, values["gamma"], values["beta"], values["mean"], values["variance"], epsilon)
