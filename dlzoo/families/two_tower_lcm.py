"""The `two_tower_lcm` family: the Two-Tower diffusion Large Concept Model."""

from dlzoo.families import _lcm
from dlzoo.families._transformer import stack_arguments
from dlzoo.parameters import routed_to
from dlzoo.plan import Plan
from dlzoo.registry import register_model


@register_model(
    "two_tower_lcm",
    paper="arXiv:2412.08821",
    params=dict(
        embedding_dim=1024,
        hidden_dim=2048,
        num_encoder_layers=5,
        num_denoiser_layers=13,
        max_sequence_length=4096,
        position="rope",
        position_initializer_stddev=1.0,
        dropout=0.1,
        remat=False,
        final_dropout=0.0,
        timestep_frequency_dim=256,
        cf_guidance_probability=0.15,
        noise_seed=None,
        diffusion=routed_to(
            "diffusion_noising",
            reserved=("seed",),
            num_train_timesteps=100,
            beta_schedule="squaredcos_cap_v2",
            beta_start=1e-4,
            beta_end=0.02,
            rescale_betas_zero_snr=True,
        ),
        **_lcm.sections(),
    ),
)
def two_tower_lcm(p):
    """Two-Tower diffusion LCM: a causal context encoder and an AdaLN-Zero denoiser.

    The training graph (what `fit` optimizes): `embeddings (b, n, s)`
    (normalized concepts, which are both the context and the clean target
    x0) -> **context tower**: PreNet (`Linear(s -> d)`, learned positions with
    std 1.0 if `position="learned"`) -> a causal `transformer_stack` with a
    final norm: states `(b, n, d)`, state `j` summarizing concepts `0..j`.
    In parallel, `diffusion_noising` draws one timestep per position and
    noises the embeddings, and the **denoiser** (`lcm_denoiser`) predicts x0
    from `x_t`, the timesteps and the context with the shifted-causal
    cross-attention mask (row `i` sees the prepended zero vector and states
    `< i`) and, in training, the classifier-free-guidance row dropout. Train
    with `dlzoo.lcm.DiffusionMSE` (no shift). Generation uses the blocks
    `encoder_prenet`, `encoder` and `denoiser` with a `DDIMScheduler`
    (`dlzoo.lcm.generate`). The defaults are
    `two_tower_diffusion_lcm_1_6B` (1,645,538,304 parameters with `s = 1024`).

    Args:
        embedding_dim: int. Concept size `s`. Defaults to `1024`.
        hidden_dim: int. Width `d` of both towers (and the timestep
            embedding). Defaults to `2048`.
        num_encoder_layers: int. Context-tower layers. Defaults to `5`.
        num_denoiser_layers: int. Denoiser layers. Defaults to `13`.
        max_sequence_length: int. Maximum concepts per sequence. Defaults to `4096`.
        position: str. Context-tower positions: `"rope"`, `"learned"`,
            `"sine"` or `"none"` (the denoiser has none). Defaults to `"rope"`.
        position_initializer_stddev: float. Std of a learned table.
            Defaults to `1.0` (the reference `EncoderFrontend`).
        dropout: float. Residual dropout of both towers. Defaults to `0.1`.
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        final_dropout: float. Dropout after each tower's final norm. Defaults to `0.0`.
        timestep_frequency_dim: int. Timestep sinusoid size (even). Defaults to `256`.
        cf_guidance_probability: float. Context row-dropout probability in
            training (`trained_with_cf_guidance`; 0.15 in the recipes, 0 in
            the toy). Defaults to `0.15`.
        noise_seed: int or None. Seed of the noising layer and the guidance
            dropout. Defaults to `None`.
        diffusion: dict. `diffusion_noising` arguments:
            `num_train_timesteps` (100), `beta_schedule`
            (`"squaredcos_cap_v2"`), `beta_start`, `beta_end`,
            `rescale_betas_zero_snr` (True).
        attention: dict. `grouped_query_attention` arguments.
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments.

    Returns:
        A plan with inputs `embeddings` and `padding_mask`; output the
        predicted clean concepts `denoised (b, n, s)`.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.3
    """
    plan = Plan()
    embeddings, padding_mask = _lcm.concept_inputs(plan, p["embedding_dim"])
    h = _lcm.prenet(plan, "encoder_prenet", p)(embeddings)
    encoder = stack_arguments(
        p,
        p["num_encoder_layers"],
        "causal",
        use_final_norm=True,
        final_dropout=p["final_dropout"],
        attention_defaults=_lcm.attention_defaults(p, rotary=p["position"] == "rope"),
        feedforward_defaults=_lcm.feedforward_defaults(p),
    )
    context = plan.block("encoder", "transformer_stack", **encoder)(h, padding_mask=padding_mask)
    plan.add_feature("context", context)
    noisy, timesteps = plan.block("noising", "diffusion_noising", seed=p["noise_seed"], **p["diffusion"])(
        embeddings, num_outputs=2
    )
    denoiser = stack_arguments(
        p,
        p["num_denoiser_layers"],
        "diagonal",
        use_final_norm=True,
        final_dropout=p["final_dropout"],
        attention_defaults=_lcm.attention_defaults(p, rotary=False),
        feedforward_defaults=_lcm.feedforward_defaults(p),
    )
    for key in ("self_attention_mask", "use_final_norm"):
        denoiser.pop(key)
    denoiser["attention_kwargs"].pop("use_rotary_embedding")
    denoised = plan.block(
        "denoiser",
        "lcm_denoiser",
        hidden_dim=p["hidden_dim"],
        timestep_frequency_dim=p["timestep_frequency_dim"],
        cf_guidance_probability=p["cf_guidance_probability"],
        seed=p["noise_seed"],
        **denoiser,
    )(noisy, timesteps=timesteps, context=context, context_padding_mask=padding_mask)
    plan.set_outputs(denoised, name="denoised")
    return plan
