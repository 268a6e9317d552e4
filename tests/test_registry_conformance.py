"""Loops over the block registry (timm style): every block meets the project's rules."""

import inspect
import os

import pytest

import keras
import numpy as np

import dlzoo
import dlzoo.blocks
from dlzoo.registry import BLOCKS, count_layer_flops, init_arguments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# dlzoo's own blocks; Keras' layers registered by name are checked apart (NATIVE).
ENTRIES = [e for e in BLOCKS.entries() if not e.metadata.get("native")]
NATIVE = [e for e in BLOCKS.entries() if e.metadata.get("native")]


def _defining_class(entry):
    """The class whose file, test and docstring document the block (the base of a configuration)."""
    base = entry.metadata.get("configuration_of")
    return BLOCKS.get(base).obj if base else entry.obj


def _test_file_for(cls):
    """tests/ mirrors the package: dlzoo/blocks/x/y.py -> tests/blocks/x/test_y.py."""
    parts = cls.__module__.split(".")[1:]
    return os.path.join(ROOT, "tests", *parts[:-1], f"test_{parts[-1]}.py")


def test_registry_is_populated():
    # The foundation issue's block library; fails if a role package stops exporting.
    for name in [
        "rms_norm", "layer_norm", "ada_ln_zero", "rotary_embedding", "learned_position_embedding",
        "sinusoidal_position_embedding", "alibi_bias", "timestep_embedding", "grouped_query_attention",
        "mlp", "swiglu", "geglu", "gated_linear_unit", "mixture_of_experts", "drop_path", "layer_scale",
        "transformer_layer", "transformer_stack",
    ]:
        assert name in BLOCKS, f"block {name!r} is not registered"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
class TestEveryBlock:
    def test_exported_from_dlzoo_blocks(self, entry):
        if not entry.obj.__module__.startswith("dlzoo.blocks."):
            pytest.skip("model-specific block, exported by its model package")
        assert getattr(dlzoo.blocks, entry.obj.__name__, None) is entry.obj

    def test_registry_name_is_file_stem(self, entry):
        assert _defining_class(entry).__module__.rsplit(".", 1)[-1] == entry.metadata.get("configuration_of", entry.name)

    def test_has_test_file(self, entry):
        path = _test_file_for(_defining_class(entry))
        assert os.path.exists(path), f"missing test file {os.path.relpath(path, ROOT)}"
        with open(path) as f:
            source = f.read()
        assert entry.obj.__name__ in source and "run_block_test" in source

    def test_docstring_sections(self, entry):
        doc = inspect.getdoc(_defining_class(entry)) or ""
        assert "Args:" in doc, f"{entry.obj.__name__} docstring lacks 'Args:'"
        assert "Reference:" in doc, f"{entry.obj.__name__} docstring lacks 'Reference:'"

    def test_has_paper_and_example(self, entry):
        assert entry.paper, f"{entry.name} cites no paper"
        assert entry.example and "inputs" in entry.example, f"{entry.name} has no parity example"

    def test_init_arguments_match_config(self, entry):
        layer = entry.obj(**entry.example.get("init_kwargs", {}))
        config_keys = set(layer.get_config()) - {"name", "trainable", "dtype"}
        assert config_keys == set(init_arguments(entry.obj))

    def test_counts_params_without_building(self, entry):
        assert callable(getattr(entry.obj, "count_params_for", None))

    def test_counts_flops_without_building(self, entry):
        # The figures themselves are checked against PyTorch's counter in test_flops_parity.py (torch suite).
        assert callable(getattr(entry.obj, "flops_for", None)), f"{entry.name} has no flops_for(input_shape, ...)"
        layer = entry.obj(**entry.example.get("init_kwargs", {}))
        shapes = _example_shapes(entry.example)
        flops = count_layer_flops(layer, shapes[0], **shapes[1], **entry.example.get("call_kwargs", {}))
        assert isinstance(flops, int) and flops >= 0 and not layer.built


def _example_shapes(example):
    """(positional input shape, {`<name>_shape`: shape}) of a registry example's inputs."""
    spec = example["inputs"]
    shape_of = lambda s: tuple(s["shape"]) if isinstance(s, dict) else tuple(s)  # noqa: E731
    if isinstance(spec, dict) and "shape" not in spec:
        (first, *rest) = spec
        return shape_of(spec[first]), {f"{k}_shape": shape_of(spec[k]) for k in rest}
    return shape_of(spec), {}


@pytest.mark.parametrize("entry", NATIVE, ids=[e.name for e in NATIVE])
def test_keras_layer_counts_match_a_built_layer(entry):
    """The closed-form count recorded for a Keras layer equals the built layer's own count."""
    example = entry.example
    shapes = example["inputs"]
    layer = entry.obj(**example.get("init_kwargs", {}))
    counted = entry.metadata["count_params"](layer, shapes)
    inputs = [np.ones(s, "float32") for s in shapes] if isinstance(shapes, list) else np.ones(shapes, "float32")
    layer(inputs)
    assert counted == layer.count_params(), f"{entry.name}: counted {counted}, built {layer.count_params()}"


@pytest.mark.parametrize("entry", NATIVE, ids=[e.name for e in NATIVE])
def test_keras_layer_has_a_flop_formula(entry):
    assert callable(entry.metadata.get("flops")), f"{entry.name} is registered without flops="


def test_every_exported_layer_is_registered():
    registered = {e.obj for e in ENTRIES}
    for name in dir(dlzoo.blocks):
        obj = getattr(dlzoo.blocks, name)
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and obj.__module__.startswith("dlzoo"):
            assert obj in registered, f"dlzoo.blocks.{name} is exported but not registered"
