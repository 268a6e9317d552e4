"""The `dit` family: Diffusion Transformers (DiT), class-conditional noise prediction on image latents."""

from dlzoo.families._transformer import attention_section, feedforward_section, norm_section, stack_arguments
from dlzoo.parameters import routed_to
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_bool, check_positive_int


def _check_image(p):
    """Rules that span blocks: the patch grid covers the image, the width holds the 2-D sin-cos table."""
    shape = p["image_shape"]
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(
            "`image_shape` must be [height, width, channels] with positive integers. "
            f"Received: image_shape={shape!r}."
        )
    patch_size = check_positive_int("patch_size", p["patch_size"])
    if shape[0] % patch_size or shape[1] % patch_size:
        raise ValueError(
            "`patch_size` must divide the image height and width. "
            f"Received: patch_size={patch_size}, image_shape={shape!r}."
        )
    hidden_dim = check_positive_int("hidden_dim", p["hidden_dim"])
    if hidden_dim % 4:
        raise ValueError(
            "`hidden_dim` must be a multiple of 4 (the 2-D sin-cos position table has four parts). "
            f"Received: hidden_dim={hidden_dim}."
        )


@register_model(
    "dit",
    paper="arXiv:2212.09748",
    params=dict(
        image_shape=[32, 32, 4],
        num_classes=1000,
        patch_size=2,
        hidden_dim=1152,
        num_layers=28,
        learn_sigma=True,
        label_dropout=0.1,
        dropout=0.0,
        remat=False,
        seed=None,
        timestep=routed_to("timestep_embedding", reserved=("hidden_dim",), frequency_dim=256, frequency_shift=0.0),
        attention=attention_section(num_heads=16, use_qkv_bias=True, use_output_bias=True),
        feedforward=feedforward_section(type="mlp", intermediate_dim=4608, activation="gelu_approximate"),
        norm=norm_section(type="layer_norm", epsilon=1e-6, use_scale=False, use_bias=False),
    ),
)
def dit(p):
    """DiT: a Transformer over latent patches, conditioned on the timestep and the class by AdaLN-Zero.

    `latents (b, H, W, C)` -> `patch_embedding` (a `p x p` convolution with
    stride `p`: patchify + linear) -> + the fixed 2-D sin-cos table ->
    `(b, (H/p)(W/p), d)` tokens. The condition is
    `c = TimestepEmbedding(t) + ClassEmbedding(y)` (256-feature sinusoid and
    an MLP; a table with a null class, labels dropped to it with
    probability `label_dropout` in training). `num_layers` DiT blocks (a
    bidirectional pre-norm `transformer_stack` with `use_adaptive_norm=True`:
    LayerNorms without affine parameters, modulated by
    `(shift, scale, gate)` x (attention, MLP) from `SiLU(c)`, zero-initialised;
    GELU-tanh MLP of width `feedforward.intermediate_dim`, `4d` in DiT), then `dit_final_layer`
    (modulated LayerNorm, linear to `p * p * C_out` per token, zero-initialised)
    and `unpatchify`. The defaults are DiT-XL/2 for 256-px images (32x32x4
    latents): 674,834,720 weights (the reference code also counts its fixed
    256 x 1152 position table: 675,129,632).

    Args:
        image_shape: list. `[height, width, channels]` of the latents.
            Defaults to `[32, 32, 4]`.
        num_classes: int. Class labels `0 .. num_classes - 1`; `num_classes`
            is the null class. Defaults to `1000`.
        patch_size: int. Patch side `p`; divides height and width. Defaults to `2`.
        hidden_dim: int. Width `d` (a multiple of 4). Defaults to `1152`.
        num_layers: int. DiT blocks. Defaults to `28`.
        learn_sigma: bool. Predict `2C` channels: the noise and the
            variance-interpolation values (outputs `noise` and
            `variance_interpolation`); else the output `noise` alone.
            Defaults to `True`.
        label_dropout: float. Probability of the null class in training
            (classifier-free guidance). Defaults to `0.1`.
        dropout: float. Residual dropout in the blocks. Defaults to `0.0`.
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        seed: int or None. Seed of the label dropout. Defaults to `None`.
        timestep: dict. `timestep_embedding` arguments: `frequency_dim` (256),
            `frequency_shift` (0 = DiT; 1 = diffusers), `max_period`, `order`.
        attention: dict. `grouped_query_attention` arguments (`num_heads` 16,
            biased q/k/v and output).
        feedforward: dict. `type` (`mlp`) and its arguments
            (`intermediate_dim` 4608 = 4d, `activation` `gelu_approximate`).
        norm: dict. `type` and the norm's arguments (LayerNorm, epsilon 1e-6,
            no scale or bias).

    Returns:
        A plan with inputs `latents (b, H, W, C)` float32, `timesteps (b,)`
        and `class_labels (b,)` int32; outputs `noise (b, H, W, C)` (and
        `variance_interpolation (b, H, W, C)` with `learn_sigma`).

    Reference:
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748)
    """
    _check_image(p)
    learn_sigma = check_bool("learn_sigma", p["learn_sigma"])
    height, width, channels = p["image_shape"]
    size, d = p["patch_size"], p["hidden_dim"]

    plan = Plan()
    latents = plan.input("latents", (height, width, channels), "float32")
    timesteps = plan.input("timesteps", (), "int32")
    class_labels = plan.input("class_labels", (), "int32")

    x = plan.block("patch_embedding", "patch_embedding", hidden_dim=d, patch_size=size, norm_position="none")(latents)
    positions = plan.block("position_embedding", "sinusoidal_position_embedding_2d")(x)
    x = plan.block("embeddings_add", "add")([x, positions])
    x = plan.block("tokens", "reshape", target_shape=[(height // size) * (width // size), d])(x)

    t = plan.block("timestep_embedding", "timestep_embedding", hidden_dim=d, **p["timestep"])(timesteps)
    y = plan.block(
        "class_embedding",
        "class_embedding",
        num_classes=p["num_classes"],
        hidden_dim=d,
        label_dropout=p["label_dropout"],
        seed=p["seed"],
    )(class_labels)
    condition = plan.block("condition", "add")([t, y])

    arguments = stack_arguments(
        p,
        p["num_layers"],
        "bidirectional",
        use_final_norm=False,
        use_adaptive_norm=True,
    )
    x = plan.block("transformer", "transformer_stack", **arguments)(x, condition=condition)
    plan.add_feature("sequence_output", x)

    output_channels = 2 * channels if learn_sigma else channels
    x = plan.block("final_layer", "dit_final_layer", patch_size=size, output_channels=output_channels)(
        x, condition=condition
    )
    x = plan.block("unpatchify", "unpatchify", patch_size=size, height=height, width=width)(x)
    if learn_sigma:
        noise, variance = plan.block("learned_sigma", "learned_sigma_split")(x, num_outputs=2)
        plan.set_outputs({"noise": noise, "variance_interpolation": variance})
    else:
        plan.set_outputs(x, name="noise")
    return plan
