"""The `dlzoo` command line: list, blocks, describe, count, diff, build (in process, plus one real console-script run)."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import dlzoo
from dlzoo.cli import main

COMMANDS = ["list", "blocks", "describe", "count", "diff", "build"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dlzoo " + command)
    assert "--debug" in out


def test_list(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == len(dlzoo.list_models())
    llama = [line for line in lines if line.startswith("llama-3-8b ")][0]
    assert "llama" in llama and "arxiv.org/abs/2407.21783" in llama  # the family and the paper, from the config
    code, out, _ = run_cli(capsys, "list", "llama-*", "--names")
    assert out.split() == ["llama-2-7b", "llama-3-8b", "llama-tiny"]
    code, out, _ = run_cli(capsys, "list", "llama-3*", "--count")
    assert "8.03B" in out
    code, out, _ = run_cli(capsys, "list", "bert", "--json", "--count")
    rows = json.loads(out)
    assert {r["name"] for r in rows} == {"bert-base", "bert-large", "bert-tiny"}
    assert {r["name"]: r["parameters"] for r in rows}["bert-base"] == 109482240
    code, out, _ = run_cli(capsys, "list", "nothing-like-this")
    assert code == 0 and "no models match" in out


def test_blocks(capsys):
    code, out, _ = run_cli(capsys, "blocks")
    assert code == 0
    assert any(line.startswith("grouped_query_attention") and "arXiv:2305.13245" in line for line in out.splitlines())
    code, out, _ = run_cli(capsys, "blocks", "*norm*", "--json")
    names = {r["name"] for r in json.loads(out)}
    assert {"rms_norm", "layer_norm"} <= names
    assert "swiglu" not in names


def test_count(capsys):
    code, out, _ = run_cli(capsys, "count", "llama-3-8b")
    assert code == 0
    assert out.split()[0] == "8030261248"
    code, out, _ = run_cli(capsys, "count", "llama-tiny", "num_layers=3", "attention.num_key_value_heads=1", "--json")
    data = json.loads(out)
    assert data["parameters"] == dlzoo.count_params("llama-tiny", num_layers=3, attention__num_key_value_heads=1)
    assert data["seconds"] < 1.0


def test_describe(capsys):
    code, out, _ = run_cli(capsys, "describe", "llama-tiny", "feedforward.intermediate_dim=96")
    assert code == 0
    assert "feedforward.intermediate_dim = 96" in out
    assert "grouped_query_attention" in out and "arXiv:2305.13245" in out
    assert f"parameters: {dlzoo.count_params('llama-tiny', feedforward__intermediate_dim=96):,}" in out
    assert "optimizer_state" in out
    code, out, _ = run_cli(capsys, "describe", "gpt-base", "--json", "--dtype", "mixed_bfloat16", "--optimizer", "none")
    info = json.loads(out)
    assert info["param_count"] == 124439808
    assert info["memory"]["bytes"]["gradients"] == 0
    assert info["memory"]["dtype"] == "mixed_bfloat16"
    assert any(b["name"] == "learned_position_embedding" for b in info["blocks"])


def test_diff(capsys):
    code, out, _ = run_cli(capsys, "diff", "gpt-tiny", "llama-tiny")
    assert code == 0
    assert "model: gpt -> llama" in out
    assert 'norm.type: "layer_norm" -> "rms_norm"' in out
    assert "+rotary_embedding" in out and "-learned_position_embedding" in out
    assert "attention.rope_layout: (absent) -> \"rotate_half\"" in out
    code, out, _ = run_cli(capsys, "diff", "gpt-base", "gpt-medium", "--json")
    data = json.loads(out)
    assert data["params"]["hidden_dim"] == [768, 1024]
    assert data["param_count"]["delta"] == 354823168 - 124439808


def test_build_save_and_preset(capsys):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tiny.keras")
        preset = os.path.join(tmp, "preset")
        code, out, _ = run_cli(
            capsys, "build", "gpt-tiny", "num_layers=1", "hidden_dim=32", "--save", path, "--preset", preset
        )
        assert code == 0
        count = dlzoo.count_params("gpt-tiny", num_layers=1, hidden_dim=32)
        assert f"{count:,} parameters" in out
        loaded = dlzoo.load(path)
        assert loaded.count_params() == count
        assert loaded.zoo_config["params"]["hidden_dim"] == 32
        assert dlzoo.build(preset).count_params() == count


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["count", "lama-3-8b"], "Did you mean 'llama-3-8b'"),
        (["count", "gpt-tiny", "num_layer=3"], "Did you mean 'num_layers'"),
        (["count", "gpt-tiny", "num_layers=three"], "`num_layers`"),
        (["count", "gpt-tiny", "attention.num_heads=5"], "`hidden_dim`"),
        (["count", "gpt-tiny", "num_layers"], "key=value"),
        (["describe", "gpt-tiny", "--batch-size", "0"], "`batch_size`"),
        (["describe", "gpt-tiny", "--dtype", "float8"], "`dtype`"),
        (["count", "gpt-tiny", "-e", "no_such_extension"], "'no_such_extension'"),
        (["build", "gpt-tiny", "--save", "model.h5"], ".keras"),
        (["diff", "gpt-tiny", "no-such-model"], "Unknown model"),
        (["build", "/no/such/config.yaml"], "No zoo config file"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, fragment, capsys):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dlzoo {argv[0]}: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_debug_shows_the_exception():
    with pytest.raises(ValueError, match="Did you mean 'num_layers'"):
        main(["count", "gpt-tiny", "num_layer=3", "--debug"])


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_console_script():
    script = Path(sys.executable).with_name("dlzoo")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dlzoo"]
    env = dict(os.environ)
    ok = subprocess.run(command + ["count", "gpt-base"], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split()[0] == "124439808"
    bad = subprocess.run(command + ["describe", "gpt-tiyn"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("dlzoo ")]
    assert len(errors) == 1 and "Did you mean 'gpt-tiny'" in errors[0]
    assert "Traceback" not in bad.stderr
