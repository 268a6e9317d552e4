"""The `resnet` family: ResNet v1.5 image classifiers (He et al., 2016)."""

from dlzoo.families._convnet import check_head, check_image_shape, check_stage_lists, pooled_head
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_choice, check_positive_int, check_rate

BLOCKS = {"basic": "resnet_basic_block", "bottleneck": "resnet_bottleneck_block"}


def _drop_rates(p):
    """Stochastic depth growing linearly from 0 to `drop_path_rate` over all blocks."""
    total = sum(p["depths"])
    return [p["drop_path_rate"] * i / max(total - 1, 1) for i in range(total)]


def _norm_arguments(p):
    return {"norm": p["norm"], "norm_epsilon": p["norm_epsilon"], "norm_momentum": p["norm_momentum"]}


def _stem(plan, x, p):
    x = plan.block(
        "stem", "conv_norm_act", filters=p["stem_dim"], kernel_size=7, strides=2, padding="symmetric",
        activation=p["activation"], **_norm_arguments(p),
    )(x)
    x = plan.block("stem_pool_padding", "zero_padding_2d", padding=1)(x)
    return plan.block("stem_pool", "max_pooling_2d", pool_size=3, strides=2)(x)


@register_model(
    "resnet",
    paper="arXiv:1512.03385",
    params=dict(
        image_shape=[224, 224, 3],
        num_classes=1000,
        block_type="bottleneck",
        depths=[3, 4, 6, 3],
        hidden_dims=[256, 512, 1024, 2048],
        stem_dim=64,
        activation="relu",
        norm="batch_norm",
        norm_epsilon=1e-5,
        norm_momentum=0.9,
        use_zero_init_residual=False,
        drop_path_rate=0.0,
        dropout=0.0,
    ),
)
def resnet(p):
    """ResNet (v1.5): a strided stem, four stages of residual blocks, global pooling and a linear classifier.

    * Stem: a 7x7 stride-2 conv-norm-act (`conv_norm_act`, padded 3 pixels
      per side) then a 3x3 stride-2 max pooling (padded 1 pixel per side):
      the image shrinks 4x.
    * Stages: `depths[i]` blocks of `block_type` (`resnet_basic_block`:
      two 3x3 convolutions, ResNet-18/34; `resnet_bottleneck_block`: 1x1,
      3x3, 1x1 at a quarter of the width, ResNet-50/101/152) with
      `hidden_dims[i]` output channels. The first block of every stage but
      the first halves the resolution (stride 2 on its 3x3 convolution:
      v1.5) and projects its shortcut; each stage is offered as a feature
      (`stage_i`, with its channels and stride 4, 8, 16, 32).
    * Head: global average pooling (the `pooled_output` feature), dropout
      and a linear layer to `num_classes` logits; `num_classes=0` returns
      the pooled features instead.

    The max pooling's padding is written as a `zero_padding_2d` followed by
    an unpadded `max_pooling_2d`: Keras' `"same"` pooling would pad only the
    bottom and right of the even-sized map and shift every window by one
    pixel against PyTorch's `padding=1`. Zeros stand for PyTorch's `-inf`
    padding exactly because the stem ends in a ReLU (no output is
    negative); with an activation that can be negative (`activation="silu"`)
    a zero at the border may win a window, a small departure from PyTorch.

    Args:
        image_shape: list. `[height, width, channels]`. Defaults to `[224, 224, 3]`.
        num_classes: int. Number of classes (logits); `0` for a backbone
            that returns its pooled features. Defaults to `1000`.
        block_type: str. `"basic"` or `"bottleneck"`. Defaults to `"bottleneck"`.
        depths: list of int. Blocks per stage. Defaults to `[3, 4, 6, 3]` (ResNet-50).
        hidden_dims: list of int. Output channels of each stage. Defaults to
            `[256, 512, 1024, 2048]`.
        stem_dim: int. Output channels of the stem. Defaults to `64`.
        activation: str. Keras activation name. Defaults to `"relu"`.
        norm: str. Registered normalization block. Defaults to `"batch_norm"`.
        norm_epsilon: float. Norm epsilon. Defaults to `1e-5` (PyTorch).
        norm_momentum: float. Batch-norm momentum, Keras convention
            (PyTorch's 0.1). Defaults to `0.9`.
        use_zero_init_residual: bool. Start each block's last norm scale at
            zero. Defaults to `False`.
        drop_path_rate: float. Largest stochastic-depth rate (linear over
            the blocks). Defaults to `0.0`.
        dropout: float. Dropout before the classifier. Defaults to `0.0`.

    Returns:
        A plan with the input `images (batch, height, width, channels)` and
        the output `logits (batch, num_classes)` (no softmax).

    Reference:
        - [He et al., 2016. Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385), table 1
        - [Goyal et al., 2017. Accurate, Large Minibatch SGD](https://arxiv.org/abs/1706.02677) (v1.5 stride placement, zero-init residual)
    """
    check_image_shape(p["image_shape"])
    check_choice("block_type", p["block_type"], BLOCKS)
    check_stage_lists(p, ["hidden_dims", "depths"])
    check_positive_int("stem_dim", p["stem_dim"])
    check_rate("drop_path_rate", p["drop_path_rate"])
    check_head(p)
    plan = Plan()
    x = _stem(plan, plan.input("images", tuple(p["image_shape"]), "float32"), p)
    rates, k, stride = _drop_rates(p), 0, 4
    for stage, (dim, depth) in enumerate(zip(p["hidden_dims"], p["depths"])):
        for i in range(depth):
            strides = 2 if stage > 0 and i == 0 else 1
            stride *= strides
            x = plan.block(
                f"stage_{stage}_block_{i}", BLOCKS[p["block_type"]], filters=dim, strides=strides,
                activation=p["activation"], use_zero_init_residual=p["use_zero_init_residual"],
                drop_path_rate=rates[k], **_norm_arguments(p),
            )(x)
            k += 1
        plan.add_feature(f"stage_{stage}", x, level=True, channels=dim, stride=stride)
    pooled_head(plan, x, p)
    return plan
