"""RMSNorm: scale by the reciprocal root-mean-square, no centring, no bias."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_float, check_int


@register_block(
    "rms_norm",
    paper="arXiv:1910.07467",
    example={"init_kwargs": {"epsilon": 1e-5}, "inputs": (2, 5, 16)},
)
class RMSNorm(keras.layers.Layer):
    """Root-mean-square layer normalization.

    Normalizes the last axis by `x * rsqrt(mean(x**2) + epsilon)` and multiplies
    by a learned per-feature scale (initialised to one). Unlike LayerNorm there
    is no mean subtraction and no bias. The statistic is always computed in
    float32, even under a `mixed_bfloat16` policy, then cast back to the
    compute dtype, as Llama and fairseq2 (Meta LCM) do.

    Args:
        epsilon: float. Added to the mean square. Defaults to `1e-6`
            (Meta's LCM uses `1e-5`).
        axis: int. Axis to normalize. Defaults to `-1`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., hidden_dim)`.

    Returns:
        Tensor of the same shape, in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.RMSNorm(epsilon=1e-5)
    >>> tuple(layer(np.ones((2, 3, 8))).shape)
    (2, 3, 8)

    Reference:
        - [Zhang and Sennrich, 2019. Root Mean Square Layer Normalization](https://arxiv.org/abs/1910.07467)
    """

    def __init__(self, epsilon=1e-6, axis=-1, **kwargs):
        super().__init__(**kwargs)
        # Keep float32 inputs as they are under mixed precision: the statistic is
        # computed in float32 and only the output is cast to the compute dtype.
        self.autocast = False
        self.epsilon = check_float("epsilon", epsilon, min_value=0.0)
        self.axis = check_int("axis", axis)

    def build(self, input_shape):
        dim = input_shape[self.axis]
        self.scale = self.add_weight(name="scale", shape=(dim,), initializer="ones")
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        scale = ops.cast(self.scale, "float32")
        if self.axis in (-1, len(inputs.shape) - 1):
            # `keras.ops.rms_normalization` is the same formula, fused on torch (`F.rms_norm`).
            return ops.cast(ops.rms_normalization(x, scale, axis=-1, epsilon=self.epsilon), self.compute_dtype)
        mean_square = ops.mean(ops.square(x), axis=self.axis, keepdims=True)
        x = x * ops.rsqrt(mean_square + self.epsilon)
        shape = [1] * len(inputs.shape)
        shape[self.axis] = -1
        return ops.cast(x * ops.reshape(scale, shape), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params_for(self, input_shape):
        return int(input_shape[self.axis])

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (elementwise, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "axis": self.axis})
        return config
