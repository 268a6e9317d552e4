"""The `image_classifier` family: small image classifiers with a ConvNeXt-style or MLP backbone.

Both backbones are built from registered blocks and end in the same head
(global average pooling for the ConvNeXt backbone, then a final norm,
dropout and a linear layer to `num_classes` logits):

* `backbone="convnext"`: a `patch_embedding` stem (`patch_size` patches, then
  a norm), then one stage per entry of `hidden_dims`/`depths`: a
  `patch_embedding` downsampling layer (norm first, 2x2 patches) before every
  stage but the first, and `depths[i]` `convnext_block`s. Stochastic depth
  grows linearly from 0 to `drop_path_rate` over all blocks, as in ConvNeXt.
* `backbone="mlp"`: the image is flattened and projected to `hidden_dims[0]`;
  each stage (projected to its width when it changes) has `depths[i]`
  pre-norm residual `mlp` blocks (`x + drop_path(mlp(norm(x)))`).
"""

import dlzoo.blocks.vision  # noqa: F401  (registers patch_embedding and convnext_block)
from dlzoo.registry import get_block, register_model
from dlzoo.validation import check_bool, check_choice, check_float, check_positive_int, check_rate

BACKBONES = ("convnext", "mlp")
CONVNEXT_PAPER = "arXiv:2201.03545"


def _norm_type(p):
    return p["norm"]["type"]


def validate_image_classifier(**p):
    """Cross-parameter checks (before any block exists)."""
    shape = p["image_shape"]
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(
            "`image_shape` must be [height, width, channels] with positive integers. "
            f"Received: image_shape={shape!r}."
        )
    check_positive_int("num_classes", p["num_classes"])
    check_choice("backbone", p["backbone"], BACKBONES)
    dims, depths = p["hidden_dims"], p["depths"]
    if not dims or len(dims) != len(depths):
        raise ValueError(
            "`hidden_dims` and `depths` must be non-empty lists of the same length (one entry per stage). "
            f"Received: hidden_dims={dims!r}, depths={depths!r}."
        )
    for i, (d, n) in enumerate(zip(dims, depths)):
        check_positive_int(f"hidden_dims[{i}]", d)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"`depths[{i}]` must be an integer >= 0. Received: depths={depths!r}.")
    check_positive_int("patch_size", p["patch_size"])
    check_positive_int("kernel_size", p["kernel_size"])
    check_positive_int("intermediate_ratio", p["intermediate_ratio"])
    check_rate("drop_path_rate", p["drop_path_rate"])
    check_rate("dropout", p["dropout"])
    check_bool("use_layer_scale", p["use_layer_scale"])
    check_float("layer_scale_init_value", p["layer_scale_init_value"])
    check_float("norm.epsilon", p["norm"]["epsilon"], min_value=0.0)
    from dlzoo.models._transformer import check_norm_type

    check_norm_type("norm.type", _norm_type(p))
    if p["backbone"] == "convnext":
        reduction = p["patch_size"] * 2 ** (len(dims) - 1)
        h, w, _ = shape
        if h % reduction or w % reduction:
            raise ValueError(
                f"With backbone='convnext', the image height and width must be multiples of "
                f"patch_size * 2**(stages - 1) = {reduction}. "
                f"Received: image_shape={shape!r}, patch_size={p['patch_size']}, hidden_dims={dims!r}."
            )


def _drop_rates(p):
    total = sum(p["depths"])
    rate = float(p["drop_path_rate"])
    return [rate * i / max(total - 1, 1) for i in range(total)]


def _norm(p, name):
    return get_block(_norm_type(p))(epsilon=float(p["norm"]["epsilon"]), name=name)


def _convnext_layers(p):
    """(layer, input_shape) pairs of the ConvNeXt backbone, in order (unbuilt)."""
    patch_embedding, convnext_block = get_block("patch_embedding"), get_block("convnext_block")
    h, w, c = p["image_shape"]
    layers, rates, k = [], _drop_rates(p), 0
    for stage, (dim, depth) in enumerate(zip(p["hidden_dims"], p["depths"])):
        size = p["patch_size"] if stage == 0 else 2
        layer = patch_embedding(
            hidden_dim=dim,
            patch_size=size,
            norm=_norm_type(p),
            norm_position="post" if stage == 0 else "pre",
            norm_epsilon=float(p["norm"]["epsilon"]),
            name="stem" if stage == 0 else f"downsample_{stage}",
        )
        layers.append((layer, (None, h, w, c)))
        h, w, c = h // size, w // size, dim
        for i in range(depth):
            block = convnext_block(
                kernel_size=p["kernel_size"],
                intermediate_dim=p["intermediate_ratio"] * dim,
                norm=_norm_type(p),
                norm_epsilon=float(p["norm"]["epsilon"]),
                use_layer_scale=p["use_layer_scale"],
                layer_scale_init_value=float(p["layer_scale_init_value"]),
                drop_path_rate=rates[k],
                name=f"stage_{stage}_block_{i}",
            )
            layers.append((block, (None, h, w, c)))
            k += 1
    return layers, c


