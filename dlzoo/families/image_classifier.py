"""The `image_classifier` family: small image classifiers with a ConvNeXt-style or MLP backbone."""

from dlzoo.families._convnet import check_downsampling, check_image_shape, check_widths_and_depths
from dlzoo.families.convnext import convnext_stages, drop_path_rates
from dlzoo.parameters import chosen_by_type
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_choice, check_positive_int

BACKBONES = ("convnext", "mlp")


def _check_stages(p):
    """Rules that span blocks: one width per stage, the image divisible by the total downsampling."""
    check_image_shape(p["image_shape"])
    check_widths_and_depths(p["hidden_dims"], p["depths"])
    if p["backbone"] == "convnext":
        check_downsampling(p["image_shape"], p["patch_size"], len(p["hidden_dims"]))


def _norm(plan, name, p):
    norm = dict(p["norm"])
    return plan.block(name, norm.pop("type"), **norm)


def _convnext_backbone(plan, x, p):
    return plan.block("pool", "global_average_pooling_2d")(convnext_stages(plan, x, p))


def _mlp_backbone(plan, x, p):
    width = p["hidden_dims"][0]
    x = plan.block("flatten", "flatten")(x)
    x = plan.block("input_projection", "dense", units=width)(x)
    rates, k = drop_path_rates(p), 0
    for stage, (dim, depth) in enumerate(zip(p["hidden_dims"], p["depths"])):
        if dim != width:
            x = plan.block(f"projection_{stage}", "dense", units=dim)(x)
            width = dim
        for i in range(depth):
            prefix = f"stage_{stage}_block_{i}"
            branch = _norm(plan, f"{prefix}_norm", p)(x)
            branch = plan.block(f"{prefix}_mlp", "mlp", intermediate_dim=p["intermediate_ratio"] * dim)(branch)
            branch = plan.block(f"{prefix}_drop_path", "drop_path", rate=rates[k])(branch)
            x = plan.block(f"{prefix}_add", "add")([x, branch])
            k += 1
        plan.add_feature(f"stage_{stage}", x, level=True, channels=dim)
    return x


@register_model(
    "image_classifier",
    paper="arXiv:2201.03545",
    params=dict(
        image_shape=[8, 8, 1],
        num_classes=10,
        backbone="convnext",
        hidden_dims=[32, 64],
        depths=[2, 2],
        patch_size=2,
        kernel_size=7,
        intermediate_ratio=4,
        drop_path_rate=0.0,
        use_layer_scale=True,
        layer_scale_init_value=1e-6,
        dropout=0.0,
        norm=chosen_by_type("normalization", reserved=("axis",), type="layer_norm", epsilon=1e-6),
    ),
)
def image_classifier(p):
    """A small image classifier with a ConvNeXt-style or MLP backbone.

    Both backbones end in the same head (global average pooling for the
    ConvNeXt backbone, then a final norm, dropout and a linear layer to
    `num_classes` logits):

    * `backbone="convnext"`: a `patch_embedding` stem (`patch_size` patches,
      then a norm), then one stage per entry of `hidden_dims`/`depths`: a
      `patch_embedding` downsampling layer (norm first, 2x2 patches) before
      every stage but the first, and `depths[i]` `convnext_block`s.
      Stochastic depth grows linearly from 0 to `drop_path_rate` over all
      blocks, as in ConvNeXt.
    * `backbone="mlp"`: the image is flattened and projected to
      `hidden_dims[0]`; each stage (projected to its width when it changes)
      has `depths[i]` pre-norm residual `mlp` blocks
      (`x + drop_path(mlp(norm(x)))`).

    Args:
        image_shape: list. `[height, width, channels]`. Defaults to `[8, 8, 1]`
            (scikit-learn's digits).
        num_classes: int. Number of classes (logits). Defaults to `10`.
        backbone: str. `"convnext"` or `"mlp"`. Defaults to `"convnext"`.
        hidden_dims: list of int. Width of each stage. Defaults to `[32, 64]`.
        depths: list of int. Blocks per stage. Defaults to `[2, 2]`.
        patch_size: int. Patch size of the ConvNeXt stem. Defaults to `2`.
        kernel_size: int. Depthwise kernel of the ConvNeXt blocks (odd).
            Defaults to `7`.
        intermediate_ratio: int. Bottleneck width / stage width in the
            ConvNeXt and MLP blocks. Defaults to `4`.
        drop_path_rate: float. Largest stochastic-depth rate (linear over the
            blocks). Defaults to `0.0`.
        use_layer_scale: bool. LayerScale in ConvNeXt blocks. Defaults to `True`.
        layer_scale_init_value: float. Initial LayerScale gain. Defaults to `1e-6`.
        dropout: float. Dropout before the classification layer. Defaults to `0.0`.
        norm: dict. `type` (registered normalization block) and its arguments.

    Returns:
        A plan with the input `images (batch, h, w, c)` and the output
        `logits (batch, num_classes)` (no softmax: use `from_logits=True`).

    Reference:
        - [Liu et al., 2022. A ConvNet for the 2020s](https://arxiv.org/abs/2201.03545)
    """
    check_choice("backbone", p["backbone"], BACKBONES)
    check_positive_int("intermediate_ratio", p["intermediate_ratio"])
    _check_stages(p)
    plan = Plan()
    x = plan.input("images", tuple(p["image_shape"]), "float32")
    x = _convnext_backbone(plan, x, p) if p["backbone"] == "convnext" else _mlp_backbone(plan, x, p)
    x = _norm(plan, "head_norm", p)(x)
    x = plan.block("head_dropout", "dropout", rate=p["dropout"])(x)
    plan.add_feature("pooled_output", x)
    plan.set_outputs(plan.block("logits", "dense", units=p["num_classes"])(x))
    return plan
