"""`dlzoo analyze NAME`: the table in the terminal, Markdown (with its chart) and HTML files."""

from dlzoo.cli import main


def test_table_in_the_terminal(capsys):
    assert main(["analyze", "gpt-tiny", "num_layers=1", "--batch-size", "2", "--sequence-length", "6"]) == 0
    out = capsys.readouterr().out
    assert "gpt-tiny (gpt), batch 2, sequence 6" in out and "decoder" in out and "total" in out


def test_markdown_and_html_files(tmp_path, capsys):
    assert main(["analyze", "resnet-tiny", "--image-size", "16", "--out", str(tmp_path / "report.md")]) == 0
    assert "image 16x16x3" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
    assert main(["analyze", "resnet-tiny", "--format", "html", "--out", str(tmp_path / "report.out")]) == 0
    assert "data:image/png;base64," in (tmp_path / "report.out").read_text()
    assert "wrote" in capsys.readouterr().out


def test_bad_input_exits_2(capsys):
    assert main(["analyze", "resnet-tiny", "--image-size", "big"]) == 2
    assert "--image-size" in capsys.readouterr().err
    assert main(["analyze", "gpt-tiny", "--image-size", "32"]) == 2
    assert "image_size" in capsys.readouterr().err
