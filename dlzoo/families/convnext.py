"""The `convnext` family: ConvNeXt image classifiers (a ResNet modernized toward Transformer design)."""

from dlzoo.families._convnet import (
    check_countable_norm,
    check_downsampling,
    check_image_shape,
    check_widths_and_depths,
)
from dlzoo.parameters import chosen_by_type
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_bool, check_int, check_positive_int, check_rate


def _check_stages(p):
    """Rules that span blocks: one width per stage, the image divisible by the total downsampling."""
    check_image_shape(p["image_shape"])
    check_widths_and_depths(p["hidden_dims"], p["depths"])
    check_downsampling(p["image_shape"], p["patch_size"], len(p["hidden_dims"]))


def drop_path_rates(p):
    """Stochastic depth grows linearly from 0 to `drop_path_rate` over all blocks (ConvNeXt, section 2.1)."""
    total = sum(p["depths"])
    rate = check_rate("drop_path_rate", p["drop_path_rate"])
    return [rate * i / max(total - 1, 1) for i in range(total)]


def _norm(plan, name, p):
    norm = dict(p["norm"])
    return plan.block(name, norm.pop("type"), **norm)


def convnext_stages(plan, x, p):
    """The ConvNeXt trunk on plan tensor `x`: stem, then per stage a downsampling layer and `depths[i]` blocks.

    The stem is a `patch_size`-patchify convolution followed by a norm; each
    later stage starts with a norm followed by a 2x2, stride-2 convolution
    (both `patch_embedding`, `norm_position="post"` and `"pre"`). Every
    stage's output is a level feature `stage_<i>` (channels and stride).
    """
    norm = dict(p["norm"])
    norm_type, epsilon = norm.pop("type"), norm.pop("epsilon", 1e-6)
    if norm:
        raise ValueError(
            "The ConvNeXt stem, downsampling layers and blocks take only `norm.type` and `norm.epsilon`. "
            f"Received: norm={p['norm']!r}."
        )
    rates, index, stride = drop_path_rates(p), 0, 1
    for stage, (dim, depth) in enumerate(zip(p["hidden_dims"], p["depths"])):
        size = p["patch_size"] if stage == 0 else 2
        stride *= size
        x = plan.block(
            "stem" if stage == 0 else f"downsample_{stage}",
            "patch_embedding",
            hidden_dim=dim,
            patch_size=size,
            norm=norm_type,
            norm_position="post" if stage == 0 else "pre",
            norm_epsilon=epsilon,
        )(x)
        for i in range(depth):
            x = plan.block(
                f"stage_{stage}_block_{i}",
                "convnext_block",
                kernel_size=p["kernel_size"],
                intermediate_dim=p["intermediate_ratio"] * dim,
                norm=norm_type,
                norm_epsilon=epsilon,
                use_layer_scale=p["use_layer_scale"],
                layer_scale_init_value=p["layer_scale_init_value"],
                drop_path_rate=rates[index],
            )(x)
            index += 1
        plan.add_feature(f"stage_{stage}", x, level=True, channels=dim, stride=stride)
    return x


@register_model(
    "convnext",
    paper="arXiv:2201.03545",
    params=dict(
        image_shape=[224, 224, 3],
        num_classes=1000,
        hidden_dims=[96, 192, 384, 768],
        depths=[3, 3, 9, 3],
        patch_size=4,
        kernel_size=7,
        intermediate_ratio=4,
        drop_path_rate=0.0,
        use_layer_scale=True,
        layer_scale_init_value=1e-6,
        norm=chosen_by_type("normalization", reserved=("axis",), type="layer_norm", epsilon=1e-6),
    ),
)
def convnext(p):
    """A ConvNeXt image classifier.

    A 4x4 "patchify" stem (convolution, then LayerNorm), four stages of
    `convnext_block`s (7x7 depthwise convolution, LayerNorm, inverted
    bottleneck MLP with GELU, LayerScale, stochastic depth) separated by
    LayerNorm + 2x2 stride-2 convolutions, global average pooling, a final
    LayerNorm and a linear head. The defaults are ConvNeXt-T at 224x224 with
    1000 classes: 28,589,128 parameters, as Hugging Face
    `ConvNextForImageClassification` and the paper's Table 11 (28M). Every
    LayerNorm has epsilon 1e-6 as in the official code (Hugging Face's
    *final* norm takes `ConvNextConfig.layer_norm_eps`, 1e-12 by default).

    Args:
        image_shape: list. `[height, width, channels]`. Defaults to `[224, 224, 3]`.
        num_classes: int. Classes of the linear head; `0` drops the head and
            the model outputs `pooled_output` `(batch, hidden_dims[-1])`.
            Defaults to `1000`.
        hidden_dims: list of int. Channels of each stage. Defaults to
            `[96, 192, 384, 768]`.
        depths: list of int. Blocks per stage, one entry per stage.
            Defaults to `[3, 3, 9, 3]`.
        patch_size: int. Patch size (and stride) of the stem. Defaults to `4`.
        kernel_size: int. Depthwise kernel (odd). Defaults to `7`.
        intermediate_ratio: int. Width of the inverted bottleneck / stage
            width. Defaults to `4`.
        drop_path_rate: float. Stochastic depth of the last block (linear
            over all blocks; 0.1 / 0.4 / 0.5 for T / S / B on ImageNet-1k).
            Defaults to `0.0`.
        use_layer_scale: bool. LayerScale on each block's branch. Defaults to `True`.
        layer_scale_init_value: float. Initial LayerScale gain. Defaults to `1e-6`.
        norm: dict. `type` (a registered normalization block) and its
            arguments; every norm of the model (stem, downsampling, blocks,
            head).

    Returns:
        A plan with the input `images (batch, height, width, channels)` and
        the output `logits (batch, num_classes)` (or `pooled_output`).
        Level features `stage_0` ... (strides 4, 8, 16, 32 by default) and
        `pooled_output`.

    Reference:
        - [Liu et al., 2022. A ConvNet for the 2020s](https://arxiv.org/abs/2201.03545)
    """
    _check_stages(p)
    check_countable_norm(p)
    check_positive_int("intermediate_ratio", p["intermediate_ratio"])
    check_bool("use_layer_scale", p["use_layer_scale"])
    num_classes = check_int("num_classes", p["num_classes"], min_value=0)
    plan = Plan()
    x = plan.input("images", tuple(p["image_shape"]), "float32")
    x = convnext_stages(plan, x, p)
    x = plan.block("pool", "global_average_pooling_2d")(x)
    pooled = _norm(plan, "head_norm", p)(x)
    plan.add_feature("pooled_output", pooled)
    if num_classes:
        plan.set_outputs(plan.block("logits", "dense", units=num_classes)(pooled))
    else:
        plan.set_outputs(pooled, name="pooled_output")
    return plan
