"""The `base_lcm` family: Base-LCM, next-concept regression with MSE (Meta's Large Concept Model)."""

from dlzoo.models._transformer import _construct
from dlzoo.models.lcm import _params as P
from dlzoo.registry import get_block, register_model
from dlzoo.validation import check_bool, check_positive_int

BASE_LCM_DEFAULTS = dict(
    embedding_dim=1024,
    hidden_dim=2048,
    num_layers=32,
    max_sequence_length=4096,
    position="rope",
    position_initializer_stddev=0.006,
    scale_embeddings=False,
    output_dim=None,
    dropout=0.1,
    final_dropout=0.0,
    attention=P.ATTENTION_DEFAULTS,
    feedforward=P.FEEDFORWARD_DEFAULTS,
    norm=P.NORM_DEFAULTS,
    model_dim=None,
    sonar_embed_dim=None,
)


def _resolve(params):
    return P.with_defaults(params, BASE_LCM_DEFAULTS)


def validate_base_lcm(**params):
    p = _resolve(params)
    P.validate_common(p)
    check_positive_int("num_layers", p["num_layers"])
    check_positive_int("output_dim", p["output_dim"], allow_none=True)
    check_bool("scale_embeddings", p["scale_embeddings"])


def _make_postnet(p, name):
    return _construct(
        "concept_postnet", get_block("concept_postnet"), output_dim=p["output_dim"] or p["embedding_dim"], name=name
    )


def count_base_lcm(**params):
    """Exact parameter count from unbuilt blocks (lcm.md 7: `2sd + 2d + s + L * D` for the 1.6B)."""
    p = _resolve(params)
    validate_base_lcm(**p)
    s, d = p["embedding_dim"], p["hidden_dim"]
    total = P.make_prenet(p, "count").count_params_for((None, None, s))
    total += P.count_stack(p, p["num_layers"])
    total += _make_postnet(p, "count").count_params_for((None, None, d))
    return int(total)


def base_lcm_blocks(**params):
    p = _resolve(params)
    return P.blocks_common(p) + ["concept_postnet"]


def base_lcm_activation_elements(batch_size, sequence_length, **params):
    p = _resolve(params)
    return P.activation_elements_common(p, batch_size, sequence_length, p["num_layers"])


@register_model(
    "base_lcm",
    paper="arXiv:2412.08821",
    count_params=count_base_lcm,
    validate=validate_base_lcm,
    blocks=base_lcm_blocks,
    activation_elements=base_lcm_activation_elements,
    inputs=("embeddings", "padding_mask"),
)
def base_lcm(
    embedding_dim=1024,
    hidden_dim=2048,
    num_layers=32,
    max_sequence_length=4096,
    position="rope",
    position_initializer_stddev=0.006,
    scale_embeddings=False,
    output_dim=None,
    dropout=0.1,
    final_dropout=0.0,
    attention=P.ATTENTION_DEFAULTS,
    feedforward=P.FEEDFORWARD_DEFAULTS,
    norm=P.NORM_DEFAULTS,
    model_dim=None,
    sonar_embed_dim=None,
):
    """Base-LCM: a causal Transformer that regresses the next sentence embedding.

    `embeddings (b, n, s)` (already normalized concepts) -> PreNet (biased
    `Linear(s -> d)`, plus learned/sine positions when `position` says so)
    -> `num_layers` pre-norm causal decoder layers (multi-head attention
    with biased q/k/v, optional output bias, interleaved RoPE; SwiGLU or
    ReLU feed-forward with biases) -> final norm (+ final dropout) ->
    PostNet (biased `Linear(d -> s)`). Output `t` predicts concept `t + 1`.
    Train with `dlzoo.lcm.NextConceptMSE` (shifted, summed over dims). The
    defaults are `base_lcm_1_6B` (1,649,185,792 parameters with `s = 1024`).

    Args:
        embedding_dim: int. Concept size `s` (`sonar_embed_dim`). Defaults to `1024`.
        hidden_dim: int. Model width `d` (`model_dim`). Defaults to `2048`.
        num_layers: int. Decoder layers. Defaults to `32`.
        max_sequence_length: int. Maximum concepts per sequence (rows of a
            learned position table). Defaults to `4096`.
        position: str. `"rope"`, `"learned"`, `"sine"` or `"none"`. Defaults to `"rope"`.
        position_initializer_stddev: float. Std of a learned table. Defaults
            to `0.006` (the SONAR std).
        scale_embeddings: bool. Multiply inputs by `sqrt(d)` before the
            PreNet. Defaults to `False`.
        output_dim: int or None. PostNet output (`model_output_dim`); `None` = `s`.
        dropout: float. Residual dropout. Defaults to `0.1`.
        final_dropout: float. Dropout after the final norm. Defaults to `0.0`.
        attention: dict. See `dlzoo.models.lcm._params`.
        feedforward: dict. See `dlzoo.models.lcm._params`.
        norm: dict. See `dlzoo.models.lcm._params`.
        model_dim: int or None. Alias of `hidden_dim` (wins when set).
        sonar_embed_dim: int or None. Alias of `embedding_dim` (wins when set).

    Returns:
        `(inputs, outputs)`: inputs `{"embeddings": (b, n, s), "padding_mask":
        (b, n) bool}`; output `(b, n, output_dim or s)`. Layers are named
        `prenet`, `decoder` (a `transformer_stack`) and `postnet`.

    Reference:
        - [LCM team, 2024. Large Concept Models: Language Modeling in a Sentence
          Representation Space](https://arxiv.org/abs/2412.08821), section 2.3.1
    """
    p = _resolve(
        dict(
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            max_sequence_length=max_sequence_length,
            position=position,
            position_initializer_stddev=position_initializer_stddev,
            scale_embeddings=scale_embeddings,
            output_dim=output_dim,
            dropout=dropout,
            final_dropout=final_dropout,
            attention=attention,
            feedforward=feedforward,
            norm=norm,
            model_dim=model_dim,
            sonar_embed_dim=sonar_embed_dim,
        )
    )
    validate_base_lcm(**p)
    inputs = P.concept_inputs(p["embedding_dim"])
    x = P.make_prenet(p, "prenet")(inputs["embeddings"])
    x = P.make_stack(p, p["num_layers"], "decoder")(x, padding_mask=inputs["padding_mask"])
    outputs = _make_postnet(p, "postnet")(x)
    return inputs, outputs
