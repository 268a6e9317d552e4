"""Every shipped zoo config resolves; every `*-tiny` model builds, trains one step, saves and loads.

Loops over `zoo_configs/` (timm style): a new config is tested with no edit here.
Full-size models are only counted (see `test_count_params.py`), never built.
"""

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo import builder, configs
from dlzoo.testing.sizes import tiny_models
from dlzoo.zoo_model import ZooModel

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "zoo_configs"
CONFIG_FILES = sorted(p for p in REPO_CONFIGS.rglob("*") if p.suffix in configs.CONFIG_SUFFIXES)
NAMES = [p.stem for p in CONFIG_FILES]
TINY = tiny_models(NAMES)  # test sizes (dlzoo.testing.sizes); convnext-tiny is the published ConvNeXt-T
FAMILIES = sorted({p.parent.name for p in CONFIG_FILES})


def test_configs_exist_and_names_are_unique():
    assert {"gpt", "llama", "bert"} <= set(FAMILIES)
    assert len(NAMES) == len(set(NAMES)), "two config files share a name"


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_ships_a_tiny_model(family):
    names = [p.stem for p in CONFIG_FILES if p.parent.name == family]
    assert any(n.endswith("-tiny") for n in names), f"zoo_configs/{family}/ has no *-tiny config"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=NAMES)
def test_config_file_is_well_formed_and_resolves(path):
    raw = configs.load_file(path)
    assert raw["name"] == path.stem
    assert set(raw) <= set(configs.CONFIG_KEYS)
    resolved = builder.resolve(path.stem)
    assert resolved["resolved"] is True
    assert resolved["model"] in dlzoo.registry.MODELS
    assert resolved["reference"] if "reference" in resolved else resolved.get("paper"), "cite the source"
    assert resolved.get("description"), "give a one-line description"
    # The resolved config is a fixed point.
    assert builder.resolve(resolved) == resolved
    assert dlzoo.count_params(path.stem) > 0


def _model_inputs(model, batch=2, seq=6, seed=0):
    """Random data for a model's inputs: ints in [0, 2), masks of ones, floats N(0, 1)."""
    rng = np.random.default_rng(seed)
    structure = model.input
    items = structure.items() if isinstance(structure, dict) else enumerate(keras.tree.flatten(structure))
    data = {}
    for key, spec in items:
        shape = [batch] + [seq if d is None else d for d in spec.shape[1:]]
        dtype = keras.backend.standardize_dtype(spec.dtype)
        if dtype == "bool":
            data[key] = np.ones(shape, bool)
        elif "int" in dtype:
            data[key] = rng.integers(0, 2, shape).astype(dtype)
        else:
            data[key] = rng.standard_normal(shape).astype(dtype)
    return data if isinstance(structure, dict) else list(data.values())


def _numpy(x):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, x)


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_builds_trains_saves_and_loads(name):
    keras.utils.set_random_seed(0)
    model = dlzoo.build(name)
    assert isinstance(model, ZooModel)
    assert model.zoo_name == name
    assert dlzoo.count_params(name) == model.count_params()

    x = _model_inputs(model)
    y = model(x)
    for out in keras.tree.flatten(y):
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))

    # One training step: finite loss, weights move. Random targets: a model whose output layer starts at
    # zero (DiT's) would get no gradient at all from zero targets.
    rng = np.random.default_rng(1)
    targets = keras.tree.map_structure(lambda t: rng.standard_normal(t.shape).astype("float32"), y)
    loss = keras.tree.map_structure(lambda _: "mse", y)
    # One eager-ish step is enough here (XLA compilation would dominate the test's time).
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss=loss, jit_compile=False)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(x, targets, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    moved = [not np.array_equal(b, keras.ops.convert_to_numpy(w)) for b, w in zip(before, model.trainable_weights)]
    # Not necessarily all: zero-initialised gates (AdaLN-Zero) block some gradients on step one.
    assert any(moved), "no trainable weight moved after one training step"

    expected = _numpy(model(x))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.keras")
        model.save(path)
        restored = dlzoo.load(path)
        assert restored.get_config() == model.get_config()
        for a, b in zip(keras.tree.flatten(_numpy(restored(x))), keras.tree.flatten(expected)):
            np.testing.assert_allclose(a, b, atol=1e-6)
        preset = os.path.join(tmp, "preset")
        model.save_to_preset(preset)
        for a, b in zip(keras.tree.flatten(_numpy(dlzoo.build(preset)(x))), keras.tree.flatten(expected)):
            np.testing.assert_allclose(a, b, atol=1e-6)