def _dense_count(d_in, d_out):
    return d_in * d_out + d_out


def count_image_classifier(**p):
    """Exact parameter count from unbuilt blocks and closed forms."""
    if p["backbone"] == "convnext":
        layers, width = _convnext_layers(p)
        total = sum(layer.count_params_for(shape) for layer, shape in layers)
    else:
        h, w, c = p["image_shape"]
        width = p["hidden_dims"][0]
        total = _dense_count(h * w * c, width)
        mlp = get_block("mlp")
        for dim, depth in zip(p["hidden_dims"], p["depths"]):
            if dim != width:
                total += _dense_count(width, dim)
                width = dim
            block = mlp(intermediate_dim=p["intermediate_ratio"] * dim)
            norm = _norm(p, "count")
            total += depth * (norm.count_params_for((None, dim)) + block.count_params_for((None, dim)))
    total += _norm(p, "count").count_params_for((None, width))
    total += _dense_count(width, p["num_classes"])
    return int(total)


def image_classifier_blocks(**p):
    names = ["patch_embedding", "convnext_block"] if p["backbone"] == "convnext" else ["mlp", "drop_path"]
    return names + [_norm_type(p)]


def image_classifier_activation_elements(batch_size, sequence_length, **p):
    """Elements kept for the backward pass (an estimate; `sequence_length` is unused).

    ConvNeXt block: input, depthwise output, norm output, the `r`-times wider
    pre- and post-activation maps, and the output: `(4 + 2r) * h * w * c`.
    MLP block: the same per feature vector. Stems/projections add their outputs.
    """
    h, w, c = p["image_shape"]
    r = p["intermediate_ratio"]
    total = h * w * c
    if p["backbone"] == "convnext":
        for stage, (dim, depth) in enumerate(zip(p["hidden_dims"], p["depths"])):
            size = p["patch_size"] if stage == 0 else 2
            h, w = h // size, w // size
            total += 2 * h * w * dim + depth * (4 + 2 * r) * h * w * dim
        width = p["hidden_dims"][-1]
    else:
        for dim, depth in zip(p["hidden_dims"], p["depths"]):
            total += dim + depth * (4 + 2 * r) * dim
        width = p["hidden_dims"][-1]
    total += 2 * width + p["num_classes"]
    return int(total * batch_size)


@register_model(
    "image_classifier",
    paper=CONVNEXT_PAPER,
    count_params=count_image_classifier,
    validate=validate_image_classifier,
    blocks=image_classifier_blocks,
    activation_elements=image_classifier_activation_elements,
    inputs=("images",),
)
def image_classifier(
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
    norm={"type": "layer_norm", "epsilon": 1e-6},
):
    """A small image classifier with a ConvNeXt-style or MLP backbone.

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
        norm: dict. `type` (registered normalization block) and `epsilon`.

    Returns:
        `(inputs, outputs)`: inputs `{"images": float32 (batch, h, w, c)}`;
        outputs logits `(batch, num_classes)` (no softmax: use
        `from_logits=True` losses).

    Reference:
        - [Liu et al., 2022. A ConvNet for the 2020s](https://arxiv.org/abs/2201.03545)
    """
    import keras

    p = dict(
        image_shape=list(image_shape),
        num_classes=num_classes,
        backbone=backbone,
        hidden_dims=list(hidden_dims),
        depths=list(depths),
        patch_size=patch_size,
        kernel_size=kernel_size,
        intermediate_ratio=intermediate_ratio,
        drop_path_rate=drop_path_rate,
        use_layer_scale=use_layer_scale,
        layer_scale_init_value=layer_scale_init_value,
        dropout=dropout,
        norm=norm,
    )
    validate_image_classifier(**p)
    images = keras.Input(shape=tuple(p["image_shape"]), name="images")
    if p["backbone"] == "convnext":
        layers, width = _convnext_layers(p)
        x = images
        for layer, _ in layers:
            x = layer(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        width = p["hidden_dims"][0]
        x = keras.layers.Flatten(name="flatten")(images)
        x = keras.layers.Dense(width, name="input_projection")(x)
        mlp, drop_path = get_block("mlp"), get_block("drop_path")
        rates, k = _drop_rates(p), 0
        for stage, (dim, depth) in enumerate(zip(p["hidden_dims"], p["depths"])):
            if dim != width:
                x = keras.layers.Dense(dim, name=f"projection_{stage}")(x)
                width = dim
            for i in range(depth):
                branch = _norm(p, f"stage_{stage}_block_{i}_norm")(x)
                branch = mlp(intermediate_dim=p["intermediate_ratio"] * dim, name=f"stage_{stage}_block_{i}_mlp")(branch)
                branch = drop_path(rate=rates[k], name=f"stage_{stage}_block_{i}_drop_path")(branch)
                x = keras.layers.Add(name=f"stage_{stage}_block_{i}_add")([x, branch])
                k += 1
    x = _norm(p, "head_norm")(x)
    x = keras.layers.Dropout(float(p["dropout"]), name="head_dropout")(x)
    logits = keras.layers.Dense(p["num_classes"], name="logits")(x)
    return {"images": images}, logits
