"""The `decision_transformer` family against Hugging Face `DecisionTransformerModel` with copied weights.

The reference is `transformers.DecisionTransformerModel` (PyTorch, random
weights, each perturbed so unit norm scales and zero biases hide nothing),
compared on `state_preds`, `action_preds` and `return_preds` in eval mode
(<= 1e-4). Its GPT-2 adds `wpe[0]` (position ids are all zero) to every token
after the embedding LayerNorm; that is a constant vector, folded here into
the LayerNorm's bias. Also: exact weight counts against the Hugging Face
model's, and the family's errors. Torch suite only.
"""

import numpy as np
import pytest

import keras

import dlzoo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# The reference runs on PyTorch and dlzoo's backends agree (tools/backend_parity.py): one suite is enough.
pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch", reason="the HF comparison runs in the torch suite")

STATE, ACTION, D, HEADS, LAYERS, INNER, EPISODE, K = 3, 2, 16, 2, 2, 24, 40, 5


def hf_model(action_tanh, seed=0):
    config = transformers.DecisionTransformerConfig(
        state_dim=STATE, act_dim=ACTION, hidden_size=D, n_layer=LAYERS, n_head=HEADS, n_inner=INNER,
        max_ep_len=EPISODE, n_positions=64, action_tanh=action_tanh, activation_function="relu",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    torch.manual_seed(seed)
    model = transformers.DecisionTransformerModel(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator))
    return model


def dlzoo_model(action_space):
    return dlzoo.build(
        "decision-transformer-tiny", state_dim=STATE, action_dim=ACTION, action_space=action_space,
        context_length=K, max_episode_length=EPISODE, hidden_dim=D, num_layers=LAYERS, dropout=0.0,
        attention={"num_heads": HEADS, "attention_dropout": 0.0}, feedforward={"intermediate_dim": INNER},
    )


def t(tensor):
    return tensor.detach().numpy().astype("float32")


