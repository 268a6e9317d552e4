"""`dlzoo battery FILE --emit bash|slurm --out DIR`."""

import os

import yaml

from dlzoo.cli import main

from tests.experiments._helpers import tiny_arrays, tiny_config


def test_battery_command(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tiny_arrays(str(tmp_path)), **{"optimizer.learning_rate": [0.1, 0.2]})))
    out = tmp_path / "scripts"
    assert main(["battery", str(path), "--emit", "slurm", "--out", str(out), "--account", "a1", "--time", "00:10:00",
                 "--partition", "p1", "--runs-dir", str(tmp_path / "runs")]) == 0
    text = capsys.readouterr().out
    assert "2 slurm script(s)" in text and "submit_all.sh" in text
    scripts = sorted(p for p in os.listdir(out) if p.endswith(".sh") and p != "submit_all.sh")
    assert len(scripts) == 2 and scripts[0].startswith("000-learning_rate=0.1-")
    body = (out / scripts[0]).read_text()
    assert "#SBATCH --account=a1" in body and "#SBATCH --time=00:10:00" in body and "#SBATCH --partition=p1" in body
    assert main(["battery", str(path), "--emit", "pbs"]) == 2
