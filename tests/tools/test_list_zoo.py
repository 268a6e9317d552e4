"""`tools/list_zoo.py`: run in a subprocess (the backend comes from KERAS_BACKEND) and check its tables."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "list_zoo.py")

# The tool reads the registries and counts from each block's own formula: the same Python on every backend.
pytestmark = pytest.mark.backend_agnostic

# Published parameter counts (also asserted by the families' own tests):
# Llama 2 7B, Touvron et al. 2023 (arXiv:2307.09288) / the Hugging Face checkpoint: 6,738,415,616;
# GPT-2 small with tied embeddings: 124,439,808; Meta's Base-LCM 1.6B as built by the reference code
# (/work/shared/reference/lcm.md, section 7.1): 1,649,185,792.
KNOWN_COUNTS = {
    "llama-2-7b": "6,738,415,616",
    "llama-3-8b": "8,030,261,248",
    "gpt-base": "124,439,808",
    "lcm-base": "1,649,185,792",
}
KNOWN_BLOCKS = {
    "rms_norm": ("normalization", "arXiv:1910.07467"),
    "grouped_query_attention": ("attention", "arXiv:2305.13245"),
    "rotary_embedding": ("position", "arXiv:2104.09864"),
    "swiglu": ("feedforward", "arXiv:2002.05202"),
    "mixture_of_experts": ("feedforward", "arXiv:2101.03961"),
    "ada_ln_zero": ("normalization", "arXiv:2212.09748"),
}


def run_tool(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, TOOL, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


def section(text, title):
    """Rows (lists of cells) of the plain-text table titled `title (N)`, and N."""
    match = re.search(rf"^{title} \((\d+)\)\n\n(.*?)(?:\n\n|\Z)", text, flags=re.S | re.M)
    assert match, f"no section {title!r} in:\n{text}"
    lines = match.group(2).splitlines()[2:]  # skip the header and the dashes
    return [re.split(r"\s{2,}", line.strip()) for line in lines], int(match.group(1))


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """One run of the tool (plain text, every section) with one extra, broken user config on the search path."""
    extra = tmp_path_factory.mktemp("configs")
    # 4 heads do not divide width 66: the count fails, the row says why, the exit code is 1.
    (extra / "llama-broken.yaml").write_text(
        "name: llama-broken\nbase: llama-tiny\nparams: {hidden_dim: 66}\n", encoding="utf-8"
    )
    result = run_tool(env_extra={"DLZOO_CONFIG_PATH": str(extra)})
    assert result.returncode == 1, result.stderr[-3000:]
    return result.stdout


def test_lists_every_registered_block_with_category_and_paper(plain):
    rows, n = section(plain, "Blocks")
    assert len(rows) == n
    by_name = {r[0]: r for r in rows}
    for name, (category, paper) in KNOWN_BLOCKS.items():
        assert by_name[name][1:3] == [category, paper], by_name[name]
    # Blocks registered by the model families count too (the tool loads them first).
    assert "token_embedding" in by_name
    # Same set as the registry after loading the families, checked in this process.
    import dlzoo
    from dlzoo.registry import BLOCKS

    dlzoo.list_models()
    assert sorted(by_name) == BLOCKS.names()


def test_lists_every_named_model_with_assembler_and_exact_count(plain):
    rows, n = section(plain, "Models")
    by_name = {r[0]: r for r in rows}
    import dlzoo

    assert sorted(by_name) == sorted(dlzoo.list_models() + ["llama-broken"]) and len(rows) == n
    for name, count in KNOWN_COUNTS.items():
        assert by_name[name][2] == count, by_name[name]
    assert by_name["llama-2-7b"][1] == "llama" and by_name["llama-2-7b"][3] == "arXiv:2307.09288"
    assert by_name["lcm-base"][1] == "base_lcm"
    # Every row is what the API says (tests/test_count_params.py checks the API against built models).
    for name in dlzoo.list_models():
        assert by_name[name][2] == f"{dlzoo.count_params(name):,}", name


def test_lists_extensions(plain):
    rows, _ = section(plain, "Extensions")
    by_name = {r[0]: r for r in rows}
    assert by_name["lora"][1] == "arXiv:2106.09685"
    assert "regression_head" in by_name["classification_head"][2]


def test_blocks_guide_covers_every_listed_block(plain):
    rows, _ = section(plain, "Blocks")
    with open(os.path.join(ROOT, "guides", "blocks.md"), encoding="utf-8") as f:
        guide = f.read()
    missing = [r[0] for r in rows if f"`{r[0]}`" not in guide]
    assert not missing, f"guides/blocks.md does not explain: {missing}"


def test_broken_model_is_reported_not_fatal(plain):
    rows, _ = section(plain, "Models")
    broken = {r[0]: r for r in rows}["llama-broken"]
    assert broken[1] == "llama"
    assert broken[2].startswith("error: ValueError:") and "hidden_dim" in broken[2]


def test_markdown_and_pattern(capsys):
    list_zoo = import_tool()
    assert list_zoo.main(["--markdown", "--only", "models", "llama-2*"]) == 0
    assert capsys.readouterr().out == (
        "## Models (1)\n\n"
        "| model | assembler | parameters | paper |\n"
        "|---|---|---:|---|\n"
        "| `llama-2-7b` | llama | 6,738,415,616 | arXiv:2307.09288 |\n"
    )


def import_tool():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import list_zoo
    finally:
        sys.path.pop(0)
    return list_zoo


def test_helpers():
    list_zoo = import_tool()
    assert list_zoo.short_paper("https://arxiv.org/abs/2307.09288") == "arXiv:2307.09288"
    assert list_zoo.short_paper("https://arxiv.org/pdf/2412.08821v2.pdf") == "arXiv:2412.08821"
    assert list_zoo.short_paper("arXiv:1910.07467") == "arXiv:1910.07467"
    assert list_zoo.short_paper(None) == "-"
    table = list_zoo.format_table(["a", "n"], [["x", "1,000"], ["long", "7"]], right=(1,))
    assert table.splitlines() == ["a         n", "----  -----", "x     1,000", "long      7"]
    md = list_zoo.format_table(["a", "b"], [["x", "p|q"]], markdown=True)
    assert md.splitlines() == ["| a | b |", "|---|---|", "| `x` | p\\|q |"]
