"""The `efficientnet` family: EfficientNet-B0 and its compound-scaled relatives (Tan and Le, 2019)."""

import math

from dlzoo.families._convnet import check_head, check_image_shape, check_stage_lists, pooled_head
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_choice, check_float, check_positive_int, check_rate

PADDINGS = ("same", "symmetric")


def scale_width(channels, width_multiplier, divisor):
    """Channels times `width_multiplier`, rounded to a multiple of `divisor` (never more than 10% down).

    The rule of the reference implementation (`round_filters`): round to
    the nearest multiple of `divisor`, at least `divisor`, and add one
    `divisor` if rounding lost more than 10%.
    """
    scaled = channels * width_multiplier
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def scale_depth(repeats, depth_multiplier):
    """Blocks of a stage times `depth_multiplier`, rounded up (`round_repeats`)."""
    return int(math.ceil(depth_multiplier * repeats))


def _check(p):
    check_image_shape(p["image_shape"])
    for name in ("width_multiplier", "depth_multiplier"):
        check_float(name, p[name], min_value=0.0, min_inclusive=False)
    check_positive_int("channel_divisor", p["channel_divisor"])
    check_positive_int("stem_dim", p["stem_dim"])
    check_positive_int("top_conv_dim", p["top_conv_dim"])
    check_stage_lists(p, ["hidden_dims", "depths", "kernel_sizes", "strides", "expand_ratios"])
    check_choice("padding", p["padding"], PADDINGS)
    check_rate("drop_path_rate", p["drop_path_rate"])
    check_head(p)


def _norm_arguments(p):
    return {"norm": p["norm"], "norm_epsilon": p["norm_epsilon"], "norm_momentum": p["norm_momentum"]}


def _is_level(p, stage):
    """A stage is a pyramid level when the next one changes resolution (or it is the last)."""
    return stage == len(p["strides"]) - 1 or p["strides"][stage + 1] > 1


