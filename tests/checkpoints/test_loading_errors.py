"""Bad checkpoint directories: each is a clear error naming the file or tensor, and no model comes back.

No code from a checkpoint ever runs: PyTorch pickles (`*.bin`) are refused,
`config.json` is read as JSON, and an unknown `model_type` is an error that
lists the supported ones (there is no `trust_remote_code`).
"""

import json
import shutil

import numpy as np
import pytest

import dlzoo
from dlzoo.checkpoints import CheckpointError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors")
safetensors_numpy = pytest.importorskip("safetensors.numpy")


@pytest.fixture(scope="module")
def llama_sharded(tmp_path_factory):
    config = transformers.LlamaConfig(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                      num_key_value_heads=1, intermediate_size=24, max_position_embeddings=16)
    directory = tmp_path_factory.mktemp("llama-sharded")
    transformers.LlamaForCausalLM(config).save_pretrained(directory, max_shard_size="2KB")
    return directory


@pytest.fixture(scope="module")
def gpt2_single(tmp_path_factory):
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                     bos_token_id=None, eos_token_id=None)
    directory = tmp_path_factory.mktemp("gpt2")
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


def copy_of(directory, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(directory, target)
    return target


def edit_config(directory, **changes):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def rewrite_tensors(file, edit):
    with safetensors.safe_open(str(file), framework="numpy") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    edit(tensors)
    safetensors_numpy.save_file(tensors, str(file), metadata={"format": "pt"})


def shard_holding(directory, name):
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    return directory / index["weight_map"][name]


def test_a_good_checkpoint_loads(llama_sharded, gpt2_single):
    assert dlzoo.build(llama_sharded).count_params() == dlzoo.count_params(llama_sharded)
    assert dlzoo.build(gpt2_single).zoo_config["model"] == "gpt"


def test_directory_without_config_json(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="No config.json in .*a Hugging Face checkpoint directory holds"):
        dlzoo.build(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="config.json"):
        dlzoo.count_params(str(tmp_path))


def test_unknown_model_type_lists_the_supported_ones(gpt2_single, tmp_path):
    directory = copy_of(gpt2_single, tmp_path)
    edit_config(directory, model_type="my_custom_model", auto_map={"AutoModel": "modeling_custom.MyModel"})
    with pytest.raises(ValueError, match=r"config.json: Unknown Hugging Face model_type 'my_custom_model'.*"
                                         r"Allowed: 'bert', 'convnext', 'efficientnet', 'gpt2', 'llama', 'mistral', 'qwen2', 'qwen3', 'resnet', 'vit'"):
        dlzoo.build(str(directory))


def test_unsupported_config_values_are_named(gpt2_single, tmp_path):
    directory = copy_of(gpt2_single, tmp_path)
    edit_config(directory, scale_attn_by_inverse_layer_idx=True)
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx`=True is not supported"):
        dlzoo.describe(str(directory))
    llama = copy_of(gpt2_single, tmp_path, "llama")
    edit_config(llama, model_type="llama", hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=24, vocab_size=32, rope_scaling={"rope_type": "llama3", "factor": 8.0})
    with pytest.raises(ValueError, match="RoPE scaling 'llama3' is not supported"):
        dlzoo.count_params(str(llama))


def test_missing_shard(llama_sharded, tmp_path):
    directory = copy_of(llama_sharded, tmp_path)
    shard = shard_holding(directory, "model.layers.1.mlp.up_proj.weight")
    shard.unlink()
    with pytest.raises(FileNotFoundError, match=f"Shard '{shard.name}' listed in .*index.json.* is missing"):
        dlzoo.build(str(directory))


def test_truncated_shard(llama_sharded, tmp_path):
    directory = copy_of(llama_sharded, tmp_path)
    shard = shard_holding(directory, "model.layers.0.self_attn.q_proj.weight")
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 64])
    with pytest.raises(CheckpointError, match=f"Cannot read the safetensors file '.*{shard.name}' \\(truncated"):
        dlzoo.build(str(directory))


def test_tensor_of_the_wrong_shape(gpt2_single, tmp_path):
    directory = copy_of(gpt2_single, tmp_path)

    def edit(tensors):
        tensors["transformer.h.0.mlp.c_fc.weight"] = np.zeros((16, 48), "float32")

    rewrite_tensors(directory / "model.safetensors", edit)
    with pytest.raises(CheckpointError, match=r"tensor 'transformer.h.0.mlp.c_fc.weight' in 'model.safetensors' has "
                                              r"shape \(16, 48\), the model needs \(16, 64\)"):
        dlzoo.build(str(directory))


def test_config_sizes_that_disagree_with_the_tensors(llama_sharded, tmp_path):
    directory = copy_of(llama_sharded, tmp_path)
    edit_config(directory, intermediate_size=40)
    with pytest.raises(CheckpointError, match=r"tensor 'model.layers.0.mlp.gate_proj.weight' in '.*' has shape "
                                              r"\(24, 16\), the model needs \(40, 16\)"):
        dlzoo.build(str(directory))
    edit_config(directory, intermediate_size=24, num_hidden_layers=1)
    with pytest.raises(CheckpointError, match=r"checkpoint tensors that no weight of the llama model takes: "
                                              r"\['model.layers.1"):
        dlzoo.build(str(directory))


def test_missing_and_unknown_tensors_are_named(gpt2_single, tmp_path):
    directory = copy_of(gpt2_single, tmp_path)

    def edit(tensors):
        del tensors["transformer.ln_f.bias"]
        tensors["score.weight"] = np.zeros((3, 16), "float32")

    rewrite_tensors(directory / "model.safetensors", edit)
    with pytest.raises(CheckpointError) as caught:
        dlzoo.build(str(directory))
    message = str(caught.value)
    assert "tensors missing from the checkpoint: 'ln_f.bias' (for weight 'decoder/final_norm/bias')" in message
    assert "['score.weight']" in message


def test_pytorch_pickles_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2,
                                                      "vocab_size": 32, "n_positions": 16}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(CheckpointError, match="pytorch_model.bin' is a PyTorch pickle: dlzoo does not unpickle.*"
                                              "Convert the checkpoint to safetensors"):
        dlzoo.build(str(tmp_path))


def test_config_json_that_is_not_json(gpt2_single, tmp_path):
    directory = copy_of(gpt2_single, tmp_path)
    (directory / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="Cannot parse .*config.json'"):
        dlzoo.build(str(directory))


def test_index_that_disagrees_with_its_shards(llama_sharded, tmp_path):
    directory = copy_of(llama_sharded, tmp_path)
    index_path = directory / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    name = "model.norm.weight"
    other = next(f for f in sorted(set(index["weight_map"].values())) if f != index["weight_map"][name])
    index["weight_map"][name] = other
    index_path.write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=f"places tensor '{name}' in '{other}', but it is in"):
        dlzoo.build(str(directory))
