"""GeGLU: the gated feed-forward network with a GELU gate."""

from dlzoo.blocks.feedforward.gated_linear_unit import GatedLinearUnit
from dlzoo.registry import register_block


@register_block(
    "geglu",
    paper="arXiv:2002.05202",
    example={"init_kwargs": {"intermediate_dim": 24}, "inputs": (2, 5, 16)},
)
class GeGLU(GatedLinearUnit):
    """GEGLU feed-forward network: `output_proj(gelu(gate_proj(x)) * inner_proj(x))`.

    `GatedLinearUnit` with the activation fixed to the exact (erf) GELU. In
    the paper GEGLU and SwiGLU gave the best perplexities of the GLU
    variants. Use `width_factor=2/3` to match the parameters of an ungated
    FFN of width `intermediate_dim` (see `GeGLU.inner_dim`).

    Args:
        intermediate_dim: int. Nominal inner width, before `width_factor` and
            `multiple_of` are applied.
        use_bias: bool. Whether the three projections have biases. Defaults
            to `False`.
        dropout: float. Dropout rate on the block's output, after the output
            projection. Defaults to `0.0`.
        kernel_initializer: str or dict. Initializer of the three kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: str or dict. Initializer of the biases. Defaults to
            `"zeros"`.
        output_dim: int. Width of the output. `None` keeps the input width.
            Defaults to `None`.
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

    >>> layer = dlzoo.blocks.GeGLU(intermediate_dim=24)
    >>> tuple(layer(np.zeros((2, 5, 16))).shape)
    (2, 5, 16)

    Reference:
        - [Shazeer, 2020. GLU Variants Improve Transformer](https://arxiv.org/abs/2002.05202)
    """

    def __init__(
        self,
        intermediate_dim,
        use_bias=False,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        output_dim=None,
        width_factor=1.0,
        multiple_of=1,
        **kwargs,
    ):
        super().__init__(
            intermediate_dim,
            activation="gelu",
            use_bias=use_bias,
            dropout=dropout,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            output_dim=output_dim,
            width_factor=width_factor,
            multiple_of=multiple_of,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config
