"""The LCM PostNet: model width -> concept (sentence-embedding) space."""

import keras

from dlzoo.blocks.lcm._initializers import check_initializer_arg, resolve_bias, resolve_kernel
from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int


@register_block(
    "concept_postnet",
    paper="arXiv:2412.08821",
    example={"init_kwargs": {"output_dim": 12}, "inputs": (2, 5, 16)},
)
class ConceptPostNet(keras.layers.Layer):
    """PostNet of a Large Concept Model: one biased linear map to concept space.

    The reference `Projection` with its defaults: `Linear(hidden_dim ->
    output_dim)` with a bias and no activation. Its config also has
    `dropout_p` and `layer_normalization_style` fields, which the reference
    never uses, so they are not reproduced. The Two-Tower denoiser's
    `final_proj` is the same layer.

    Args:
        output_dim: int. Size of the concept space (`sonar_embed_dim`: 1024
            for SONAR, 384 for MiniLM).
        use_bias: bool. Bias of the linear map. Defaults to `True`.
        kernel_initializer: str or dict. `"torch_default"` (PyTorch
            `nn.Linear`) or any Keras initializer. Defaults to `"torch_default"`.
        bias_initializer: str or dict. `"torch_default"` or any Keras
            initializer. Defaults to `"torch_default"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, seq_len, hidden_dim)`.

    Returns:
        Tensor `(batch, seq_len, output_dim)`: normalized concept predictions.

    Example:

    >>> layer = dlzoo.lcm.ConceptPostNet(output_dim=12)
    >>> tuple(layer(np.zeros((2, 5, 16))).shape)
    (2, 5, 12)

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.1 (PostNet)
    """

    def __init__(
        self,
        output_dim,
        use_bias=True,
        kernel_initializer="torch_default",
        bias_initializer="torch_default",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = check_initializer_arg("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer_arg("bias_initializer", bias_initializer)

    def build(self, input_shape):
        # Shapes: (b, n, d) -> (b, n, s).
        fan_in = int(input_shape[-1])
        self.projection = keras.layers.Dense(
            self.output_dim,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.get(resolve_kernel(self.kernel_initializer)),
            bias_initializer=keras.initializers.get(resolve_bias(self.bias_initializer, fan_in)),
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(tuple(input_shape))
        self.built = True

    def call(self, inputs):
        return self.projection(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def count_params_for(self, input_shape):
        return int(input_shape[-1]) * self.output_dim + (self.output_dim if self.use_bias else 0)

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the projection to `output_dim`."""
        return dense_flops(input_shape, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
            }
        )
        return config
