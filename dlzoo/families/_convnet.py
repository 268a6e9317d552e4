"""What the convolutional image families (ResNet, EfficientNet) share: checks and the pooled head (private)."""

from dlzoo.registry import BLOCKS, required_arguments
from dlzoo.validation import check_int, check_positive_int, check_rate


def check_image_shape(shape):
    """`image_shape` is `[height, width, channels]` with positive integers."""
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 3
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape)
    ):
        raise ValueError(
            "`image_shape` must be [height, width, channels] with positive integers. "
            f"Received: image_shape={shape!r}."
        )


def check_downsampling(shape, patch_size, stages):
    """The image height and width are multiples of the total downsampling `patch_size * 2**(stages - 1)`."""
    check_positive_int("patch_size", patch_size)
    reduction = patch_size * 2 ** (stages - 1)
    if shape[0] % reduction or shape[1] % reduction:
        raise ValueError(
            f"The `image_shape` height and width must be multiples of patch_size * 2**(stages - 1) = {reduction}. "
            f"Received: image_shape={shape!r}, patch_size={patch_size}, stages={stages}."
        )


def check_widths_and_depths(dims, depths):
    """One positive width and one depth >= 0 per stage, in two lists of the same length."""
    if not isinstance(dims, (list, tuple)) or not isinstance(depths, (list, tuple)) or not dims or len(dims) != len(depths):
        raise ValueError(
            "`hidden_dims` and `depths` must be non-empty lists of the same length (one entry per stage). "
            f"Received: hidden_dims={dims!r}, depths={depths!r}."
        )
    for i, dim in enumerate(dims):
        check_positive_int(f"hidden_dims[{i}]", dim)
    for i, depth in enumerate(depths):
        check_int(f"depths[{i}]", depth, min_value=0)


def check_stage_lists(p, names):
    """Each list in `names` has one positive integer per stage (as many as `names[0]`)."""
    stages = len(p[names[0]]) if isinstance(p[names[0]], (list, tuple)) else 0
    if stages == 0:
        raise ValueError(f"`{names[0]}` must be a non-empty list (one entry per stage). Received: {names[0]}={p[names[0]]!r}.")
    for name in names:
        values = p[name]
        if len(values) != stages:
            given = ", ".join(f"{n}={p[n]!r}" for n in names)
            raise ValueError(
                f"`{name}` must have one entry per stage, {stages} like `{names[0]}`. Received: {given}."
            )
        for i, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}[{i}]` must be a positive integer. Received: {name}={values!r}.")


def check_head(p):
    check_int("num_classes", p["num_classes"], min_value=0)
    check_rate("dropout", p["dropout"])


def pooled_head(plan, x, p):
    """Global average pooling (the `pooled_output` feature), dropout and the class logits.

    `num_classes=0` leaves the classifier out: the model returns the pooled
    features (a backbone), and heads such as `classification_head` still
    read `pooled_output`.
    """
    pooled = plan.block("pool", "global_average_pooling_2d")(x)
    plan.add_feature("pooled_output", pooled)
    if p["num_classes"] == 0:
        plan.set_outputs(pooled, name="pooled_output")
        return
    x = plan.block("head_dropout", "dropout", rate=p["dropout"])(pooled)
    plan.set_outputs(plan.block("logits", "dense", units=p["num_classes"])(x))


def check_countable_norm(p):
    """Norms that need an argument the family cannot give (AdaLN's `hidden_dim`) or that cannot be counted
    inside a block before allocation are refused by name."""
    norm_type = p["norm"]["type"]
    usable = [
        e.name for e in BLOCKS.entries()
        if e.category == "normalization" and hasattr(e.obj, "count_params_for") and not required_arguments(e.obj)
    ]
    if norm_type not in usable:
        raise ValueError(
            f"`norm.type` must be one of the normalization blocks this family can make and count: "
            f"{', '.join(map(repr, usable))}. "
            f"Received: norm.type={norm_type!r}."
        )
