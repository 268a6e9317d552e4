"""The `vit` family: Vision Transformers (an image as a sequence of patch tokens)."""

from dlzoo.families._convnet import check_countable_norm, check_image_shape
from dlzoo.families._transformer import (
    add_layer_features,
    attention_section,
    feedforward_section,
    norm_section,
    stack_arguments,
)
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_choice, check_int, check_positive_int, check_rate

POOLINGS = ("cls", "mean")


def _patch_grid(p):
    """The rule between `image_shape` and `patch_size`: patches tile the image exactly."""
    check_image_shape(p["image_shape"])
    height, width, _ = p["image_shape"]
    patch = check_positive_int("patch_size", p["patch_size"])
    if height % patch or width % patch:
        raise ValueError(
            "The image height and width must be multiples of `patch_size`. "
            f"Received: image_shape={p['image_shape']!r}, patch_size={patch}."
        )
    return [height // patch, width // patch]


def _position_grid(p, grid):
    """The position table's grid: `position_grid_size`, or the image's own patch grid."""
    value = p["position_grid_size"]
    if value is None:
        return grid
    pair = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (list, tuple))
        or len(pair) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in pair)
    ):
        raise ValueError(
            "`position_grid_size` must be None (the image's patch grid), a positive integer or "
            f"[height, width] with positive integers. Received: position_grid_size={value!r}."
        )
    return list(pair)


@register_model(
    "vit",
    paper="arXiv:2010.11929",
    params=dict(
        image_shape=[224, 224, 3],
        patch_size=16,
        hidden_dim=768,
        num_layers=12,
        num_classes=1000,
        pooling="cls",
        position_grid_size=None,
        dropout=0.0,
        remat=False,
        drop_path_rate=0.0,
        attention=attention_section(num_heads=12, use_qkv_bias=True, use_output_bias=True, attention_dropout=0.0),
        feedforward=feedforward_section(type="mlp", intermediate_dim=3072, activation="gelu", use_bias=True),
        norm=norm_section(type="layer_norm", epsilon=1e-12),
    ),
)
def vit(p):
    """A Vision Transformer (ViT) image classifier.

    The image is cut into `patch_size x patch_size` patches, each linearly
    embedded (`patch_embedding`, no norm) and flattened row by row into a
    token sequence. With `pooling="cls"` a learned `class_token` is put in
    front; learned `patch_position_embedding`s (one row per patch, plus one
    for the class token) are added, resized bicubically when the image's
    patch grid differs from `position_grid_size`. A bidirectional pre-norm
    `transformer_stack` (multi-head attention with biases, exact-GELU MLP,
    final LayerNorm) follows; the class token's final state (or the mean of
    the patch tokens) is classified by one linear layer. The defaults are
    ViT-B/16 at 224x224 with 1000 classes: 86,567,656 parameters, as Hugging
    Face `ViTForImageClassification`, whose layout (LayerNorm epsilon
    1e-12, no pooler, linear head on the normalized class token) this
    family follows; timm and the original JAX code use epsilon 1e-6
    (`norm={"epsilon": 1e-6}`).

    Args:
        image_shape: list. `[height, width, channels]` of the input images.
            Defaults to `[224, 224, 3]`.
        patch_size: int. Side of the square patches; must divide the height
            and width. Defaults to `16`.
        hidden_dim: int. Token width. Defaults to `768`.
        num_layers: int. Number of Transformer layers. Defaults to `12`.
        num_classes: int. Classes of the linear head; `0` drops the head and
            the model outputs `pooled_output` `(batch, hidden_dim)`.
            Defaults to `1000`.
        pooling: str. `"cls"` (a class token, read out at the end) or
            `"mean"` (no class token; the mean of the patch tokens, the
            paper's global-average-pooling variant). Defaults to `"cls"`.
        position_grid_size: int, `[height, width]` or None. Patch grid of
            the position table, e.g. `[14, 14]` to use weights pre-trained
            at 224x224 with 16x16 patches on other image sizes; `None`
            means the grid of `image_shape`. Defaults to `None`.
        dropout: float. Dropout after the embeddings and on each residual
            branch. Defaults to `0.0`.
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        drop_path_rate: float. Stochastic depth of the last layer (linear
            over depth; DeiT uses 0.1). Defaults to `0.0`.
        attention: dict. `grouped_query_attention` arguments.
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments.

    Returns:
        A plan with the input `images (batch, height, width, channels)` and
        the output `logits (batch, num_classes)` (or `pooled_output`).
        Features: `embeddings`, `transformer_layer_<i>`, `sequence_output`,
        `pooled_output`.

    Reference:
        - [Dosovitskiy et al., 2020. An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale](https://arxiv.org/abs/2010.11929)
        - [Touvron et al., 2021. Training data-efficient image transformers & distillation through attention (DeiT)](https://arxiv.org/abs/2012.12877) (the Tiny and Small sizes)
    """
    grid = _patch_grid(p)
    check_countable_norm(p)
    position_grid = _position_grid(p, grid)
    pooling = check_choice("pooling", p["pooling"], POOLINGS)
    num_classes = check_int("num_classes", p["num_classes"], min_value=0)
    check_rate("drop_path_rate", p["drop_path_rate"])
    hidden_dim = p["hidden_dim"]
    use_class_token = pooling == "cls"

    plan = Plan()
    images = plan.input("images", tuple(p["image_shape"]), "float32")
    patches = plan.block(
        "patch_embedding", "patch_embedding", hidden_dim=hidden_dim, patch_size=p["patch_size"], norm_position="none"
    )(images)  # (b, h, w, d)
    tokens = plan.block("patch_tokens", "reshape", target_shape=[grid[0] * grid[1], hidden_dim])(patches)
    if use_class_token:
        tokens = plan.block("class_token", "class_token")(tokens)  # (b, 1 + h*w, d)
    positions = plan.block(
        "position_embedding",
        "patch_position_embedding",
        grid_size=position_grid,
        num_prefix_tokens=int(use_class_token),
    )(patches)
    x = plan.block("embeddings_add", "add")([tokens, positions])
    if p["dropout"] > 0:
        x = plan.block("embeddings_dropout", "dropout", rate=p["dropout"])(x)
    plan.add_feature("embeddings", x)
    arguments = stack_arguments(
        p, p["num_layers"], "bidirectional", use_final_norm=True, drop_path_rate=p["drop_path_rate"]
    )
    x = plan.block("encoder", "transformer_stack", **arguments)(x)
    add_layer_features(plan, "encoder", p["num_layers"])
    plan.add_feature("sequence_output", x)
    pooled = plan.block("pooling", "sequence_pooling", pooling=pooling)(x)
    plan.add_feature("pooled_output", pooled)
    if num_classes:
        plan.set_outputs(plan.block("logits", "dense", units=num_classes)(pooled))
    else:
        plan.set_outputs(pooled, name="pooled_output")
    return plan
