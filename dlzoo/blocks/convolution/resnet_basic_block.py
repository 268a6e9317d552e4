"""ResNet basic block: two 3x3 conv-norm layers and an identity (or projection) shortcut."""

from dlzoo.blocks.convolution._residual_unit import ResidualUnit
from dlzoo.registry import register_block


@register_block(
    "resnet_basic_block",
    paper="arXiv:1512.03385",
    example={"init_kwargs": {"filters": 8, "strides": 2}, "inputs": (2, 6, 6, 4)},
)
class ResNetBasicBlock(ResidualUnit):
    """ResNet basic block (ResNet-18/34): `act(shortcut(x) + norm(conv3x3(act(norm(conv3x3(x))))))`.

    The block learns a residual `F(x)` added to its input, so that a block
    that should do nothing only has to drive `F` to zero, which is easier to
    optimize than learning the identity through a stack of nonlinear layers
    (He et al., 2016). Both 3x3 convolutions have `filters` outputs; the
    first carries the stride. When the block changes the resolution
    (`strides > 1`) or the number of channels, the shortcut is a projection
    (1x1 convolution with the same stride, then a norm), otherwise the
    identity.

    Args:
        filters: int. Output channels.
        strides: int. Stride of the first convolution (and of the shortcut).
            Defaults to `1`.
        activation: str. Keras activation name. Defaults to `"relu"`.
        norm: str. Registered normalization block. Defaults to `"batch_norm"`.
        norm_epsilon: float. Epsilon of the norms. Defaults to `1e-5` (PyTorch).
        norm_momentum: float. Momentum of batch-norm statistics, Keras
            convention (PyTorch's `0.1` is `0.9`). Defaults to `0.9`.
        use_zero_init_residual: bool. Start the last norm's scale at zero,
            so each block starts as the identity (Goyal et al., 2017;
            torchvision's `zero_init_residual`). Needs `norm="batch_norm"`.
            Defaults to `False`.
        drop_path_rate: float. Stochastic-depth rate of the residual branch.
            Defaults to `0.0`.
        seed: int. Seed of the stochastic-depth draws. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, height, width, channels)`.
        training: bool. Batch statistics and stochastic depth in training.

    Returns:
        Tensor of shape `(batch, ceil(height / strides), ceil(width / strides), filters)`.

    Example:

    >>> block = dlzoo.blocks.ResNetBasicBlock(filters=8, strides=2)
    >>> tuple(block(np.zeros((2, 6, 6, 4))).shape)
    (2, 3, 3, 8)

    Notes:
        Convolutions are padded symmetrically (`kernel_size // 2` on each
        side) as in torchvision and Hugging Face, so their weights carry
        over exactly. The paper's option A shortcut (zero-padded identity)
        is not offered; option B (projection only where shapes change) is
        what torchvision and Hugging Face use.

    Reference:
        - [He et al., 2016. Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385), figure 5 (left)
        - [Goyal et al., 2017. Accurate, Large Minibatch SGD](https://arxiv.org/abs/1706.02677), section 5.1 (zero-init residual)
    """

    def __init__(
        self,
        filters,
        strides=1,
        activation="relu",
        norm="batch_norm",
        norm_epsilon=1e-5,
        norm_momentum=0.9,
        use_zero_init_residual=False,
        drop_path_rate=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            filters, strides, activation, norm, norm_epsilon, norm_momentum,
            use_zero_init_residual, drop_path_rate, seed, **kwargs,
        )
        self._make_layers()

    def _branch_layers(self):
        return [
            self._conv("conv_1", self.filters, 3, strides=self.strides),
            self._conv("conv_2", self.filters, 3, last=True),
        ]
