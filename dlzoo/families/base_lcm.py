"""The `base_lcm` family: Base-LCM, next-concept regression with MSE (Meta's Large Concept Model)."""

from dlzoo.families import _lcm
from dlzoo.families._transformer import stack_arguments
from dlzoo.plan import Plan
from dlzoo.registry import register_model


@register_model(
    "base_lcm",
    paper="arXiv:2412.08821",
    params=dict(
        embedding_dim=1024,
        hidden_dim=2048,
        num_layers=32,
        max_sequence_length=4096,
        position="rope",
        position_initializer_stddev=0.006,
        scale_embeddings=False,
        output_dim=None,
        dropout=0.1,
        remat=False,
        final_dropout=0.0,
        **_lcm.sections(),
    ),
)
def base_lcm(p):
    """Base-LCM: a causal Transformer that regresses the next sentence embedding.

    `embeddings (b, n, s)` (already normalized concepts) -> PreNet (biased
    `Linear(s -> d)`, plus learned/sine positions when `position` says so)
    -> a causal pre-norm `transformer_stack` (multi-head attention with
    biased q/k/v, optional output bias, interleaved RoPE; SwiGLU or ReLU
    feed-forward with biases; final norm and final dropout) -> PostNet
    (biased `Linear(d -> s)`). Output `t` predicts concept `t + 1`. Train
    with `dlzoo.lcm.NextConceptMSE` (shifted, summed over dims). The
    defaults are `base_lcm_1_6B` (1,649,185,792 parameters with `s = 1024`).

    Args:
        embedding_dim: int. Concept size `s` (the reference's
            `sonar_embed_dim`). Defaults to `1024`.
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
        remat: bool. Gradient checkpointing of the Transformer stack(s):
            recompute each layer in backpropagation instead of storing its
            activations (needs every dropout rate at 0). Defaults to `False`.
        final_dropout: float. Dropout after the final norm. Defaults to `0.0`.
        attention: dict. `grouped_query_attention` arguments (fairseq2
            initializers unless set; RoPE follows `position`).
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments.

    Returns:
        A plan with inputs `embeddings (b, n, s)` and `padding_mask (b, n)`
        and the output `next_concepts (b, n, output_dim or s)`; blocks
        `prenet`, `decoder` (a `transformer_stack`) and `postnet`.

    Reference:
        - [LCM team, 2024. Large Concept Models: Language Modeling in a Sentence
          Representation Space](https://arxiv.org/abs/2412.08821), section 2.3.1
    """
    plan = Plan()
    embeddings, padding_mask = _lcm.concept_inputs(plan, p["embedding_dim"])
    x = _lcm.prenet(plan, "prenet", p, scale_embeddings=p["scale_embeddings"])(embeddings)
    arguments = stack_arguments(
        p,
        p["num_layers"],
        "causal",
        use_final_norm=True,
        final_dropout=p["final_dropout"],
        attention_defaults=_lcm.attention_defaults(p, rotary=p["position"] == "rope"),
        feedforward_defaults=_lcm.feedforward_defaults(p),
    )
    x = plan.block("decoder", "transformer_stack", **arguments)(x, padding_mask=padding_mask)
    plan.add_feature("sequence_output", x)
    output = plan.block("postnet", "concept_postnet", output_dim=p["output_dim"] or p["embedding_dim"])(x)
    plan.set_outputs(output, name="next_concepts")
    return plan
