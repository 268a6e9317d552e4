"""Gated feed-forward network (GLU variants): `out(act(gate(x)) * inner(x))`."""

import math

import keras

from dlzoo.blocks.feedforward._common import (
    check_activation,
    check_initializer,
    get_activation,
    last_dim,
    make_initializer,
    output_width,
    project_shape,
)
from dlzoo.flops import matmul_flops, rows
from dlzoo.registry import register_block, register_block_configuration
from dlzoo.validation import check_bool, check_float, check_positive_int, check_rate


def glu_inner_dim(intermediate_dim, width_factor=1.0, multiple_of=1):
    """Actual inner width of a gated FFN: scale, floor, then round up to a multiple.

    `multiple_of * ceil(floor(intermediate_dim * width_factor) / multiple_of)`,
    the Llama / fairseq2 (Meta LCM) rule. With `width_factor=2/3` a gated FFN
    has about the parameters of an ungated one of width `intermediate_dim`.

    >>> glu_inner_dim(8192, width_factor=2 / 3, multiple_of=256)
    5632
    """
    intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
    width_factor = check_float("width_factor", width_factor, min_value=0.0, min_inclusive=False)
    multiple_of = check_positive_int("multiple_of", multiple_of)
    scaled = int(math.floor(intermediate_dim * width_factor))
    if scaled < 1:
        raise ValueError(
            "`intermediate_dim * width_factor` must be at least 1. "
            f"Received: intermediate_dim={intermediate_dim}, width_factor={width_factor}."
        )
    return multiple_of * ((scaled + multiple_of - 1) // multiple_of)


class _InnerDim:
    """`GatedLinearUnit.inner_dim(...)` computes a width; `layer.inner_dim` is the layer's."""

    def __get__(self, obj, objtype=None):
        if obj is None:
            return glu_inner_dim
        return glu_inner_dim(obj.intermediate_dim, obj.width_factor, obj.multiple_of)


@register_block(
    "gated_linear_unit",
    paper="arXiv:2002.05202",
    example={"init_kwargs": {"intermediate_dim": 24, "activation": "silu"}, "inputs": (2, 5, 16)},
)
class GatedLinearUnit(keras.layers.Layer):
    """Gated feed-forward network: `output_proj(act(gate_proj(x)) * inner_proj(x))`.

    The first linear map of the Transformer FFN is replaced by the
    component-wise product of two projections, one of them passed through an
    activation (the gate). `activation="silu"` is SwiGLU, `"gelu"` GEGLU,
    `"relu"` ReGLU, `"sigmoid"` the original GLU and `"linear"` the bilinear
    layer. There are three weight matrices instead of two, so to keep the
    parameter count of an ungated FFN of width `intermediate_dim`, set
    `width_factor=2/3` (and usually `multiple_of=256` for hardware-friendly
    widths). The actual inner width is

        inner_dim = multiple_of * ceil(floor(intermediate_dim * width_factor) / multiple_of)

    e.g. 8192 -> 5632 and 16384 -> 11008 with `width_factor=2/3,
    multiple_of=256` (Llama, Meta LCM). `GatedLinearUnit.inner_dim(...)`
    computes it without building a layer, and `layer.inner_dim` is the
    layer's own width.

    Args:
        intermediate_dim: int. Nominal inner width, before `width_factor` and
            `multiple_of` are applied.
        activation: str. Name of a Keras activation applied to the gate.
            `"gelu"` is the exact (erf) GELU, `"gelu_approximate"` its tanh
            form. Defaults to `"silu"`.
        use_bias: bool. Whether the three projections have biases. Defaults
            to `False` (as in the paper; Meta LCM uses biases).
        dropout: float. Dropout rate on the block's output, after the output
            projection. Defaults to `0.0`.
        kernel_initializer: str or dict. Initializer of the three kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: str or dict. Initializer of the biases. Defaults to
            `"zeros"`.
        output_dim: int. Width of the output. `None` keeps the input width
            (`hidden_dim`). Defaults to `None`.
        width_factor: float. Multiplies `intermediate_dim` (result floored).
            Defaults to `1.0`.
        multiple_of: int. The inner width is rounded up to a multiple of
            this. Defaults to `1`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., hidden_dim)`.
        training: bool. Whether dropout is active.

    Returns:
        Tensor of shape `(..., output_dim or hidden_dim)`.

    Example:

    >>> layer = dlzoo.blocks.GatedLinearUnit(intermediate_dim=24)
    >>> tuple(layer(np.zeros((2, 5, 16))).shape)
    (2, 5, 16)
    >>> dlzoo.blocks.GatedLinearUnit.inner_dim(16384, width_factor=2 / 3, multiple_of=256)
    11008

    Notes:
        Dropout sits on the output, not on the gated hidden units (the paper
        trains without dropout; fairseq2/LCM has none inside the FFN). The
        paper's equations are written without biases; `use_bias=True` adds
        one to each projection.

    Reference:
        - [Shazeer, 2020. GLU Variants Improve Transformer](https://arxiv.org/abs/2002.05202)
        - [Dauphin et al., 2017. Language Modeling with Gated Convolutional Networks](https://arxiv.org/abs/1612.08083)
    """

    inner_dim = _InnerDim()

    def __init__(
        self,
        intermediate_dim,
        activation="silu",
        use_bias=False,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        output_dim=None,
        width_factor=1.0,
        multiple_of=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.activation = check_activation("activation", activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self.dropout = check_rate("dropout", dropout)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer("bias_initializer", bias_initializer)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.width_factor = check_float("width_factor", width_factor, min_value=0.0, min_inclusive=False)
        self.multiple_of = check_positive_int("multiple_of", multiple_of)
        glu_inner_dim(self.intermediate_dim, self.width_factor, self.multiple_of)  # validates the product
        self._activation_fn = get_activation(self.activation)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def _dense(self, units, name):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=make_initializer(self.kernel_initializer),
            bias_initializer=make_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        # Shape legend: ... = any leading axes, d = hidden_dim,
        # f = inner_dim (after width_factor / multiple_of), o = output_dim (or d).
        d = last_dim(input_shape, type(self).__name__)
        f = self.inner_dim
        self.gate_proj = self._dense(f, "gate_proj")
        self.gate_proj.build(tuple(input_shape))
        self.inner_proj = self._dense(f, "inner_proj")
        self.inner_proj.build(tuple(input_shape))
        self.output_proj = self._dense(output_width(d, self.output_dim), "output_proj")
        self.output_proj.build(tuple(input_shape[:-1]) + (f,))
        self.built = True

    def call(self, inputs, training=None):
        hidden = self._activation_fn(self.gate_proj(inputs)) * self.inner_proj(inputs)  # (..., f)
        return self.dropout_layer(self.output_proj(hidden), training=training)  # (..., o)

    def compute_output_shape(self, input_shape):
        return project_shape(input_shape, self.output_dim)

    def count_params_for(self, input_shape):
        d = last_dim(input_shape, type(self).__name__)
        f = self.inner_dim
        o = output_width(d, self.output_dim)
        bias = (2 * f + o) if self.use_bias else 0
        return 2 * d * f + f * o + bias

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: gate, inner and output projections (`2 * rows * (2*d*f + f*o)`; see `dlzoo.flops`)."""
        d = last_dim(input_shape, type(self).__name__)
        f = self.inner_dim
        o = output_width(d, self.output_dim)
        return 2 * matmul_flops(rows(input_shape), d, f) + matmul_flops(rows(input_shape), f, o)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": self.activation,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "output_dim": self.output_dim,
                "width_factor": self.width_factor,
                "multiple_of": self.multiple_of,
            }
        )
        return config


SwiGLU = register_block_configuration(
    "swiglu",
    GatedLinearUnit,
    class_name="SwiGLU",
    paper="arXiv:2002.05202",
    summary="SwiGLU feed-forward network: `output_proj(silu(gate_proj(x)) * inner_proj(x))` (PaLM, Llama, Meta's LCM).",
    activation="silu",
)
GeGLU = register_block_configuration(
    "geglu",
    GatedLinearUnit,
    class_name="GeGLU",
    paper="arXiv:2002.05202",
    summary="GEGLU feed-forward network: `output_proj(gelu(gate_proj(x)) * inner_proj(x))` with the exact (erf) GELU.",
    activation="gelu",
)
