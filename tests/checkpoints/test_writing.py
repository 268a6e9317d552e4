"""dlzoo models written as Hugging Face checkpoints: `transformers` loads them and gives the same outputs.

A checkpoint loaded by dlzoo and written back is bit-identical (float32) to the
one `transformers` wrote, tensor by tensor; a model built by dlzoo from a zoo
config is written, loaded by `transformers.AutoModel*.from_pretrained`, and its
outputs match dlzoo's (<= 1e-4). Sharded and bfloat16 writes, the choice of
the Hugging Face architecture and the refusals are checked too.
"""

import json
import os

import numpy as np
import pytest

import keras

import dlzoo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors")

V, D, H, KV, F, L, S = 64, 32, 4, 2, 48, 2, 16
TOLERANCE = 1e-4


def _llama_like(config_class, model_class, **extra):
    return model_class(config_class(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
                                    num_key_value_heads=KV, intermediate_size=F, max_position_embeddings=S,
                                    rms_norm_eps=1e-3, **extra))


HF_MODELS = {
    "gpt2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=V, n_positions=S, n_embd=D, n_layer=L, n_head=H, bos_token_id=None, eos_token_id=None)),
    "bert": lambda: transformers.BertModel(transformers.BertConfig(
        vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H, intermediate_size=F,
        max_position_embeddings=S)),
    "llama": lambda: _llama_like(transformers.LlamaConfig, transformers.LlamaForCausalLM, attention_bias=True),
    "llama-tied": lambda: _llama_like(transformers.LlamaConfig, transformers.LlamaForCausalLM, tie_word_embeddings=True),
    "mistral": lambda: _llama_like(transformers.MistralConfig, transformers.MistralForCausalLM, sliding_window=None),
    "qwen2": lambda: _llama_like(transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    "qwen3": lambda: _llama_like(transformers.Qwen3Config, transformers.Qwen3ForCausalLM, head_dim=16),
}


def read_tensors(directory):
    tensors = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".safetensors"):
            with safetensors.safe_open(os.path.join(directory, name), framework="pt") as handle:
                tensors.update({key: handle.get_tensor(key) for key in handle.keys()})
    return tensors


def hf_forward(hf, ids, mask):
    with torch.no_grad():
        out = hf(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask.astype("int64")))
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def inputs():
    ids = np.random.default_rng(0).integers(1, V, (2, 7)).astype("int32")
    mask = np.ones((2, 7), bool)
    mask[1, 5:] = False
    return ids, mask


@pytest.fixture(scope="module")
def hf_checkpoints(tmp_path_factory):
    made = {}
    for index, (name, factory) in enumerate(HF_MODELS.items()):
        torch.manual_seed(index)
        hf = factory().eval()
        generator = torch.Generator().manual_seed(index)
        with torch.no_grad():
            for p in hf.parameters():
                p.add_(0.2 * torch.randn(p.shape, generator=generator))
        directory = tmp_path_factory.mktemp(name)
        hf.save_pretrained(directory)
        made[name] = (directory, hf)
    return made


@pytest.mark.parametrize("name", list(HF_MODELS))
def test_round_trip_is_bit_identical(hf_checkpoints, name, tmp_path):
    source, hf = hf_checkpoints[name]
    model = dlzoo.build(str(source))
    written = model.save_pretrained(tmp_path / "out")
    original, again = read_tensors(source), read_tensors(written)
    assert set(original) - set(again) == set(model.checkpoint_report["ignored"])
    assert set(again) <= set(original)
    for key, tensor in again.items():
        assert tensor.dtype == torch.float32
        assert torch.equal(tensor, original[key]), key
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == name.split("-")[0]
    reloaded = type(hf).from_pretrained(written).eval()
    ids, mask = inputs()
    assert torch.equal(hf_forward(reloaded, ids, mask), hf_forward(hf, ids, mask))


