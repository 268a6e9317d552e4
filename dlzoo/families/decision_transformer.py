"""The `decision_transformer` family: offline reinforcement learning as conditional sequence modelling."""

from dlzoo.families._transformer import (
    add_layer_features,
    attention_section,
    feedforward_section,
    norm_block,
    norm_section,
    stack_arguments,
)
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_bool, check_choice, check_positive_int

ACTION_SPACES = ("continuous", "discrete")
# The three token streams of a step, in their order in the sequence: (R_t, s_t, a_t).
STREAMS = ("return", "state", "action")


@register_model(
    "decision_transformer",
    paper="arXiv:2106.01345",
    params=dict(
        state_dim=17,
        action_dim=4,
        action_space="continuous",
        context_length=20,
        max_episode_length=4096,
        hidden_dim=128,
        num_layers=3,
        dropout=0.1,
        remat=False,
        use_state_head=True,
        use_return_head=True,
        attention=attention_section(num_heads=1, use_qkv_bias=True, use_output_bias=True, attention_dropout=0.1),
        feedforward=feedforward_section(type="mlp", intermediate_dim=512, activation="relu", use_bias=True),
        norm=norm_section(type="layer_norm", epsilon=1e-5),
    ),
)
def decision_transformer(p):
    """A Decision Transformer: predicts actions from returns-to-go, states and past actions.

    Each step `t` of a trajectory gives three tokens: the return-to-go
    `R_t` (the sum of the rewards still to come), the state `s_t` and the
    action `a_t`, each embedded by its own linear layer, plus a learned
    embedding of the episode timestep `t` (a `learned_position_embedding`
    table of `max_episode_length` rows, read at `timesteps`) added to all
    three. The tokens are interleaved as `(R_1, s_1, a_1, R_2, s_2, a_2, ..)`
    (`interleave_tokens`: `3 * context_length` tokens), layer-normalised,
    and run through a causal GPT-2-style `transformer_stack` (pre-norm,
    biased attention, ReLU MLP, final LayerNorm). The action `a_t` is
    predicted from the output at the state token `s_t`, which has seen
    `R_1..R_t`, `s_1..s_t` and `a_1..a_{t-1}` but not `a_t`: a `tanh`-bounded
    vector (`action_space="continuous"`) or logits over `action_dim` actions
    (`"discrete"`, actions given one-hot). As in the reference code, the
    action token also predicts the next state and return (unused in the
    paper's training). The defaults are the paper's gym (MuJoCo) model for
    a 17-dimensional state and 4 actions, Hugging Face's
    `DecisionTransformerConfig` defaults.

    Args:
        state_dim: int. Size of a state vector. Defaults to `17`.
        action_dim: int. Size of an action vector (continuous) or number of
            actions (discrete). Defaults to `4`.
        action_space: str. `"continuous"` (actions in `[-1, 1]`, `tanh`
            head) or `"discrete"` (one-hot actions, logits head). Defaults
            to `"continuous"`.
        context_length: int. Steps per input sequence `K` (the paper's 20
            for gym, 30 for Atari, 50 for key-to-door). Defaults to `20`.
        max_episode_length: int. Rows of the timestep table: timesteps
            must lie in `[0, max_episode_length)`. Defaults to `4096`.
        hidden_dim: int. Token width. Defaults to `128`.
        num_layers: int. Transformer layers. Defaults to `3`.
        dropout: float. Embedding and residual dropout. Defaults to `0.1`.
        remat: bool. Gradient checkpointing of the Transformer stack
            (needs every dropout rate at 0). Defaults to `False`.
        use_state_head: bool. Also output `state_preds` (next state, from
            the action tokens). Defaults to `True`.
        use_return_head: bool. Also output `return_preds` (next
            return-to-go, from the action tokens). Defaults to `True`.
        attention: dict. `grouped_query_attention` arguments (1 head).
        feedforward: dict. `type` and the feed-forward block's arguments
            (`mlp`, width 512, ReLU).
        norm: dict. `type` and the norm's arguments (LayerNorm, 1e-5); the
            embedding norm uses it too.

    Returns:
        A plan with inputs `returns_to_go (b, K, 1)`, `states (b, K,
        state_dim)`, `actions (b, K, action_dim)` (float32), `timesteps
        (b, K)` (int32) and `padding_mask (b, K)` (bool, `True` = a real
        step), and outputs `action_preds (b, K, action_dim)` (and
        `state_preds (b, K, state_dim)`, `return_preds (b, K, 1)`).
        Features: `embeddings`, `transformer_layer_<i>`, `sequence_output`.

    Reference:
        - [Chen et al., 2021. Decision Transformer: Reinforcement Learning via Sequence Modeling](https://arxiv.org/abs/2106.01345)
    """
    state_dim = check_positive_int("state_dim", p["state_dim"])
    action_dim = check_positive_int("action_dim", p["action_dim"])
    action_space = check_choice("action_space", p["action_space"], ACTION_SPACES)
    context_length = check_positive_int("context_length", p["context_length"])
    max_episode_length = check_positive_int("max_episode_length", p["max_episode_length"])
    use_state_head = check_bool("use_state_head", p["use_state_head"])
    use_return_head = check_bool("use_return_head", p["use_return_head"])
    d = p["hidden_dim"]

    plan = Plan()
    streams = {
        "return": plan.input("returns_to_go", (context_length, 1), "float32"),
        "state": plan.input("states", (context_length, state_dim), "float32"),
        "action": plan.input("actions", (context_length, action_dim), "float32"),
    }
    timesteps = plan.input("timesteps", (context_length,), "int32")
    padding_mask = plan.input("padding_mask", (context_length,), "bool")

    embedded = {name: plan.block(f"{name}_embedding", "dense", units=d)(x) for name, x in streams.items()}
    time = plan.block("timestep_embedding", "learned_position_embedding", max_sequence_length=max_episode_length)(
        embedded["state"], position_ids=timesteps
    )
    tokens = [plan.block(f"{name}_add_timestep", "add")([embedded[name], time]) for name in STREAMS]
    x = plan.block("interleave", "interleave_tokens")(tokens)  # (b, 3K, d): R_1, s_1, a_1, R_2, ...
    mask = plan.block("interleave_mask", "interleave_tokens")([padding_mask] * len(STREAMS))
    x = norm_block(plan, "embedding_norm", p)(x)
    if p["dropout"] > 0:
        x = plan.block("embeddings_dropout", "dropout", rate=p["dropout"])(x)
    plan.add_feature("embeddings", x)

    arguments = stack_arguments(p, p["num_layers"], "causal", use_final_norm=True, norm_position="pre")
    x = plan.block("decoder", "transformer_stack", **arguments)(x, padding_mask=mask)
    add_layer_features(plan, "decoder", p["num_layers"])
    plan.add_feature("sequence_output", x)

    _, state_tokens, action_tokens = plan.block("deinterleave", "deinterleave_tokens", num_streams=len(STREAMS))(
        x, num_outputs=len(STREAMS)
    )
    activation = "tanh" if action_space == "continuous" else None
    outputs = {
        "action_preds": plan.block("action_preds", "dense", units=action_dim, activation=activation)(state_tokens)
    }
    if use_state_head:
        outputs["state_preds"] = plan.block("state_preds", "dense", units=state_dim)(action_tokens)
    if use_return_head:
        outputs["return_preds"] = plan.block("return_preds", "dense", units=1)(action_tokens)
    plan.set_outputs(outputs)
    return plan
