"""DiT's final layer: an adaptively modulated LayerNorm, then a linear map to patch pixels."""

import keras

from dlzoo.blocks.feedforward._common import check_initializer, make_initializer
from dlzoo.blocks.normalization.ada_ln_zero import AdaLNZero, modulate
from dlzoo.blocks.normalization.layer_norm import LayerNorm
from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_float, check_positive_int


@register_block(
    "dit_final_layer",
    paper="arXiv:2212.09748",
    example={
        "init_kwargs": {"patch_size": 2, "output_channels": 3, "kernel_initializer": "glorot_uniform"},
        "inputs": {"inputs": (2, 5, 16), "condition": (2, 8)},
    },
)
class DiTFinalLayer(keras.layers.Layer):
    """DiT's final layer: `Linear(modulate(LayerNorm(x), shift, scale))` to `p * p * c` values per token.

    With `(shift, scale) = Linear(SiLU(condition))` (an `AdaLNZero`
    modulator without gate, zero-initialised) and a LayerNorm without
    affine parameters, each token `x` becomes
    `W (LN(x) * (1 + scale) + shift) + b`, the `p * p * output_channels`
    values of its patch (decoded to an image by `Unpatchify`). DiT
    initialises the output linear at zero too, so the whole model predicts
    zero at the start of training.

    Args:
        patch_size: int. Side `p` of the square patches.
        output_channels: int. Channels `c` per pixel (2x the input channels
            with learned sigma).
        norm_epsilon: float. Epsilon of the LayerNorm. Defaults to `1e-6`.
        kernel_initializer: str or dict. Initializer of the output kernel.
            Defaults to `"zeros"` (DiT).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, tokens, hidden_dim)`.
        condition: Tensor `(batch, cond_dim)`: the timestep + class embedding.

    Returns:
        Tensor `(batch, tokens, patch_size * patch_size * output_channels)`.

    Example:

    >>> layer = dlzoo.blocks.DiTFinalLayer(patch_size=2, output_channels=4)
    >>> tuple(layer(np.zeros((2, 16, 32)), condition=np.zeros((2, 32))).shape)
    (2, 16, 16)

    Reference:
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748), section 3.2
    """

    def __init__(self, patch_size, output_channels, norm_epsilon=1e-6, kernel_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.output_channels = check_positive_int("output_channels", output_channels)
        self.norm_epsilon = check_float("norm_epsilon", norm_epsilon, min_value=0.0)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.norm = LayerNorm(
            epsilon=self.norm_epsilon, use_scale=False, use_bias=False, dtype=self.dtype_policy, name="norm"
        )
        self.output_proj = keras.layers.Dense(
            self.patch_size * self.patch_size * self.output_channels,
            kernel_initializer=make_initializer(self.kernel_initializer),
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="output_proj",
        )

    def _make_modulation(self, hidden_dim):
        return AdaLNZero(hidden_dim, use_gate=False, dtype=self.dtype_policy, name="modulation")

    def build(self, inputs_shape, condition_shape=None):
        # Shapes: inputs (b, t, d); condition (b, e); output (b, t, p * p * c).
        inputs_shape = tuple(inputs_shape)
        hidden_dim = int(inputs_shape[-1])
        condition_shape = (inputs_shape[0], hidden_dim) if condition_shape is None else tuple(condition_shape)
        self.norm.build(inputs_shape)
        self.modulation = self._make_modulation(hidden_dim)
        self.modulation.build(condition_shape)
        self.output_proj.build(inputs_shape)
        self.built = True

    def call(self, inputs, condition):
        shift, scale = self.modulation(condition)
        return self.output_proj(modulate(self.norm(inputs), shift, scale))

    def compute_output_shape(self, inputs_shape, condition_shape=None):
        return tuple(inputs_shape[:-1]) + (self.patch_size * self.patch_size * self.output_channels,)

    def count_params_for(self, input_shape, condition_shape=None):
        hidden_dim = int(input_shape[-1])
        condition_shape = (None, hidden_dim) if condition_shape is None else tuple(condition_shape)
        units = self.patch_size * self.patch_size * self.output_channels
        return self._make_modulation(hidden_dim).count_params_for(condition_shape) + (hidden_dim + 1) * units

    def flops_for(self, input_shape, condition_shape=None, **other_shapes):
        """Forward FLOPs: the (shift, scale) modulation of the condition and the patch projection."""
        hidden_dim = int(input_shape[-1])
        condition_shape = (input_shape[0], hidden_dim) if condition_shape is None else tuple(condition_shape)
        units = self.patch_size * self.patch_size * self.output_channels
        return self._make_modulation(hidden_dim).flops_for(condition_shape) + dense_flops(input_shape, units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "output_channels": self.output_channels,
                "norm_epsilon": self.norm_epsilon,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
