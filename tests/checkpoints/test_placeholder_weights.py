"""A model built from a checkpoint skips its random initialization, and loses nothing by it.

Inside `zero_initialized_variables` every Keras variable starts as zeros with
its own initializer recorded; `initialize_unloaded` gives the variables the
checkpoint did not fill the value that initializer gives. Checked here on
each backend: the wrapping takes effect and is undone, a weight the checkpoint
fills equals the checkpoint's tensor, and an extension's new weights (not in
the checkpoint) are not left at zero.
"""

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo.checkpoints import placeholder_weights

transformers = pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")


def test_variables_start_as_zeros_and_get_their_own_initializer_afterwards():
    initializer = keras.initializers.RandomNormal(seed=7)  # a seeded initializer gives the same values each call
    initializers = {}
    with placeholder_weights.zero_initialized_variables(initializers):
        layer = keras.layers.Dense(3, kernel_initializer=initializer, bias_initializer="ones")
        layer.build((None, 4))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.kernel), np.zeros((4, 3)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.bias), np.zeros(3))
    assert {v.path for v, _ in initializers.values()} == {layer.kernel.path, layer.bias.path}

    done = placeholder_weights.initialize_unloaded(initializers, loaded=[layer.bias.path])
    assert done == [layer.kernel.path]
    expected = keras.ops.convert_to_numpy(initializer((4, 3), dtype="float32"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.kernel), expected)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.bias), np.zeros(3))  # "loaded": left alone


def test_the_wrapping_is_undone_even_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with placeholder_weights.zero_initialized_variables({}):
            raise RuntimeError("boom")
    layer = keras.layers.Dense(2, bias_initializer="ones")
    layer.build((None, 2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.bias), np.ones(2))


@pytest.fixture(scope="module")
def gpt2_checkpoint(tmp_path_factory):
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                     bos_token_id=None, eos_token_id=None)
    directory = tmp_path_factory.mktemp("gpt2")
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


def test_a_checkpoint_model_has_the_checkpoint_weights_and_initialized_extension_weights(gpt2_checkpoint):
    tensors = safetensors_numpy.load_file(str(gpt2_checkpoint / "model.safetensors"))
    with pytest.warns(UserWarning, match="keep their initial values"):
        model = dlzoo.build(str(gpt2_checkpoint), extensions=[{"name": "classification_head", "num_classes": 3}])
    embedding = next(v for v in model.weights if v.shape == tensors["transformer.wte.weight"].shape)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(embedding), tensors["transformer.wte.weight"])
    initialized = model.checkpoint_report["initialized"]
    head_kernels = [v for v in model.weights if v.path in initialized and len(v.shape) == 2]
    assert head_kernels, initialized
    for kernel in head_kernels:  # Glorot-uniform, not the placeholder zeros
        assert np.abs(keras.ops.convert_to_numpy(kernel)).max() > 0, kernel.path
