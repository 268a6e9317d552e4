"""DropPath (stochastic depth): drop a whole residual branch per example."""

import keras

from dlzoo.registry import register_block
from dlzoo.validation import check_int, check_rate


@register_block(
    "drop_path",
    paper="arXiv:1603.09382",
    example={"init_kwargs": {"rate": 0.1, "seed": 0}, "inputs": (2, 5, 16)},
)
class DropPath(keras.layers.Layer):
    """Stochastic depth: drop the residual branch of each example at random.

    Applied to the output of a residual branch, before it is added back:
    `x + DropPath(branch(x))`. In training, each example's branch output is
    kept with probability `1 - rate` and zeroed otherwise (all of it: one
    Bernoulli draw per example, not per element). Survivors are scaled by
    `1 / (1 - rate)` so the expected value is unchanged, and at inference the
    layer is the identity.

    Args:
        rate: float. Probability of dropping the branch of an example, in
            `[0, 1)`. Defaults to `0.0`.
        seed: int. Seed of the random generator. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, ...)`: the residual branch output.
        training: bool. Whether to drop (training) or pass through
            (inference). Defaults to inference.

    Returns:
        Tensor of the same shape as `inputs`.

    Example:

    >>> layer = dlzoo.blocks.DropPath(rate=0.1, seed=0)
    >>> tuple(layer(np.ones((2, 3, 8)), training=True).shape)
    (2, 3, 8)

    Notes:
        The paper samples survival once per mini-batch and rescales at test
        time instead (`p_l * f(x)`); like most modern code (e.g. DeiT,
        ConvNeXt) this samples per example and rescales during training
        ("inverted" scaling), which gives the same expectation. A linearly
        increasing `rate` over depth (the paper's linear decay rule) is the
        caller's choice.

    Reference:
        - [Huang et al., 2016. Deep Networks with Stochastic Depth](https://arxiv.org/abs/1603.09382)
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = check_int("seed", seed, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        # One draw per example: noise shape (batch, 1, ..., 1).
        noise_shape = (None,) + (1,) * (len(inputs.shape) - 1)
        return keras.random.dropout(
            inputs, self.rate, noise_shape=noise_shape, seed=self.seed_generator
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (elementwise, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
