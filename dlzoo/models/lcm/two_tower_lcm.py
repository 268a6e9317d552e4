"""The `two_tower_lcm` family: the Two-Tower diffusion Large Concept Model."""

from dlzoo.diffusion.ddim_scheduler import BETA_SCHEDULES
from dlzoo.models._transformer import _construct
from dlzoo.models.lcm import _params as P
from dlzoo.registry import get_block, register_model
from dlzoo.validation import check_bool, check_choice, check_float, check_int, check_positive_int, check_rate

DIFFUSION_DEFAULTS = {
    "num_train_timesteps": 100,
    "beta_schedule": "squaredcos_cap_v2",
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "rescale_betas_zero_snr": True,
}

TWO_TOWER_DEFAULTS = dict(
    embedding_dim=1024,
    hidden_dim=2048,
    num_encoder_layers=5,
    num_denoiser_layers=13,
    max_sequence_length=4096,
    position="rope",
    position_initializer_stddev=1.0,
    dropout=0.1,
    final_dropout=0.0,
    timestep_frequency_dim=256,
    cf_guidance_probability=0.15,
    noise_seed=None,
    diffusion=DIFFUSION_DEFAULTS,
    attention=P.ATTENTION_DEFAULTS,
    feedforward=P.FEEDFORWARD_DEFAULTS,
    norm=P.NORM_DEFAULTS,
    model_dim=None,
    sonar_embed_dim=None,
)


def _resolve(params):
    return P.with_defaults(params, TWO_TOWER_DEFAULTS)


def validate_two_tower_lcm(**params):
    p = _resolve(params)
    P.validate_common(p)
    check_positive_int("num_encoder_layers", p["num_encoder_layers"])
    check_positive_int("num_denoiser_layers", p["num_denoiser_layers"])
    check_positive_int("timestep_frequency_dim", p["timestep_frequency_dim"])
    if p["timestep_frequency_dim"] % 2:
        raise ValueError(
            f"`timestep_frequency_dim` must be even. Received: timestep_frequency_dim={p['timestep_frequency_dim']}."
        )
    check_rate("cf_guidance_probability", p["cf_guidance_probability"])
    check_int("noise_seed", p["noise_seed"], allow_none=True)
    diff = p["diffusion"]
    T = check_positive_int("diffusion.num_train_timesteps", diff["num_train_timesteps"])
    if T < 2:
        raise ValueError(f"`diffusion.num_train_timesteps` must be >= 2. Received: diffusion.num_train_timesteps={T}.")
    check_choice("diffusion.beta_schedule", diff["beta_schedule"], BETA_SCHEDULES)
    check_float("diffusion.beta_start", diff["beta_start"], min_value=0.0, max_value=1.0)
    check_float("diffusion.beta_end", diff["beta_end"], min_value=0.0, max_value=1.0)
    check_bool("diffusion.rescale_betas_zero_snr", diff["rescale_betas_zero_snr"])


def _denoiser_kwargs(p):
    kwargs = P.stack_kwargs(p, p["num_denoiser_layers"], rotary=False)
    for key in ("norm_position", "self_attention_mask", "use_final_norm"):
        kwargs.pop(key)
    kwargs.update(
        hidden_dim=p["hidden_dim"],
        timestep_frequency_dim=p["timestep_frequency_dim"],
        cf_guidance_probability=float(p["cf_guidance_probability"]),
        seed=p["noise_seed"],
    )
    return kwargs


def make_denoiser(p, name):
    return _construct("lcm_denoiser", get_block("lcm_denoiser"), name=name, **_denoiser_kwargs(p))


def make_noising(p, name):
    diff = p["diffusion"]
    return _construct(
        "diffusion_noising",
        get_block("diffusion_noising"),
        num_train_timesteps=diff["num_train_timesteps"],
        beta_schedule=diff["beta_schedule"],
        beta_start=float(diff["beta_start"]),
        beta_end=float(diff["beta_end"]),
        rescale_betas_zero_snr=diff["rescale_betas_zero_snr"],
        seed=p["noise_seed"],
        name=name,
    )


def count_two_tower_lcm(**params):
    """Exact count from unbuilt blocks (lcm.md 7: `3sd + s + d^2 + 262d + L_e D + L_d E`)."""
    p = _resolve(params)
    validate_two_tower_lcm(**p)
    s, d = p["embedding_dim"], p["hidden_dim"]
    total = P.make_prenet(p, "count").count_params_for((None, None, s))
    total += P.count_stack(p, p["num_encoder_layers"])
    one = dict(p, num_denoiser_layers=1)
    denoiser = make_denoiser(one, "count")
    per = denoiser.count_params_for((None, None, s), context_shape=(None, None, d))
    layer = denoiser.stack.transformer_layers[0].count_params_for(
        (None, None, d), context_shape=(None, None, d), condition_shape=(None, None, d)
    )
    total += per + (p["num_denoiser_layers"] - 1) * layer
    return int(total)


def two_tower_lcm_blocks(**params):
    p = _resolve(params)
    names = P.blocks_common(p)
    names += ["diffusion_noising", "lcm_denoiser", "timestep_embedding", "ada_ln_zero"]
    return names


