"""`dlzoo.yaml_io`: scientific notation without a dot is a float (YAML 1.2), still a safe loader."""

import pytest
import yaml

from dlzoo import configs, yaml_io


@pytest.mark.parametrize(
    "text, expected",
    [("1e-3", 1e-3), ("5E-4", 5e-4), ("-2e+5", -2e5), ("+3e2", 300.0), (".5e-1", 0.05), ("1.0e-3", 1e-3),
     ("2.5", 2.5), ("7", 7), ("1_000", 1000)],
)
def test_numbers(text, expected):
    value = yaml_io.safe_load(f"x: {text}")["x"]
    assert value == expected and type(value) is type(expected)


def test_strings_stay_strings_and_quotes_win():
    data = yaml_io.safe_load("a: e5\nb: '1e-3'\nc: 1e\nd: 1e-3x\ne: [1e-3, 1e-2]")
    assert data == {"a": "e5", "b": "1e-3", "c": "1e", "d": "1e-3x", "e": [1e-3, 1e-2]}


def test_still_safe():
    with pytest.raises(yaml.YAMLError):
        yaml_io.safe_load("x: !!python/object/apply:os.system ['true']")
    assert yaml.safe_load("x: 1e-3") == {"x": "1e-3"}  # PyYAML's own loader is left as it was


def test_overrides_and_zoo_config_files(tmp_path):
    assert configs.parse_overrides(["lr=[1e-3,1e-2]", "eps=1e-6"]) == {"lr": [1e-3, 1e-2], "eps": 1e-6}
    path = tmp_path / "tiny-eps.yaml"
    path.write_text("name: tiny-eps\nmodel: image_classifier\nparams: {layer_scale_init_value: 1e-5}\n")
    assert configs.load_file(path)["params"]["layer_scale_init_value"] == 1e-5