def copy_weights(hf, model):
    """Hugging Face tensors -> dlzoo weights (`Linear` kernels transposed; GPT-2 `Conv1D` kernels are `(in, out)`)."""
    sd = {k: t(v) for k, v in hf.state_dict().items()}
    weights = {w.path: w for w in model.weights}

    def assign(path, value):
        value = np.asarray(value, "float32")
        assert tuple(weights[path].shape) == value.shape, (path, tuple(weights[path].shape), value.shape)
        weights[path].assign(value)

    for dlzoo_name, hf_name in (("return", "embed_return"), ("state", "embed_state"), ("action", "embed_action"),
                                ("action_preds", "predict_action.0"), ("state_preds", "predict_state"),
                                ("return_preds", "predict_return")):
        layer = dlzoo_name if dlzoo_name.endswith("preds") else f"{dlzoo_name}_embedding"
        assign(f"{layer}/kernel", sd[f"{hf_name}.weight"].T)
        assign(f"{layer}/bias", sd[f"{hf_name}.bias"])
    assign("timestep_embedding/embeddings", sd["embed_timestep.weight"])
    assign("embedding_norm/scale", sd["embed_ln.weight"])
    # GPT-2 adds wpe[position 0] to every token right after embed_ln: a constant, i.e. part of the norm's bias.
    assign("embedding_norm/bias", sd["embed_ln.bias"] + sd["encoder.wpe.weight"][0])
    heads = HEADS
    for i in range(LAYERS):
        h, w = f"encoder.h.{i}.", f"decoder/transformer_layer_{i}/"
        a = w + "self_attention/"
        assign(w + "self_attention_norm/scale", sd[h + "ln_1.weight"])
        assign(w + "self_attention_norm/bias", sd[h + "ln_1.bias"])
        for part, kernel, bias in zip(("query", "key", "value"), np.split(sd[h + "attn.c_attn.weight"], 3, axis=1),
                                      np.split(sd[h + "attn.c_attn.bias"], 3)):
            assign(a + f"{part}/kernel", kernel.reshape(D, heads, D // heads))
            assign(a + f"{part}/bias", bias.reshape(heads, D // heads))
        assign(a + "attention_output/kernel", sd[h + "attn.c_proj.weight"].reshape(heads, D // heads, D))
        assign(a + "attention_output/bias", sd[h + "attn.c_proj.bias"])
        assign(w + "feedforward_norm/scale", sd[h + "ln_2.weight"])
        assign(w + "feedforward_norm/bias", sd[h + "ln_2.bias"])
        assign(w + "feedforward/inner_proj/kernel", sd[h + "mlp.c_fc.weight"])
        assign(w + "feedforward/inner_proj/bias", sd[h + "mlp.c_fc.bias"])
        assign(w + "feedforward/output_proj/kernel", sd[h + "mlp.c_proj.weight"])
        assign(w + "feedforward/output_proj/bias", sd[h + "mlp.c_proj.bias"])
    assign("decoder/final_norm/scale", sd["encoder.ln_f.weight"])
    assign("decoder/final_norm/bias", sd["encoder.ln_f.bias"])


def trajectories(seed=0, left_padding=0):
    rng = np.random.default_rng(seed)
    data = {
        "returns_to_go": rng.standard_normal((2, K, 1)).astype("float32"),
        "states": rng.standard_normal((2, K, STATE)).astype("float32"),
        "actions": rng.standard_normal((2, K, ACTION)).astype("float32"),
        "timesteps": rng.integers(0, EPISODE, (2, K)).astype("int32"),
        "padding_mask": np.ones((2, K), bool),
    }
    data["padding_mask"][1, :left_padding] = False  # the start of an episode, left-padded as in evaluation
    return data


def hf_outputs(hf, data):
    with torch.no_grad():
        out = hf(
            states=torch.tensor(data["states"]), actions=torch.tensor(data["actions"]),
            returns_to_go=torch.tensor(data["returns_to_go"]), timesteps=torch.tensor(data["timesteps"]).long(),
            attention_mask=torch.tensor(data["padding_mask"]).long(),
        )
    return {"state_preds": t(out.state_preds), "action_preds": t(out.action_preds),
            "return_preds": t(out.return_preds)}


@pytest.fixture(scope="module")
def pair():
    hf = hf_model(action_tanh=True)
    model = dlzoo_model("continuous")
    copy_weights(hf, model)
    return hf, model


def test_outputs_match_hugging_face(pair):
    hf, model = pair
    data = trajectories()
    expected = hf_outputs(hf, data)
    got = model(data, training=False)
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got[name]), expected[name], atol=1e-4, err_msg=name)


def test_left_padded_steps_match_hugging_face(pair):
    hf, model = pair
    data = trajectories(seed=1, left_padding=2)
    expected = hf_outputs(hf, data)
    got = model(data, training=False)
    real = data["padding_mask"]  # padded steps attend to nothing real: their outputs are meaningless on both sides
    for name in expected:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got[name])[real], expected[name][real], atol=1e-4,
                                   err_msg=name)


def test_a_wrong_mapping_is_caught(pair):
    """Without the folded `wpe[0]` the outputs move far above the tolerance: the comparison can fail."""
    hf, model = pair
    data = trajectories()
    bias = model.get_layer("embedding_norm").weights[1]
    kept = keras.ops.convert_to_numpy(bias).copy()
    bias.assign(t(hf.state_dict()["embed_ln.bias"]))
    try:
        got = keras.ops.convert_to_numpy(model(data, training=False)["action_preds"])
    finally:
        bias.assign(kept)
    assert np.max(np.abs(got - hf_outputs(hf, data)["action_preds"])) > 1e-2


def test_discrete_actions_are_logits_of_the_linear_head():
    hf = hf_model(action_tanh=False, seed=2)
    model = dlzoo_model("discrete")
    copy_weights(hf, model)
    data = trajectories(seed=2)
    got = keras.ops.convert_to_numpy(model(data, training=False)["action_preds"])
    expected = hf_outputs(hf, data)["action_preds"]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.max(np.abs(got)) > 1.0  # logits, not squashed by tanh


def test_weight_count_is_hugging_face_without_the_unused_gpt2_tables(pair):
    hf, model = pair
    hf_count = sum(p.numel() for p in hf.parameters())
    unused = hf.encoder.wte.weight.numel() + hf.encoder.wpe.weight.numel()  # 1 x d token table, n_positions x d
    assert model.count_params() == hf_count - unused
    assert dlzoo.count_params(model.get_config()) == model.count_params()


def test_the_gym_model_counts_like_hugging_faces_hopper_model():
    """The paper's Hopper model (Hugging Face config of `edbeeching/decision-transformer-gym-hopper-medium`)."""
    config = transformers.DecisionTransformerConfig(state_dim=11, act_dim=3, max_ep_len=1000, n_inner=512)
    with torch.device("meta"):
        hf = transformers.DecisionTransformerModel(config)
    unused = hf.encoder.wte.weight.numel() + hf.encoder.wpe.weight.numel()
    assert dlzoo.count_params("decision-transformer-gym") == sum(p.numel() for p in hf.parameters()) - unused


@pytest.mark.parametrize(
    "override, argument, value",
    [
        ({"action_space": "box"}, "action_space", "'box'"),
        ({"action_dim": 0}, "action_dim", "0"),
        ({"state_dim": -1}, "state_dim", "-1"),
        ({"context_length": 0}, "context_length", "0"),
        ({"max_episode_length": 0}, "max_episode_length", "0"),
    ],
)
def test_bad_params_name_the_argument(override, argument, value):
    with pytest.raises(ValueError, match=argument) as info:
        dlzoo.build("decision-transformer-tiny", **override)
    assert value in str(info.value)
