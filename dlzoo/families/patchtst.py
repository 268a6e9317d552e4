"""The `patchtst` family: PatchTST forecasters (patches of each channel as tokens of a Transformer encoder)."""

from dlzoo.blocks.timeseries.series_patching import num_patches
from dlzoo.families._transformer import attention_section, feedforward_section, norm_section, stack_arguments
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_bool, check_choice, check_positive_int, check_rate

NORM_POSITIONS = ("pre", "post")


def series_input(plan: Plan, p):
    """The forecasters' input `past_values (batch, context_length, num_channels)` (float32)."""
    context = check_positive_int("context_length", p["context_length"])
    channels = check_positive_int("num_channels", p["num_channels"])
    return plan.input("past_values", (context, channels), "float32")


def _check_patches(p):
    """The rule between `context_length` and `patch_length`: at least one whole patch fits."""
    context = check_positive_int("context_length", p["context_length"])
    patch = check_positive_int("patch_length", p["patch_length"])
    if patch > context:
        raise ValueError(
            "`patch_length` must not exceed `context_length`. "
            f"Received: patch_length={patch}, context_length={context}."
        )
    return num_patches(context, patch, check_positive_int("patch_stride", p["patch_stride"]), p["use_end_padding"])


@register_model(
    "patchtst",
    paper="arXiv:2211.14730",
    params=dict(
        context_length=336,
        prediction_length=96,
        num_channels=7,
        patch_length=16,
        patch_stride=8,
        use_end_padding=True,
        use_revin=True,
        revin_affine=False,
        hidden_dim=128,
        num_layers=3,
        dropout=0.2,
        head_dropout=0.0,
        norm_position="post",
        remat=False,
        attention=attention_section(num_heads=16, use_qkv_bias=True, use_output_bias=True, attention_dropout=0.0),
        feedforward=feedforward_section(type="mlp", intermediate_dim=256, activation="gelu", use_bias=True),
        norm=norm_section(type="batch_norm", epsilon=1e-5, momentum=0.9),
    ),
)
def patchtst(p):
    """A PatchTST forecaster: channel-independent patch tokens through a Transformer encoder.

    `past_values (batch, context_length, num_channels)` is normalized per
    series by RevIN (`reversible_instance_norm`), each channel becomes its
    own example (`channel_independence`, weights shared by all channels),
    cut into patches of `patch_length` steps every `patch_stride` steps
    (`series_patching`), each patch linearly embedded (`dense`) plus a
    learned position (`learned_position_embedding`), and encoded by a
    bidirectional `transformer_stack` (multi-head attention, GELU MLP,
    post-norm BatchNorm as the paper; no final norm, also with
    `norm_position="pre"`, as Hugging Face). The flatten head
    (`flatten`, `dropout`, `dense`) maps all patch states of a channel to
    its `prediction_length` future values; the channels are unfolded and
    RevIN's statistics put back.

    The defaults are the paper's PatchTST/42 for the larger data sets
    (look-back 336, 3 layers, width 128, 16 heads, MLP 256, dropout 0.2,
    patches 16 / stride 8: 42 patches; Nie et al., 2023, section 4.1 and
    appendix A.1.4); ETTh1/ETTh2 use width 16, 4 heads, MLP 128, dropout 0.3.
    With `use_end_padding=False` and a learned position table the model is
    Hugging Face `PatchTSTForPrediction` (`scaling="std"`,
    `positional_encoding_type="random"`, `share_embedding=True`,
    `share_projection=True`, `channel_attention=False`, no class token):
    the weights convert one to one (`tests/families/test_patchtst.py`).

    Args:
        context_length: int. Look-back window (input steps). Defaults to `336`.
        prediction_length: int. Forecast horizon (output steps). Defaults to `96`.
        num_channels: int. Channels (variables) of the series; the weights do
            not depend on it. Defaults to `7`.
        patch_length: int. Steps per patch. Defaults to `16`.
        patch_stride: int. Steps between patch starts. Defaults to `8`.
        use_end_padding: bool. Pad the end with `patch_stride` copies of the
            last value before patching (the paper); `False` drops the first
            steps instead (Hugging Face). Defaults to `True`.
        use_revin: bool. Reversible instance normalization around the model.
            Defaults to `True`.
        revin_affine: bool. RevIN's learned per-channel affine map (the
            paper's scripts: off). Defaults to `False`.
        hidden_dim: int. Token width. Defaults to `128`.
        num_layers: int. Encoder layers. Defaults to `3`.
        dropout: float. Dropout after the position embedding and on each
            residual branch. Defaults to `0.2`.
        head_dropout: float. Dropout before the head's linear layer.
            Defaults to `0.0`.
        norm_position: str. `"post"` (the paper, Hugging Face's default) or
            `"pre"`. Defaults to `"post"`.
        remat: bool. Gradient checkpointing of the encoder. Defaults to `False`.
        attention: dict. `grouped_query_attention` arguments.
        feedforward: dict. `type` and the feed-forward block's arguments.
        norm: dict. `type` and the norm's arguments: `batch_norm` over the
            tokens (the paper; `momentum` in the Keras convention, 0.9 =
            PyTorch's 0.1) or `layer_norm`.

    Returns:
        A plan with the input `past_values (batch, context_length,
        num_channels)` and the output `predictions (batch,
        prediction_length, num_channels)`. Features: `embeddings`,
        `sequence_output` (`(batch * num_channels, num_patches, hidden_dim)`).

    Reference:
        - [Nie et al., 2023. A Time Series is Worth 64 Words: Long-term Forecasting with Transformers (PatchTST)](https://arxiv.org/abs/2211.14730)
        - [Kim et al., 2022. Reversible Instance Normalization for Accurate Time-Series Forecasting against Distribution Shift](https://openreview.net/forum?id=cGDAkQo1C0p)
    """
    check_bool("use_end_padding", p["use_end_padding"])
    patches = _check_patches(p)
    use_revin = check_bool("use_revin", p["use_revin"])
    check_choice("norm_position", p["norm_position"], NORM_POSITIONS)
    check_rate("head_dropout", p["head_dropout"])
    horizon = check_positive_int("prediction_length", p["prediction_length"])
    channels = p["num_channels"]
    hidden_dim = p["hidden_dim"]

    plan = Plan()
    x = series_input(plan, p)
    if use_revin:
        revin = plan.block("revin", "reversible_instance_norm", use_affine=p["revin_affine"])
        x, mean, std = revin(x, num_outputs=3)
    independence = plan.block("channel_independence", "channel_independence", num_channels=channels)
    series = independence(x)  # (b*c, t)
    tokens = plan.block(
        "patching",
        "series_patching",
        patch_length=p["patch_length"],
        stride=p["patch_stride"],
        use_end_padding=p["use_end_padding"],
    )(series)  # (b*c, n, patch_length)
    tokens = plan.block("patch_embedding", "dense", units=hidden_dim)(tokens)  # (b*c, n, d)
    positions = plan.block("position_embedding", "learned_position_embedding", max_sequence_length=patches)(tokens)
    h = plan.block("embeddings_add", "add")([tokens, positions])
    if p["dropout"] > 0:
        h = plan.block("embeddings_dropout", "dropout", rate=p["dropout"])(h)
    plan.add_feature("embeddings", h)
    # No final norm in either position (the paper's post-norm encoder; Hugging Face's pre-norm one too).
    arguments = stack_arguments(p, p["num_layers"], "bidirectional", use_final_norm=False)
    h = plan.block("encoder", "transformer_stack", **arguments)(h)
    plan.add_feature("sequence_output", h)
    h = plan.block("head_flatten", "flatten")(h)  # (b*c, n*d)
    if p["head_dropout"] > 0:
        h = plan.block("head_dropout", "dropout", rate=p["head_dropout"])(h)
    forecast = plan.block("head", "dense", units=horizon)(h)  # (b*c, horizon)
    forecast = independence(forecast, reverse=True)  # (b, horizon, c)
    if use_revin:
        forecast = revin(forecast, mean=mean, std=std, reverse=True)
    plan.set_outputs(forecast, name="predictions")
    return plan
