"""LayerNorm: centre and scale each feature vector by its own mean and variance."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_float, check_int


@register_block(
    "layer_norm",
    paper="arXiv:1607.06450",
    example={"init_kwargs": {"epsilon": 1e-5}, "inputs": (2, 5, 16)},
)
class LayerNorm(keras.layers.Layer):
    """Layer normalization with optional learned scale and bias.

    Normalizes one axis (the features) of each example by its own statistics,
    `(x - mean(x)) / sqrt(var(x) + epsilon)`, then applies a per-feature
    scale (initialised to one) and bias (initialised to zero). The variance is
    the biased (population) variance, as in the paper. Mean and variance are
    always computed in float32, even under a `mixed_bfloat16` policy, and the
    result is cast to the compute dtype. Inputs are not cast to the compute
    dtype on the way in (`autocast=False`, as in `keras.layers.LayerNormalization`),
    so a float32 residual stream is normalized at full precision.

    `use_bias=False` gives "LayerNorm without bias" (Meta LCM's `"fp32"`
    style); `use_scale=False, use_bias=False` gives a LayerNorm with no affine
    parameters (LCM's `"unit"` style).

    Args:
        epsilon: float. Added to the variance. Defaults to `1e-5`.
        use_bias: bool. Whether to add a learned per-feature bias.
            Defaults to `True`.
        use_scale: bool. Whether to multiply by a learned per-feature scale.
            Defaults to `True`.
        axis: int. Axis to normalize. Defaults to `-1`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., hidden_dim)` (or with the normalized
            axis elsewhere, see `axis`).

    Returns:
        Tensor of the same shape, in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.LayerNorm(epsilon=1e-5)
    >>> tuple(layer(np.ones((2, 3, 8))).shape)
    (2, 3, 8)

    Reference:
        - [Ba et al., 2016. Layer Normalization](https://arxiv.org/abs/1607.06450)
    """

    def __init__(self, epsilon=1e-5, use_bias=True, use_scale=True, axis=-1, **kwargs):
        super().__init__(**kwargs)
        # Keep float32 inputs in float32 (no cast to the compute dtype on the
        # way in): the statistics are taken at full precision.
        self.autocast = False
        self.epsilon = check_float("epsilon", epsilon, min_value=0.0)
        self.use_bias = check_bool("use_bias", use_bias)
        self.use_scale = check_bool("use_scale", use_scale)
        self.axis = check_int("axis", axis)

    def _feature_dim(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"`axis` is out of range for inputs of rank {rank} "
                f"(shape {tuple(input_shape)}). Received: axis={self.axis}."
            )
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(
                f"The normalized axis must have a known size. "
                f"Received: axis={self.axis}, input_shape={tuple(input_shape)}."
            )
        return int(dim)

    def build(self, input_shape):
        dim = self._feature_dim(input_shape)
        self.scale = None
        self.bias = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(dim,), initializer="ones")
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(dim,), initializer="zeros")
        self.built = True

    def _broadcastable(self, weight, rank):
        weight = ops.cast(weight, "float32")
        if self.axis in (-1, rank - 1):
            return weight
        shape = [1] * rank
        shape[self.axis] = -1
        return ops.reshape(weight, shape)

    def call(self, inputs):
        rank = len(inputs.shape)
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=self.axis, keepdims=True)
        centred = x - mean
        variance = ops.mean(ops.square(centred), axis=self.axis, keepdims=True)
        x = centred * ops.rsqrt(variance + self.epsilon)
        if self.scale is not None:
            x = x * self._broadcastable(self.scale, rank)
        if self.bias is not None:
            x = x + self._broadcastable(self.bias, rank)
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params_for(self, input_shape):
        dim = self._feature_dim(input_shape)
        return dim * (int(self.use_scale) + int(self.use_bias))

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (elementwise, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": self.epsilon,
                "use_bias": self.use_bias,
                "use_scale": self.use_scale,
                "axis": self.axis,
            }
        )
        return config
