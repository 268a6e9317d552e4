"""Files written by dlzoo 0.1 (before one vocabulary and one transformer stack) load with the same outputs.

`tests/data/legacy_v0_1/` holds `.keras` files and a preset written by the
0.1 code (`tests/data/make_legacy_models.py`, main at b9ae66b, jax backend)
with their inputs and outputs; here today's code loads each on the current
backend and must reproduce the outputs.
"""

import os
import warnings

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo.compat import legacy, legacy_files

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "legacy_v0_1")
NAMES = sorted(f[:-4] for f in os.listdir(DATA) if f.endswith(".npz"))


def _outputs(name, model, data):
    inputs = {k[len("input/"):]: data[k] for k in data.files if k.startswith("input/")}
    if name == "lcm-two-tower-tiny":  # the training graph draws noise: compare the towers
        h = model.get_layer("encoder_prenet")(inputs["embeddings"])
        context = model.get_layer("encoder")(h, padding_mask=inputs["padding_mask"])
        denoised = model.get_layer("denoiser")(
            inputs["embeddings"], timesteps=data["extra/timesteps"], context=context,
            context_padding_mask=inputs["padding_mask"],
        )
        return {"context": context, "denoised": denoised}
    out = model(inputs, training=False)
    return out if isinstance(out, dict) else {"output": out}


@pytest.mark.parametrize("name", NAMES)
def test_a_v0_1_file_loads_with_the_same_outputs(name):
    data = np.load(os.path.join(DATA, f"{name}.npz"), allow_pickle=False)
    path = os.path.join(DATA, name if name.endswith("preset") else f"{name}.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = dlzoo.load(path)
    announced = any("dlzoo 0.1 parameter names" in str(w.message) for w in caught)
    assert announced == (not name.startswith("image-")), "a conversion is announced (image configs kept their names)"
    assert not legacy.is_legacy(model.zoo_config["params"]), "the loaded model speaks today's vocabulary"
    outputs = _outputs(name, model, data)
    expected = {k[len("output/"):]: data[k] for k in data.files if k.startswith("output/")}
    assert sorted(outputs) == sorted(expected)
    for key, value in expected.items():
        got = keras.ops.convert_to_numpy(outputs[key])
        np.testing.assert_allclose(got, value, atol=2e-5, rtol=1e-5, err_msg=f"{name}: {key}")


def test_a_converted_file_saves_in_todays_format(tmp_path):
    model = dlzoo.load(os.path.join(DATA, "llama-tiny.keras"))
    path = str(tmp_path / "again.keras")
    model.save(path)
    assert not legacy_files.is_legacy_keras_file(path)
    again = keras.saving.load_model(path)  # Keras itself, no conversion needed any more
    data = np.load(os.path.join(DATA, "llama-tiny.npz"), allow_pickle=False)
    inputs = {k[len("input/"):]: data[k] for k in data.files if k.startswith("input/")}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(inputs)), data["output/output"], atol=2e-5, rtol=1e-5)


def test_a_wrong_mapping_would_be_caught():
    """Swap two layers' weights in the mapping: the outputs must no longer match (the test can fail)."""
    original = legacy.legacy_weight_path

    def swapped(model, params, path, top_norms):
        found = original(model, params, path, top_norms)
        if found and "/transformer_layer/" in found:
            return found.replace("/transformer_layer/", "/transformer_layer_1/")
        if found and "/transformer_layer_1/" in found:
            return found.replace("/transformer_layer_1/", "/transformer_layer/")
        return found

    legacy_files.legacy_weight_path = swapped
    try:
        model = dlzoo.load(os.path.join(DATA, "gpt-tiny.keras"))
    finally:
        legacy_files.legacy_weight_path = original
    data = np.load(os.path.join(DATA, "gpt-tiny.npz"), allow_pickle=False)
    got = keras.ops.convert_to_numpy(_outputs("gpt-tiny", model, data)["output"])
    assert np.abs(got - data["output/output"]).max() > 1e-3