def two_tower_lcm_activation_elements(batch_size, sequence_length, **params):
    p = _resolve(params)
    layers = p["num_encoder_layers"] + 2 * p["num_denoiser_layers"]  # a denoiser layer has two attentions
    return P.activation_elements_common(p, batch_size, sequence_length, layers)


@register_model(
    "two_tower_lcm",
    paper="arXiv:2412.08821",
    count_params=count_two_tower_lcm,
    validate=validate_two_tower_lcm,
    blocks=two_tower_lcm_blocks,
    activation_elements=two_tower_lcm_activation_elements,
    inputs=("embeddings", "padding_mask"),
)
def two_tower_lcm(
    embedding_dim=1024,
    hidden_dim=2048,
    num_encoder_layers=5,
    num_denoiser_layers=13,
    max_sequence_length=4096,
    position="rope",
    position_initializer_stddev=1.0,
    dropout=0.1,
    final_dropout=0.0,
    timestep_frequency_dim=256,
    cf_guidance_probability=0.15,
    noise_seed=None,
    diffusion=DIFFUSION_DEFAULTS,
    attention=P.ATTENTION_DEFAULTS,
    feedforward=P.FEEDFORWARD_DEFAULTS,
    norm=P.NORM_DEFAULTS,
    model_dim=None,
    sonar_embed_dim=None,
):
    """Two-Tower diffusion LCM: a causal context encoder and an AdaLN-Zero denoiser.

    The training graph (what `fit` optimizes): `embeddings (b, n, s)`
    (normalized concepts, which are both the context and the clean target
    x0) -> **context tower**: PreNet (`Linear(s -> d)`, learned positions with
    std 1.0 if `position="learned"`) -> `num_encoder_layers` causal decoder
    layers -> final norm: states `(b, n, d)`, state `j` summarizing concepts
    `0..j`. In parallel, `DiffusionNoising` draws one timestep per position and
    noises the embeddings, and the **denoiser** (`lcm_denoiser`) predicts x0
    from `x_t`, the timesteps and the context with the shifted-causal
    cross-attention mask (row `i` sees the prepended zero vector and states
    `< i`) and, in training, the classifier-free-guidance row dropout. Train
    with `dlzoo.lcm.DiffusionMSE` (no shift). Generation uses the layers
    `encoder_prenet`, `encoder` and `denoiser` with a `DDIMScheduler`
    (`dlzoo.lcm.generate`). The defaults are
    `two_tower_diffusion_lcm_1_6B` (1,645,538,304 parameters with `s = 1024`).

    Args:
        embedding_dim: int. Concept size `s` (`sonar_embed_dim`). Defaults to `1024`.
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
        final_dropout: float. Dropout after each tower's final norm. Defaults to `0.0`.
        timestep_frequency_dim: int. Timestep sinusoid size. Defaults to `256`.
        cf_guidance_probability: float. Context row-dropout probability in
            training (`trained_with_cf_guidance`; 0.15 in the recipes, 0 in
            the toy). Defaults to `0.15`.
        noise_seed: int or None. Seed of the noising layer and the guidance
            dropout. Defaults to `None`.
        diffusion: dict. `num_train_timesteps` (100), `beta_schedule`
            (`"squaredcos_cap_v2"`), `beta_start`, `beta_end`,
            `rescale_betas_zero_snr` (True).
        attention: dict. See `dlzoo.models.lcm._params`.
        feedforward: dict. See `dlzoo.models.lcm._params`.
        norm: dict. See `dlzoo.models.lcm._params`.
        model_dim: int or None. Alias of `hidden_dim` (wins when set).
        sonar_embed_dim: int or None. Alias of `embedding_dim` (wins when set).

    Returns:
        `(inputs, outputs)`: inputs `{"embeddings", "padding_mask"}`; output
        the predicted clean concepts `(b, n, s)`.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.3
    """
    p = _resolve(
        dict(
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            num_encoder_layers=num_encoder_layers,
            num_denoiser_layers=num_denoiser_layers,
            max_sequence_length=max_sequence_length,
            position=position,
            position_initializer_stddev=position_initializer_stddev,
            dropout=dropout,
            final_dropout=final_dropout,
            timestep_frequency_dim=timestep_frequency_dim,
            cf_guidance_probability=cf_guidance_probability,
            noise_seed=noise_seed,
            diffusion=diffusion,
            attention=attention,
            feedforward=feedforward,
            norm=norm,
            model_dim=model_dim,
            sonar_embed_dim=sonar_embed_dim,
        )
    )
    validate_two_tower_lcm(**p)
    inputs = P.concept_inputs(p["embedding_dim"])
    embeddings, padding_mask = inputs["embeddings"], inputs["padding_mask"]
    h = P.make_prenet(p, "encoder_prenet")(embeddings)
    context = P.make_stack(p, p["num_encoder_layers"], "encoder")(h, padding_mask=padding_mask)
    noisy, timesteps = make_noising(p, "noising")(embeddings)
    outputs = make_denoiser(p, "denoiser")(
        noisy, timesteps=timesteps, context=context, context_padding_mask=padding_mask
    )
    return inputs, outputs
