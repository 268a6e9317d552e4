"""LayerScale: a learned per-channel gain on a residual branch, started near zero."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_float


@register_block(
    "layer_scale",
    paper="arXiv:2103.17239",
    example={"init_kwargs": {"init_value": 0.1}, "inputs": (2, 5, 16)},
)
class LayerScale(keras.layers.Layer):
    """LayerScale: multiply a residual branch by a learned per-channel gain.

    Multiplies the last axis of the branch output by a diagonal matrix
    `diag(gamma)`, with every `gamma` initialised to a small `init_value`:
    `x + diag(gamma) * branch(x)`. Each residual block therefore starts close
    to the identity, which lets deep transformers train stably (CaiT).

    Args:
        init_value: float. Initial value of every entry of `gamma`. CaiT uses
            `0.1` up to depth 18, `1e-5` up to 24 and `1e-6` beyond.
            Defaults to `1e-5`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., hidden_dim)`: the residual branch output.

    Returns:
        Tensor of the same shape, `inputs * gamma`.

    Example:

    >>> layer = dlzoo.blocks.LayerScale(init_value=1e-5)
    >>> tuple(layer(np.ones((2, 3, 8))).shape)
    (2, 3, 8)

    Reference:
        - [Touvron et al., 2021. Going deeper with Image Transformers](https://arxiv.org/abs/2103.17239)
    """

    def __init__(self, init_value=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.init_value = check_float("init_value", init_value)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(
                f"The last axis must have a known size. Received: input_shape={tuple(input_shape)}."
            )
        self.gamma = self.add_weight(
            name="gamma",
            shape=(int(dim),),
            initializer=keras.initializers.Constant(self.init_value),
        )
        self.built = True

    def call(self, inputs):
        return inputs * ops.cast(self.gamma, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params_for(self, input_shape):
        return int(input_shape[-1])

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (elementwise, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"init_value": self.init_value})
        return config
