"""Hugging Face checkpoints loaded by dlzoo against `transformers` on the same inputs (float32, <= 1e-4).

For each converter, tiny `transformers` models with random weights are saved
with `save_pretrained` (once per module) and loaded with `dlzoo.build(path)`
on the backend under test; hidden states and logits are compared with and
without padding. Every weight is perturbed (default inits hide mistakes: unit
norm scales, zero biases), the configs use distinctive epsilons, and the
embeddings are drawn small so that the epsilon matters; `test_mistakes_show`
checks that a wrong epsilon, GELU variant, RoPE layout, head order or transpose
moves the outputs far above the tolerance. Sharded and bfloat16 checkpoints
are loaded too, and GPT-2's left-padded batched generation matches
`generate`.
"""

import json
import os

import numpy as np
import pytest

import keras

import dlzoo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

V, D, H, KV, F, L, S = 64, 32, 4, 2, 48, 2, 16
TOLERANCE = 1e-4


def _llama_like(config_class, model_class, **extra):
    config = config_class(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
                          num_key_value_heads=KV, intermediate_size=F, max_position_embeddings=S,
                          rms_norm_eps=1e-3, rope_theta=500.0, **extra)
    return model_class(config)


def _gpt2(model_class, **extra):
    config = transformers.GPT2Config(vocab_size=V, n_positions=S, n_embd=D, n_layer=L, n_head=H, n_inner=F,
                                     layer_norm_epsilon=1e-3, bos_token_id=None, eos_token_id=None, **extra)
    return model_class(config)


def _bert(model_class, **extra):
    config = transformers.BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
                                     intermediate_size=F, max_position_embeddings=S, type_vocab_size=3,
                                     layer_norm_eps=1e-3, **extra)
    return model_class(config)