NATIVE = {  # zoo model and overrides -> the Hugging Face class that loads it
    "gpt": ("gpt-tiny", {}, "AutoModelForCausalLM", "gpt2"),
    "gpt-untied": ("gpt-tiny", {"tie_embeddings": False}, "AutoModelForCausalLM", "gpt2"),
    "bert": ("bert-tiny", {"vocabulary_size": 100}, "AutoModel", "bert"),
    "llama": ("llama-tiny", {"attention": {"rope_max_wavelength": 500.0}}, "AutoModelForCausalLM", "llama"),
    "llama-qkv-bias": ("llama-tiny", {"attention": {"use_qkv_bias": True}}, "AutoModelForCausalLM", "qwen2"),
    "llama-qk-norm": ("llama-tiny", {"attention": {"use_qk_norm": True, "qk_norm_epsilon": 1e-5}},
                      "AutoModelForCausalLM", "qwen3"),
}


@pytest.mark.parametrize("case", list(NATIVE))
def test_a_dlzoo_model_loads_in_transformers(case, tmp_path):
    name, overrides, auto_class, model_type = NATIVE[case]
    model = dlzoo.build(name, **overrides)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # off the init, so that every mapping matters
        weight.assign(keras.ops.convert_to_numpy(weight) + 0.1 * rng.standard_normal(weight.shape).astype("float32"))
    directory = model.save_pretrained(tmp_path / case, max_shard_size="64KB")
    assert json.loads((tmp_path / case / "config.json").read_text())["model_type"] == model_type
    assert os.path.isfile(os.path.join(directory, "model.safetensors.index.json"))
    hf = getattr(transformers, auto_class).from_pretrained(directory).eval()
    ids = np.random.default_rng(1).integers(1, model.zoo_config["params"]["vocabulary_size"], (2, 7)).astype("int32")
    mask = np.ones((2, 7), bool)
    mask[1, 5:] = False
    feed = {"token_ids": ids, "padding_mask": mask}
    if "segment_ids" in model.input:
        feed["segment_ids"] = np.zeros_like(ids)
    out = model(feed)
    got = keras.ops.convert_to_numpy(out["sequence_output"] if isinstance(out, dict) else out)
    expected = hf_forward(hf, ids, mask).numpy()
    assert np.abs(got[mask] - expected[mask]).max() <= TOLERANCE
    assert sum(p.numel() for p in hf.parameters()) == model.count_params()


def test_bfloat16_weights_are_written_as_bfloat16(hf_checkpoints, tmp_path):
    source, _ = hf_checkpoints["qwen3"]
    model = dlzoo.from_pretrained(str(source), dtype="bfloat16")
    written = model.save_pretrained(tmp_path / "bf16")
    tensors = read_tensors(written)
    assert {t.dtype for t in tensors.values()} == {torch.bfloat16}
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    original = read_tensors(source)
    for key, tensor in tensors.items():
        assert torch.equal(tensor, original[key].to(torch.bfloat16)), key
    again = dlzoo.from_pretrained(written, dtype="bfloat16")
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.ops.cast(a.value, "float32")),
                                      keras.ops.convert_to_numpy(keras.ops.cast(b.value, "float32")))


def test_refusals_leave_nothing_behind(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(ValueError, match=r"cannot be written as a Hugging Face checkpoint: gpt2: "
                                         r"`feedforward.type`='swiglu' \(needs 'mlp'\)"):
        dlzoo.build("gpt-tiny", feedforward={"type": "swiglu"}).save_pretrained(target)
    with pytest.raises(ValueError, match="No checkpoint converter writes the 'encoder_decoder' family"):
        dlzoo.build("transformer-tiny").save_pretrained(target)
    with pytest.raises(ValueError, match="has extensions"):
        dlzoo.build("gpt-tiny", extensions=[{"name": "classification_head", "num_classes": 2}]).save_pretrained(target)
    with pytest.raises(ValueError, match=r"qwen3: `attention.qk_norm_epsilon`=1e-06 \(needs 1e-05\)"):
        dlzoo.build("llama-tiny", attention={"use_qk_norm": True}).save_pretrained(target)
    with pytest.raises(ValueError, match="A 'gpt2' checkpoint holds a 'gpt' model, not a 'llama' one"):
        dlzoo.build("llama-tiny").save_pretrained(target, model_type="gpt2")
    assert not target.exists() and os.listdir(tmp_path) == []
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        dlzoo.build("gpt-tiny").save_pretrained(target)
    dlzoo.build("gpt-tiny").save_pretrained(target, overwrite=True)
    assert sorted(os.listdir(target)) == ["config.json", "model.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
