"""A composition file's `distribution:` section: checked with the rest of the file (every backend)."""

import tempfile

import pytest

from dlzoo.experiments import ExperimentError, load_experiment
from tests.experiments._helpers import tiny_arrays, tiny_config


@pytest.fixture(scope="module")
def data():
    with tempfile.TemporaryDirectory() as tmp:
        yield tiny_arrays(tmp)


def test_a_valid_section_is_kept(data):
    config = tiny_config(data, backend="jax", distribution={"strategy": "data", "mesh": "2x1"})
    assert load_experiment(config).runs[0].config["distribution"] == {"strategy": "data", "mesh": "2x1"}
    assert load_experiment(tiny_config(data)).runs[0].config["distribution"] is None


@pytest.mark.parametrize("section, fragment", [
    ({"strategy": "fsdp"}, "Did you mean 'fsdp-like'"),
    ({"strategy": "model", "mesh": "2x"}, "mesh='2x'"),
    ({"strategy": "model", "shards": 4}, "Unknown key 'shards'"),
])
def test_bad_sections_are_reported(data, section, fragment):
    with pytest.raises(ExperimentError) as error:
        load_experiment(tiny_config(data, backend="jax", distribution=section))
    assert fragment in str(error.value) and "distribution" in str(error.value)


def test_a_backend_keras_does_not_distribute_on_is_reported(data):
    with pytest.raises(ExperimentError, match="JAX backend only.*backend='torch'"):
        load_experiment(tiny_config(data, backend="torch", distribution={"strategy": "data"}))
