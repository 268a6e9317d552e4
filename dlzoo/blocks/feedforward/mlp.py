"""Position-wise feed-forward network: two linear maps with an activation between."""

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
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int, check_rate


@register_block(
    "mlp",
    paper="arXiv:1706.03762",
    example={"init_kwargs": {"intermediate_dim": 32}, "inputs": (2, 5, 16)},
)
class MLP(keras.layers.Layer):
    """Position-wise feed-forward network (the Transformer FFN).

    Computes `output_proj(act(inner_proj(x)))`, applied independently to
    every position: `hidden_dim -> intermediate_dim -> output_dim`. With
    `activation="relu"` this is the FFN of the original Transformer
    (`max(0, x W1 + b1) W2 + b2`); `"gelu"` gives the BERT/GPT form.

    Args:
        intermediate_dim: int. Width of the hidden (inner) layer.
        activation: str. Name of a Keras activation, applied after the inner
            projection. `"gelu"` is the exact (erf) GELU and
            `"gelu_approximate"` its tanh approximation. Defaults to `"gelu"`.
        use_bias: bool. Whether both projections have a bias. Defaults to
            `True`.
        dropout: float. Dropout rate on the block's output, after the output
            projection. Defaults to `0.0`.
        kernel_initializer: str or dict. Initializer of both kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: str or dict. Initializer of both biases. Defaults
            to `"zeros"`.
        output_dim: int. Width of the output. `None` keeps the input width
            (`hidden_dim`). Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., hidden_dim)`.
        training: bool. Whether dropout is active.

    Returns:
        Tensor of shape `(..., output_dim or hidden_dim)`.

    Example:

    >>> layer = dlzoo.blocks.MLP(intermediate_dim=32)
    >>> tuple(layer(np.zeros((2, 5, 16))).shape)
    (2, 5, 16)

    Notes:
        Dropout sits on the output (as the paper's residual dropout, "applied
        to the output of each sub-layer"), not between the two projections.
        If the enclosing residual block already applies dropout to the
        branch, leave `dropout=0.0` here to avoid dropping twice.

    Reference:
        - [Vaswani et al., 2017. Attention Is All You Need](https://arxiv.org/abs/1706.03762), section 3.3
    """

    def __init__(
        self,
        intermediate_dim,
        activation="gelu",
        use_bias=True,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        output_dim=None,
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
        # f = intermediate_dim, o = output_dim (or d).
        d = last_dim(input_shape, "MLP")
        self.inner_proj = self._dense(self.intermediate_dim, "inner_proj")
        self.inner_proj.build(tuple(input_shape))
        self.output_proj = self._dense(output_width(d, self.output_dim), "output_proj")
        self.output_proj.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.built = True

    def call(self, inputs, training=None):
        hidden = self._activation_fn(self.inner_proj(inputs))  # (..., f)
        return self.dropout_layer(self.output_proj(hidden), training=training)  # (..., o)

    def compute_output_shape(self, input_shape):
        return project_shape(input_shape, self.output_dim)

    def count_params_for(self, input_shape):
        d = last_dim(input_shape, "MLP")
        f = self.intermediate_dim
        o = output_width(d, self.output_dim)
        bias = (f + o) if self.use_bias else 0
        return d * f + f * o + bias

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the two projections (`2 * rows * (d*f + f*o)`; see `dlzoo.flops`)."""
        d = last_dim(input_shape, "MLP")
        f = self.intermediate_dim
        o = output_width(d, self.output_dim)
        return matmul_flops(rows(input_shape), d, f) + matmul_flops(rows(input_shape), f, o)

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
            }
        )
        return config
