"""Weight-only int8 / int4 of the decoder LMs through `ZooModel.quantize(mode)`: outputs, memory, files, export, generation."""

import os

import numpy as np
import pytest

import keras

import dlzoo

SMALL = dict(dropout=0.0, vocabulary_size=96, hidden_dim=64, max_sequence_length=32)
FEED = {"token_ids": np.array([[5, 9, 17, 33, 2, 71]], "int32"), "padding_mask": np.ones((1, 6), bool)}


def logits(model):
    return np.asarray(keras.ops.convert_to_numpy(model(FEED)), "float64")


def weight_bytes(layers):
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for layer in layers for v in layer.weights)


def quantizable(model):
    """The Dense and EinsumDense layers: what Keras' int8 mode quantizes (dlzoo's token embedding stays float)."""
    return [layer for layer in model._flatten_layers()
            if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))]


# Kernel bytes over float32: int8 is a quarter plus one float32 scale per output channel; int4 packs two values
# per byte (an eighth) plus the scales.
WEIGHT_RATIO_BOUND = {"int8": 0.3, "int4": 0.2}


@pytest.mark.parametrize("name, mode", [("gpt-tiny", "int8"), ("llama-tiny", "int8"), ("llama-tiny", "int4")])
def test_quantized_weights_outputs_and_memory(name, mode):
    keras.utils.set_random_seed(0)
    model = dlzoo.build(name, **SMALL)
    reference = logits(model)
    float_bytes = weight_bytes(quantizable(model))
    model.quantize(mode)
    layers = quantizable(model)
    assert layers and all(layer.quantization_mode == mode for layer in layers)
    assert all(layer._kernel.dtype == "int8" for layer in layers)  # int4 values are packed in pairs into int8
    assert weight_bytes(layers) <= WEIGHT_RATIO_BOUND[mode] * float_bytes
    relative = np.abs(logits(model) - reference).max() / np.abs(reference).max()
    assert 0 < relative < (0.05 if mode == "int8" else 0.3), relative
    assert model.zoo_config["metadata"]["quantization"] == mode


@pytest.mark.parametrize("name, route, mode", [("gpt-tiny", "keras_file", "int8"), ("llama-tiny", "preset", "int4")])
def test_quantized_round_trip(name, route, mode, tmp_path):
    model = dlzoo.build(name, **SMALL)
    model.quantize(mode)
    expected = logits(model)
    if route == "keras_file":
        path = os.path.join(tmp_path, "model.keras")
        model.save(path)
        loaded = dlzoo.load(path)
    else:
        loaded = dlzoo.build(model.save_to_preset(os.path.join(tmp_path, "preset")))
    assert all(layer.quantization_mode == mode for layer in quantizable(loaded))
    np.testing.assert_array_equal(logits(loaded), expected)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="one export per CI run: the native ONNX exporter")
def test_a_quantized_file_exports_to_onnx_and_verifies(tmp_path):
    """`.keras` save -> load -> ONNX export of an int8 model; export verification compares onnxruntime with Keras."""
    model = dlzoo.build("gpt-tiny", **SMALL)
    model.quantize("int8")
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    result = dlzoo.export(path, os.path.join(tmp_path, "out"), formats=["onnx"])
    assert os.path.isfile(os.path.join(tmp_path, "out", "model.onnx"))
    assert "verified, max abs diff" in str(result)  # a failed comparison raises ExportError


def test_generation_after_quantizing_uses_a_new_program():
    """Programs are kept per model; quantizing replaces the variables, so a new program must be made."""
    model = dlzoo.build("llama-tiny", **SMALL)
    before = dlzoo.generate(model, [[3, 4, 5]], max_new_tokens=6, return_scores=True)[1]
    model.quantize("int8")
    ids, after = dlzoo.generate(model, [[3, 4, 5]], max_new_tokens=6, return_scores=True)
    # The reference: the quantized model's own forward pass over the generated sequence.
    feed = {"token_ids": ids.astype("int32"), "padding_mask": np.ones(ids.shape, bool)}
    forward = np.asarray(keras.ops.convert_to_numpy(model(feed)), "float64")[0]
    np.testing.assert_allclose(after[0, 3:9], forward[2:8], atol=1e-4)
    assert np.abs(after[0, 3:9] - before[0, 3:9]).max() > 1e-4
