"""ResNet bottleneck block (v1.5): 1x1 reduce, 3x3 (strided), 1x1 expand, identity (or projection) shortcut."""

from dlzoo.blocks.convolution._residual_unit import ResidualUnit
from dlzoo.registry import register_block
from dlzoo.validation import check_positive_int


@register_block(
    "resnet_bottleneck_block",
    paper="arXiv:1512.03385",
    example={"init_kwargs": {"filters": 16, "strides": 2}, "inputs": (2, 6, 6, 8)},
)
class ResNetBottleneckBlock(ResidualUnit):
    """ResNet bottleneck block (ResNet-50/101/152), v1.5: the stride on the 3x3 convolution.

    The branch is `norm(conv1x1(act(norm(conv3x3(act(norm(conv1x1(x))))))))`:
    a 1x1 convolution reduces the channels to `intermediate_dim`
    (`filters / 4` in the paper), the 3x3 convolution works at that
    reduced width, and a last 1x1 convolution expands back to `filters`. At
    equal cost this allows deeper networks than the basic block (He et al.,
    2016, section 4.1). The output is `act(shortcut(x) + branch(x))`, the
    shortcut a projection (1x1 convolution with the stride, then a norm)
    when the resolution or the number of channels changes.

    "v1.5" (torchvision, Hugging Face, NVIDIA's naming) puts the stride of
    a downsampling block on the 3x3 convolution; the paper's v1 put it on
    the first 1x1 convolution, which then skips three quarters of the
    positions it could read. v1.5 is slightly more accurate (NVIDIA
    reports about +0.5% ImageNet top-1 for ResNet-50) at a little more
    compute.

    Args:
        filters: int. Output channels.
        strides: int. Stride of the 3x3 convolution (and of the shortcut).
            Defaults to `1`.
        intermediate_dim: int. Width of the bottleneck (the 3x3
            convolution). `None` means `filters // 4`, as in the paper.
            Defaults to `None`.
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

    >>> block = dlzoo.blocks.ResNetBottleneckBlock(filters=16, strides=2)
    >>> tuple(block(np.zeros((2, 6, 6, 8))).shape)
    (2, 3, 3, 16)

    Notes:
        Convolutions are padded symmetrically (`kernel_size // 2` on each
        side) as in torchvision and Hugging Face, so their weights carry
        over exactly.

    Reference:
        - [He et al., 2016. Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385), figure 5 (right)
        - [Goyal et al., 2017. Accurate, Large Minibatch SGD](https://arxiv.org/abs/1706.02677), section 5.1 (zero-init residual)
    """

    def __init__(
        self,
        filters,
        strides=1,
        intermediate_dim=None,
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
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim, allow_none=True)
        if intermediate_dim is None and self.filters < 4:
            raise ValueError(
                "With `intermediate_dim=None` the bottleneck is `filters // 4` wide, so `filters` must be >= 4. "
                f"Received: filters={filters!r}, intermediate_dim=None."
            )
        self._make_layers()

    def _inner(self):
        return self.intermediate_dim or self.filters // 4

    def _branch_layers(self):
        return [
            self._conv("conv_1", self._inner(), 1),
            self._conv("conv_2", self._inner(), 3, strides=self.strides),
            self._conv("conv_3", self.filters, 1, last=True),
        ]

    def get_config(self):
        config = super().get_config()
        config["intermediate_dim"] = self.intermediate_dim
        return config
