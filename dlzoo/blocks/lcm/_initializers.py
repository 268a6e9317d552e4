"""Keras initializers that reproduce the reference LCM's PyTorch / fairseq2 initialization.

Private helpers (plain-data initializer configs, so configs stay JSON):

* `"torch_default"`: what `torch.nn.Linear` does (fairseq2 "kaiming_uniform"):
  kernel `U(+-1/sqrt(fan_in))` (kaiming-uniform with a = sqrt(5)), i.e.
  `VarianceScaling(1/3, "fan_in", "uniform")`, and bias `U(+-1/sqrt(fan_in))`.
* fairseq2 attention: q/k/v kernels xavier-uniform with gain `2**-0.5`, the
  output kernel xavier-uniform (gain 1). Keras computes the fans of the 3-D
  `EinsumDense` kernels differently from a 2-D `(d, d)` matrix, so the
  `VarianceScaling` scale is corrected to give the same variance.
"""

import math

import keras

TORCH_DEFAULT = "torch_default"


def _variance_scaling(scale, mode, distribution="uniform"):
    return {
        "module": "keras.initializers",
        "class_name": "VarianceScaling",
        "config": {"scale": float(scale), "mode": mode, "distribution": distribution, "seed": None},
        "registered_name": None,
    }


def _uniform(bound):
    return {
        "module": "keras.initializers",
        "class_name": "RandomUniform",
        "config": {"minval": -float(bound), "maxval": float(bound), "seed": None},
        "registered_name": None,
    }


def torch_linear_kernel():
    """`torch.nn.Linear` weight init: `U(+-1/sqrt(fan_in))` (variance `1 / (3 fan_in)`)."""
    return _variance_scaling(1.0 / 3.0, "fan_in")


def torch_linear_bias(fan_in):
    """`torch.nn.Linear` bias init: `U(+-1/sqrt(fan_in))`."""
    return _uniform(1.0 / math.sqrt(max(int(fan_in), 1)))


def resolve_kernel(value):
    return torch_linear_kernel() if value == TORCH_DEFAULT else value


def resolve_bias(value, fan_in):
    return torch_linear_bias(fan_in) if value == TORCH_DEFAULT else value


def qkv_kernel(num_heads, head_dim):
    """Xavier-uniform, gain 2**-0.5, of a `(d, d)` projection, for a `(d, heads, head_dim)` kernel.

    Wanted variance `gain^2 * 2 / (d + d) = 1 / (2 d)`; Keras' fan average of
    the 3-D kernel is `d * (heads + head_dim) / 2`, hence
    `scale = (heads + head_dim) / 4`.
    """
    return _variance_scaling((num_heads + head_dim) / 4.0, "fan_avg")


def output_kernel(num_heads):
    """Xavier-uniform (gain 1) of a `(d, d)` projection, for a `(heads, head_dim, d)` kernel.

    Wanted variance `1 / d`; Keras' fan average is `d * (1 + heads) / 2`.
    """
    return _variance_scaling((1.0 + num_heads) / 2.0, "fan_avg")


def check_initializer_arg(name, value):
    """`"torch_default"`, a Keras initializer name, or a config dict."""
    if value == TORCH_DEFAULT:
        return value
    if isinstance(value, keras.initializers.Initializer):
        return keras.initializers.serialize(value)
    if not isinstance(value, (str, dict)):
        raise TypeError(
            f"`{name}` must be 'torch_default', a Keras initializer name or a config dict. "
            f"Received: {name}={value!r} of type {type(value).__name__}."
        )
    try:
        keras.initializers.get(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"`{name}` is not a known initializer ({exc}). Received: {name}={value!r}.") from None
    return value
