"""`dlzoo ablate`: switches checked before training, the base and each switch trained on the same seeds through
the runner's variants, and a report whose figures agree with the runs and with count_params/count_flops."""

import json
import math
import os

import pytest
import yaml

import dlzoo
from dlzoo.experiments import ExperimentError
from dlzoo.experiments import ablation as A
from tests.experiments._helpers import tiny_arrays, tiny_config


def _base_file(tmp_path, ablation=None):
    config = tiny_config(tiny_arrays(str(tmp_path)), **{"training.epochs": 1, "training.save_predictions": False})
    config["name"] = "tiny-ablation"
    if ablation is not None:
        config["ablation"] = ablation
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize("switch,named", [
    ("norm.typ=rms_norm", "norm.typ"),             # unknown parameter (did you mean norm.type)
    ("norm.type=no_such_norm", "no_such_norm"),    # a value the family refuses
    ("hidden_dims=[0]", "hidden_dims"),            # a value a block refuses
    ("optimizer.learning_rate=-1", "learning_rate"),
    ("training.epochz=2", "epochz"),
    ("no_equals_sign", "KEY=VALUE"),
])
def test_bad_switches_are_refused_before_training(tmp_path, switch, named):
    out = tmp_path / "out"
    with pytest.raises(ExperimentError, match=named.replace(".", r"\.").replace("[", r"\[")):
        A.ablate(_base_file(tmp_path), switches=[switch], seeds=2, output_dir=str(out), quiet=True)
    assert not out.exists(), "something ran"


def test_bad_sections_are_refused(tmp_path):
    for ablation, named in (({"switches": ["norm.type=rms_norm"], "seeds": [1, 1]}, "ablation.seeds"),
                            ({"switches": ["norm.type=rms_norm", "norm.type=rms_norm"]}, "twice"),
                            ({"swiches": []}, "ablation.swiches"),
                            ({}, "at least one switch")):
        with pytest.raises(ExperimentError, match=named):
            A.load_ablation(_base_file(tmp_path, ablation))


def test_switches_become_labelled_variants_over_the_same_seeds(tmp_path):
    spec = A.load_ablation(_base_file(tmp_path, {"switches": {"norm.type": "rms_norm"}, "seeds": 2}),
                           switches=["optimizer.learning_rate=0.03"])
    config = A.composition(spec)
    assert config["seed"] == {"grid": [0, 1]}
    assert [v["label"] for v in config["variants"]] == ["base", "norm.type=rms_norm", "optimizer.learning_rate=0.03"]
    # a composition-level switch carries its whole section (variants replace sections other than data/model/training)
    assert config["variants"][2]["optimizer"] == {"name": "adam", "learning_rate": 0.03}
    experiment = dlzoo.experiments.load_experiment(config, check_data=False)
    pairs = sorted((r.choices["variant"], r.config["seed"], r.config["data"]["split"]["seed"]) for r in experiment.runs)
    assert len(pairs) == 6 and all(seed == split for _, seed, split in pairs)
    for run in experiment.runs:  # only the switch's own variant changes the norm
        norm = run.config["model"]["params"].get("norm", {}).get("type")
        assert (norm == "rms_norm") == (run.choices["variant"] == "norm.type=rms_norm")


def test_ablation_trains_every_variant_and_reports_paired_effects(tmp_path):
    out = tmp_path / "out"
    facts = A.ablate(_base_file(tmp_path, {"switches": ["hidden_dims=[16]", "norm.type=rms_norm"], "seeds": [0, 1],
                                           "metric": "val_accuracy"}), output_dir=str(out), quiet=True)
    assert facts["metric"] == "val_accuracy" and facts["seeds"] == [0, 1]
    rows = {r["switch"]: r for r in facts["rows"]}
    assert list(rows) == ["base", "hidden_dims=[16]", "norm.type=rms_norm"]
    # each row's seeds are runs of the runner: recompute the figures from their summaries
    runs = {}
    for run_id in os.listdir(out / "runs"):
        summary_path = out / "runs" / run_id / "summary.json"
        if summary_path.exists():
            config = yaml.safe_load(open(out / "runs" / run_id / "config.yaml"))
            model = config["model"]["params"]
            label = ("hidden_dims=[16]" if model["hidden_dims"] == [16] else
                     "norm.type=rms_norm" if model.get("norm", {}).get("type") == "rms_norm" else "base")
            runs[(label, config["seed"])] = json.load(open(summary_path))["metrics"]["val_accuracy"]["mean"]
    assert len(runs) == 6
    for label, row in rows.items():
        values = [runs[(label, s)] for s in (0, 1)]
        assert row["values"] == pytest.approx(values)
        assert row["mean"] == pytest.approx(sum(values) / 2)
        assert row["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
        if label != "base":
            deltas = [runs[(label, s)] - runs[("base", s)] for s in (0, 1)]
            assert row["delta_mean"] == pytest.approx(sum(deltas) / 2)
    base_params = dict(image_shape=[4, 4, 1], num_classes=3, depths=[1])
    assert rows["base"]["parameters"] == dlzoo.count_params("image-mlp-tiny", hidden_dims=[8], **base_params)
    assert rows["hidden_dims=[16]"]["parameters"] == dlzoo.count_params("image-mlp-tiny", hidden_dims=[16], **base_params)
    assert rows["hidden_dims=[16]"]["flops"] == dlzoo.count_flops("image-mlp-tiny", hidden_dims=[16], **base_params)
    assert rows["hidden_dims=[16]"]["delta_parameters"] == rows["hidden_dims=[16]"]["parameters"] - rows["base"]["parameters"]
    table = open(facts["markdown"]).read()
    assert "| `norm.type=rms_norm` |" in table and "Δ vs base (paired)" in table
    assert open(facts["png"], "rb").read(4) == b"\x89PNG"
    # run again: every run is finished, nothing trains, the same figures
    again = A.ablate(str(tmp_path / "base.yaml"), output_dir=str(out), quiet=True)
    assert [r["values"] for r in again["rows"]] == [r["values"] for r in facts["rows"]]


def test_cli_refuses_an_unknown_switch(tmp_path, capsys):
    from dlzoo.cli import main

    code = main(["ablate", _base_file(tmp_path), "--switch", "attention.use_qk_norm=true", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "attention.use_qk_norm" in capsys.readouterr().err