@register_model(
    "efficientnet",
    paper="arXiv:1905.11946",
    params=dict(
        image_shape=[224, 224, 3],
        num_classes=1000,
        width_multiplier=1.0,
        depth_multiplier=1.0,
        channel_divisor=8,
        stem_dim=32,
        hidden_dims=[16, 24, 40, 80, 112, 192, 320],
        depths=[1, 2, 2, 3, 3, 4, 1],
        kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
        strides=[1, 2, 2, 2, 1, 2, 1],
        expand_ratios=[1, 6, 6, 6, 6, 6, 6],
        top_conv_dim=1280,
        squeeze_ratio=0.25,
        activation="silu",
        padding="same",
        norm="batch_norm",
        norm_epsilon=1e-3,
        norm_momentum=0.99,
        drop_path_rate=0.2,
        dropout=0.2,
    ),
)
def efficientnet(p):
    """EfficientNet: a stem, seven stages of MBConv blocks, a 1x1 "top" convolution, pooling and a classifier.

    The B0 baseline (the defaults, from the paper's table 1) is scaled by
    two numbers, applied to every stage: `width_multiplier` multiplies the
    channels of the stem, every stage and the top convolution (rounded by
    `scale_width` to multiples of `channel_divisor`), and `depth_multiplier`
    the number of blocks of every stage (rounded up). B1-B7 are B0 with the
    paper's compound-scaled multipliers (and a larger input image, which
    changes no weight).

    * Stem: a 3x3 stride-2 conv-norm-act to `stem_dim` channels.
    * Stages: `depths[i]` `mbconv_block`s with `hidden_dims[i]` output
      channels, depthwise kernel `kernel_sizes[i]`, expansion
      `expand_ratios[i]`; the first block of a stage has stride
      `strides[i]`. Stochastic depth grows linearly over the blocks,
      `drop_path_rate * k / total` for block `k`. Each stage is a feature
      (`stage_i`); those that end a resolution (strides 2, 4, 8, 16, 32 for
      B0) are the levels `features_only` returns.
    * Top: a 1x1 conv-norm-act to `top_conv_dim` channels, global average
      pooling (the `pooled_output` feature), dropout and a linear layer to
      `num_classes` logits (`num_classes=0`: the pooled features).

    Args:
        image_shape: list. `[height, width, channels]`. Defaults to `[224, 224, 3]`.
        num_classes: int. Number of classes; `0` for a backbone. Defaults to `1000`.
        width_multiplier: float. Channel multiplier (`w` of compound
            scaling). Defaults to `1.0`.
        depth_multiplier: float. Block-count multiplier (`d`). Defaults to `1.0`.
        channel_divisor: int. Scaled channels are multiples of it. Defaults to `8`.
        stem_dim: int. Stem channels before scaling. Defaults to `32`.
        hidden_dims: list of int. Output channels per stage before scaling.
        depths: list of int. Blocks per stage before scaling.
        kernel_sizes: list of int. Depthwise kernel per stage.
        strides: list of int. Stride of each stage's first block.
        expand_ratios: list of int. MBConv expansion per stage.
        top_conv_dim: int. Channels of the top 1x1 convolution before
            scaling. Defaults to `1280`.
        squeeze_ratio: float. Squeeze-and-excitation width relative to a
            block's input channels. Defaults to `0.25`.
        activation: str. Keras activation. Defaults to `"silu"` (swish).
        padding: str. `"same"` (TensorFlow, Hugging Face) or `"symmetric"`
            (torchvision) for the stem and depthwise convolutions. Defaults
            to `"same"`.
        norm: str. Registered normalization block. Defaults to `"batch_norm"`.
        norm_epsilon: float. Norm epsilon. Defaults to `1e-3`.
        norm_momentum: float. Batch-norm momentum, Keras convention.
            Defaults to `0.99`.
        drop_path_rate: float. Largest stochastic-depth rate. Defaults to `0.2`.
        dropout: float. Dropout before the classifier. Defaults to `0.2` (B0).

    Returns:
        A plan with the input `images (batch, height, width, channels)` and
        the output `logits (batch, num_classes)` (no softmax).

    Reference:
        - [Tan and Le, 2019. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946), table 1 and section 3.3
    """
    _check(p)
    width = lambda c: scale_width(c, p["width_multiplier"], p["channel_divisor"])  # noqa: E731
    repeats = [scale_depth(n, p["depth_multiplier"]) for n in p["depths"]]
    total = sum(repeats)
    plan = Plan()
    x = plan.input("images", tuple(p["image_shape"]), "float32")
    x = plan.block(
        "stem", "conv_norm_act", filters=width(p["stem_dim"]), kernel_size=3, strides=2, padding=p["padding"],
        activation=p["activation"], **_norm_arguments(p),
    )(x)
    k, stride = 0, 2
    for stage, depth in enumerate(repeats):
        dim = width(p["hidden_dims"][stage])
        for i in range(depth):
            strides = p["strides"][stage] if i == 0 else 1
            stride *= strides
            x = plan.block(
                f"stage_{stage}_block_{i}", "mbconv_block", filters=dim, kernel_size=p["kernel_sizes"][stage],
                strides=strides, expand_ratio=p["expand_ratios"][stage], squeeze_ratio=p["squeeze_ratio"],
                activation=p["activation"], padding=p["padding"], drop_path_rate=p["drop_path_rate"] * k / total,
                **_norm_arguments(p),
            )(x)
            k += 1
        plan.add_feature(f"stage_{stage}", x, level=_is_level(p, stage), channels=dim, stride=stride)
    x = plan.block(
        "top_conv", "conv_norm_act", filters=width(p["top_conv_dim"]), kernel_size=1, padding="valid",
        activation=p["activation"], **_norm_arguments(p),
    )(x)
    pooled_head(plan, x, p)
    return plan
