"""`dlzoo convert SRC DST`: checkpoint -> .keras / preset, dlzoo model -> checkpoint, and its errors (in process)."""

import json
import os

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo.cli import main

transformers = pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("gpt2")
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                     bos_token_id=None, eos_token_id=None)
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return str(directory)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tensors_of(directory):
    with safetensors.safe_open(os.path.join(directory, "model.safetensors"), framework="numpy") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


def test_help(capsys):
    assert main(["convert", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: dlzoo convert")


def test_checkpoint_to_keras_file_and_back(checkpoint, tmp_path, capsys):
    keras_file = str(tmp_path / "tiny.keras")
    code, out, _ = run_cli(capsys, "convert", checkpoint, keras_file)
    assert code == 0 and out.startswith(f"converted {checkpoint} (gpt, 4,080 parameters")
    back = str(tmp_path / "back")
    code, out, _ = run_cli(capsys, "convert", keras_file, back)
    assert code == 0 and out.strip().endswith(f"-> Hugging Face checkpoint {back}")
    original, again = tensors_of(checkpoint), tensors_of(back)
    assert set(again) == set(original)
    for name, value in again.items():
        np.testing.assert_array_equal(value, original[name])


def test_checkpoint_to_preset_with_overrides_and_bfloat16(checkpoint, tmp_path, capsys):
    preset = str(tmp_path / "preset")
    code, _, _ = run_cli(capsys, "convert", checkpoint, preset, "use_position_ids=true")
    assert code == 0 and sorted(os.listdir(preset)) == ["config.json", "metadata.json", "model.weights.h5"]
    assert sorted(dlzoo.build(preset).input) == ["padding_mask", "position_ids", "token_ids"]
    resharded = str(tmp_path / "bf16")
    code, _, _ = run_cli(capsys, "convert", checkpoint, resharded, "--to", "hf", "--dtype", "bfloat16")
    assert code == 0 and keras.config.dtype_policy().name == "float32"
    assert json.loads(open(os.path.join(resharded, "config.json")).read())["dtype"] == "bfloat16"
    assert {str(v.dtype) for v in tensors_of(resharded).values()} == {"bfloat16"}


def test_errors_are_one_line(checkpoint, tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", checkpoint, str(tmp_path / "x"), "num_layers=2")
    assert code == 2 and "tensors missing from the checkpoint: 'h.1.ln_1.weight'" in err
    code, _, err = run_cli(capsys, "convert", checkpoint, str(tmp_path / "x.h5"), "--to", "keras")
    assert code == 2 and "--to keras needs a DST ending in .keras" in err
    code, _, err = run_cli(capsys, "convert", "gpt-tiny", str(tmp_path / "y"), "feedforward.type=swiglu")
    assert code == 2 and "cannot be written as a Hugging Face checkpoint" in err
    assert not os.path.exists(tmp_path / "y")