# name -> (model factory, family)
ARCHITECTURES = {
    "gpt2": lambda: _gpt2(transformers.GPT2LMHeadModel),
    "gpt2-base-model": lambda: _gpt2(transformers.GPT2Model, activation_function="gelu"),
    "gpt2-untied": lambda: _gpt2(transformers.GPT2LMHeadModel, tie_word_embeddings=False),
    "bert": lambda: _bert(transformers.BertModel, hidden_act="gelu"),
    "bert-masked-lm": lambda: _bert(transformers.BertForMaskedLM, hidden_act="gelu_new"),
    "llama": lambda: _llama_like(transformers.LlamaConfig, transformers.LlamaForCausalLM,
                                 attention_bias=True, mlp_bias=True),
    "llama-tied": lambda: _llama_like(transformers.LlamaConfig, transformers.LlamaForCausalLM,
                                      tie_word_embeddings=True),
    "mistral": lambda: _llama_like(transformers.MistralConfig, transformers.MistralForCausalLM, sliding_window=None),
    "qwen2": lambda: _llama_like(transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    "qwen3": lambda: _llama_like(transformers.Qwen3Config, transformers.Qwen3ForCausalLM, head_dim=16),
}
VARIANTS = {"gpt2": ("sharded", "bfloat16"), "bert": ("sharded", "bfloat16"), "qwen3": ("sharded", "bfloat16")}


def perturb(model, seed=0):
    """Move every weight off its init; embeddings stay small so that the norms' epsilons matter."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("_embeddings.weight", "embed_tokens.weight", "wte.weight", "wpe.weight")):
                p.copy_(0.03 * torch.randn(p.shape, generator=generator))
            else:
                p.add_(0.2 * torch.randn(p.shape, generator=generator))
    return model.eval()


def batch(pad):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, V, (2, 9)).astype("int32")
    mask = np.ones((2, 9), bool)
    if pad:
        mask[1, 6:] = False
    segments = (np.arange(9)[None, :] % 3).repeat(2, axis=0).astype("int32")
    return ids, mask, segments


def hf_outputs(hf, ids, mask, segments):
    """`(hidden states, logits or pooled output or None)` of the reference, float64."""
    kwargs = dict(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask.astype("int64")))
    if isinstance(hf, (transformers.BertModel, transformers.BertForMaskedLM)):
        kwargs["token_type_ids"] = torch.tensor(segments, dtype=torch.long)
    with torch.no_grad():
        if hasattr(hf, "base_model") and hf.base_model is not hf:  # a task model: hidden states of its base model
            hidden = hf.base_model(**kwargs).last_hidden_state
            out = hf(**kwargs)
            second = getattr(out, "logits", None)
            if isinstance(hf, transformers.BertForMaskedLM):
                second = None  # the masked-LM head has no dlzoo counterpart
        else:
            out = hf(**kwargs)
            hidden, second = out.last_hidden_state, getattr(out, "pooler_output", None)
    return hidden.double().numpy(), None if second is None else second.double().numpy()


def dlzoo_outputs(model, ids, mask, segments):
    feed = {"token_ids": ids, "padding_mask": mask}
    if "segment_ids" in model.input:
        feed["segment_ids"] = segments
    stack = "encoder" if model.zoo_config["model"] == "bert" else "decoder"
    hidden_model = keras.Model(model.input, model.get_layer(stack).output)
    hidden = np.asarray(keras.ops.convert_to_numpy(hidden_model(feed)), "float64")
    out = model(feed)
    if isinstance(out, dict):
        second = out.get("pooled_output")
    elif model.zoo_config["params"].get("use_lm_head", False):
        second = out
    else:
        second = None
    return hidden, None if second is None else np.asarray(keras.ops.convert_to_numpy(second), "float64")


def max_difference(model, hf, pad):
    ids, mask, segments = batch(pad)
    hidden, second = dlzoo_outputs(model, ids, mask, segments)
    expected_hidden, expected_second = hf_outputs(hf, ids, mask, segments)
    assert (second is None) == (expected_second is None)
    rows = mask if second is None or second.ndim == 3 else mask[:, 0]
    differences = [np.abs(hidden[mask] - expected_hidden[mask]).max()]
    if second is not None:
        differences.append(np.abs(second[rows] - expected_second[rows]).max())
    return max(differences)


def make_checkpoints(mktemp):
    """`{name: (directory, reference model)}`, plus `name/sharded` and `name/bfloat16` variants.

    `mktemp(name)` gives a new directory (also used by `tools/checkpoint_parity.py`).
    """
    made = {}
    for index, (name, factory) in enumerate(ARCHITECTURES.items()):
        torch.manual_seed(index)
        hf = perturb(factory(), seed=index)
        directory = mktemp(name)
        hf.save_pretrained(directory)
        made[name] = (str(directory), hf)
        for variant in VARIANTS.get(name, ()):
            path = mktemp(f"{name}-{variant}")
            if variant == "sharded":
                hf.save_pretrained(path, max_shard_size="8KB")
                made[f"{name}/sharded"] = (str(path), hf)
            else:
                factory_copy = factory()
                factory_copy.load_state_dict(hf.state_dict())
                factory_copy.to(torch.bfloat16).save_pretrained(path)
                # The reference holds the bfloat16 values in float32.
                rounded = type(hf).from_pretrained(path, dtype=torch.float32).eval()
                made[f"{name}/bfloat16"] = (str(path), rounded)
    return made


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return make_checkpoints(tmp_path_factory.mktemp)


CASES = list(ARCHITECTURES) + [f"{name}/{variant}" for name, variants in VARIANTS.items() for variant in variants]


@pytest.mark.parametrize("case", CASES)
def test_matches_transformers(checkpoints, case):
    directory, hf = checkpoints[case]
    model = dlzoo.build(directory)
    for pad in (False, True):
        difference = max_difference(model, hf, pad)
        assert difference <= TOLERANCE, (case, pad, difference)
    assert model.count_params() == dlzoo.count_params(directory)
    if case.endswith("sharded"):
        assert os.path.isfile(os.path.join(directory, "model.safetensors.index.json"))
        assert len([f for f in os.listdir(directory) if f.endswith(".safetensors")]) > 3


def test_what_is_loaded_and_ignored(checkpoints):
    expected_parameters = {  # transformers' own count, for the checkpoints whose every weight dlzoo holds
        name: sum(p.numel() for p in hf.parameters())
        for name, (_, hf) in checkpoints.items() if name in ("gpt2", "bert", "llama", "mistral", "qwen2", "qwen3")
    }
    for name, count in expected_parameters.items():
        assert dlzoo.count_params(checkpoints[name][0]) == count, name
    report = dlzoo.build(checkpoints["bert-masked-lm"][0]).checkpoint_report
    assert set(report["ignored"]) == {"cls.predictions.bias", "cls.predictions.transform.dense.weight",
                                      "cls.predictions.transform.dense.bias",
                                      "cls.predictions.transform.LayerNorm.weight",
                                      "cls.predictions.transform.LayerNorm.bias"}
    assert dlzoo.build(checkpoints["gpt2"][0]).checkpoint_report["ignored"] == {}
    config = dlzoo.describe(checkpoints["qwen3"][0])
    assert config["model"] == "llama" and config["params"]["attention"]["use_qk_norm"] is True
    assert config["params"]["attention"]["head_dim"] == 16
    assert dlzoo.describe(checkpoints["bert-masked-lm"][0])["params"]["use_pooler"] is False


def test_bfloat16_weights_are_kept_under_a_bfloat16_policy(checkpoints):
    directory, reference = checkpoints["qwen3/bfloat16"]
    model = dlzoo.from_pretrained(directory, dtype="bfloat16")
    assert keras.config.dtype_policy().name == "float32"
    query = model.get_layer("decoder").transformer_layers[0].self_attention.query_dense.kernel
    assert str(query.dtype) == "bfloat16"
    expected = reference.model.layers[0].self_attn.q_proj.weight.detach().numpy()  # float32 holding bf16 values
    got = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(query.value, "float32")))
    np.testing.assert_array_equal(got.reshape(D, -1).T, expected)
    ids, mask, segments = batch(True)
    got = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(model({"token_ids": ids, "padding_mask": mask}),
                                                                "float32")))
    _, expected_logits = hf_outputs(reference, ids, mask, segments)
    assert np.abs(got[mask] - expected_logits[mask]).max() < 0.05 * np.abs(expected_logits).max()


def _reload_with(directory, tmp_path, edit):
    """A copy of a checkpoint directory whose config.json is edited."""
    copy = tmp_path / "edited"
    copy.mkdir()
    for name in os.listdir(directory):
        if name != "config.json":
            os.symlink(os.path.join(directory, name), copy / name)
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    edit(config)
    (copy / "config.json").write_text(json.dumps(config))
    return str(copy)


@pytest.mark.parametrize("case", ["gpt2", "bert", "llama", "qwen3"])
def test_mistakes_show(checkpoints, case, tmp_path):
    """The comparison is sharp: each plausible converter mistake moves the outputs at least 5x above the tolerance."""
    directory, hf = checkpoints[case]
    model = dlzoo.build(directory)
    params = model.zoo_config["params"]
    mistakes = {"default epsilon": dict(norm={"epsilon": 1e-5})}
    if case == "gpt2":
        mistakes["exact GELU"] = dict(feedforward={"activation": "gelu"})
    if case == "bert":
        mistakes["tanh GELU"] = dict(feedforward={"activation": "gelu_approximate"})
    if params["attention"].get("use_rotary_embedding"):
        mistakes["interleaved RoPE"] = dict(attention={"rope_layout": "interleaved"})
        mistakes["default RoPE theta"] = dict(attention={"rope_max_wavelength": 10000.0})
    for mistake, overrides in mistakes.items():
        wrong = dlzoo.build(directory, **overrides)
        assert max_difference(wrong, hf, pad=True) > 5 * TOLERANCE, (case, mistake)
    attention = model.get_layer("encoder" if case == "bert" else "decoder").transformer_layers[0].self_attention
    kernel = keras.ops.convert_to_numpy(attention.query_dense.kernel)
    wrong_kernels = {"head order": kernel[:, ::-1, :]}
    if kernel.shape[0] == kernel.shape[1] * kernel.shape[2]:  # else a transpose fails the shape check
        wrong_kernels["transpose"] = kernel.reshape(D, D).T.reshape(kernel.shape)
    for mistake, value in wrong_kernels.items():
        attention.query_dense.kernel.assign(value)
        assert max_difference(model, hf, pad=True) > 5 * TOLERANCE, (case, mistake)
        attention.query_dense.kernel.assign(kernel)
    assert max_difference(model, hf, pad=True) <= TOLERANCE


def test_gpt2_left_padded_batched_generation_matches_generate(checkpoints):
    directory, hf = checkpoints["gpt2"]
    model = dlzoo.build(directory, use_position_ids=True)
    assert sorted(model.input) == ["padding_mask", "position_ids", "token_ids"]
    ids = np.array([[0, 0, 0, 5, 9, 17], [3, 8, 21, 34, 2, 11]], "int32")  # row 0 left-padded
    mask = np.array([[0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]], bool)
    with torch.no_grad():
        expected = hf.generate(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask.astype("int64")),
                               max_new_tokens=4, do_sample=False, pad_token_id=0).numpy()[:, ids.shape[1]:]

    def greedy(model, with_positions):
        tokens, visible = ids.copy(), mask.copy()
        for _ in range(4):
            feed = {"token_ids": tokens, "padding_mask": visible}
            if with_positions:
                feed["position_ids"] = np.maximum(np.cumsum(visible, axis=1) - 1, 0).astype("int32")
            logits = keras.ops.convert_to_numpy(model(feed))
            tokens = np.concatenate([tokens, logits[:, -1].argmax(-1)[:, None].astype("int32")], axis=1)
            visible = np.concatenate([visible, np.ones((2, 1), bool)], axis=1)
        return tokens[:, ids.shape[1]:]

    np.testing.assert_array_equal(greedy(model, True), expected)
    first = {"token_ids": ids, "padding_mask": mask, "position_ids": np.maximum(np.cumsum(mask, 1) - 1, 0)}
    with torch.no_grad():
        reference = hf(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask.astype("int64")),
                       position_ids=torch.tensor(first["position_ids"], dtype=torch.long)).logits.numpy()
    got = keras.ops.convert_to_numpy(model({k: v.astype("int32") if k != "padding_mask" else v
                                            for k, v in first.items()}))
    assert np.abs(got[mask] - reference[mask]).max() <= TOLERANCE
    # Without position ids the left-padded row starts at position 3 and its logits move.
    plain = dlzoo.build(directory)
    moved = keras.ops.convert_to_numpy(plain({"token_ids": ids, "padding_mask": mask}))
    assert np.abs(moved[0, 3:] - reference[0, 3:]).max() > 100 * TOLERANCE
