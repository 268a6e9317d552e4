"""Learned sigma: split a diffusion model's output into the noise and the variance-interpolation values."""

import keras
from keras import ops

from dlzoo.registry import register_block


@register_block(
    "learned_sigma_split",
    paper="arXiv:2102.09672",
    example={"init_kwargs": {}, "inputs": (2, 4, 4, 6)},
)
class LearnedSigmaSplit(keras.layers.Layer):
    """Split `2c` output channels into the noise prediction and the variance-interpolation values.

    A model with learned sigma (Improved DDPM, used by DiT) predicts `2c`
    channels for a `c`-channel image: the first `c` are the noise `eps`
    (which gives the mean of the reverse step), the last `c` are values `v`
    that set the reverse-step variance per pixel, interpolating in log space
    between the two analytic bounds:

        log sigma_t^2 = f log(beta_t) + (1 - f) log(beta_tilde_t),   f = (v + 1) / 2

    with `beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)`
    (`dlzoo.dit.learned_log_variance` computes it). DDIM with `eta=0` does
    not read the variance; ancestral (DDPM) sampling and the variational
    bound `L_vlb` do. No weights.

    Args:
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(..., 2c)`.

    Returns:
        A tuple `(noise, variance_interpolation)` of tensors `(..., c)`.

    Example:

    >>> noise, variance = dlzoo.blocks.LearnedSigmaSplit()(np.zeros((2, 8, 8, 8)))
    >>> tuple(noise.shape), tuple(variance.shape)
    ((2, 8, 8, 4), (2, 8, 8, 4))

    Reference:
        - [Nichol and Dhariwal, 2021. Improved Denoising Diffusion Probabilistic Models](https://arxiv.org/abs/2102.09672), section 3.1
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748), section 3.1
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def _channels(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % 2:
            raise ValueError(
                "`LearnedSigmaSplit` needs an even, known number of channels (2x the image channels). "
                f"Received: input_shape={tuple(input_shape)}."
            )
        return channels // 2

    def build(self, input_shape):
        self._channels(input_shape)
        self.built = True

    def call(self, inputs):
        channels = inputs.shape[-1] // 2
        return inputs[..., :channels], inputs[..., channels:]

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) + (self._channels(input_shape),)
        return shape, shape

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a split, no matrix product; see `dlzoo.flops`)."""
        return 0
