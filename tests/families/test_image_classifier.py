"""The `image_classifier` family (ConvNeXt-style and MLP backbones) and its zoo configs."""

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo import builder


@pytest.mark.parametrize("name", ["image-convnext-tiny", "image-mlp-tiny"])
def test_counts_match_the_built_model(name):
    model = dlzoo.build(name)
    assert dlzoo.count_params(name) == model.count_params()
    assert tuple(model.output.shape) == (None, 10)
    assert list(model.input) == ["images"]


@pytest.mark.parametrize("params", [
    {"backbone": "convnext", "hidden_dims": [8, 16, 24], "depths": [1, 0, 2], "patch_size": 1, "kernel_size": 3,
     "use_layer_scale": False, "drop_path_rate": 0.2, "norm": {"type": "rms_norm", "epsilon": 1e-6}},
    {"backbone": "mlp", "hidden_dims": [16, 16, 32], "depths": [1, 2, 1], "intermediate_ratio": 3, "dropout": 0.1},
])
def test_count_params_without_building(params):
    counted = dlzoo.count_params("image-convnext-tiny", **params)
    assert counted == dlzoo.build("image-convnext-tiny", **params).count_params()


def test_parameter_count_by_hand():
    # MLP backbone, 4x4x1 images, width 8, one block (ratio 2), 3 classes:
    # input projection 16*8+8, LN 16, MLP 8*16+16 + 16*8+8, head LN 16, logits 8*3+3.
    expected = (16 * 8 + 8) + 16 + (8 * 16 + 16 + 16 * 8 + 8) + 16 + (8 * 3 + 3)
    assert dlzoo.count_params("image-mlp-tiny", image_shape=[4, 4, 1], num_classes=3, hidden_dims=[8], depths=[1],
                              intermediate_ratio=2) == expected


def test_trains_on_a_separable_problem():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = rng.normal(0, 0.2, (60, 8, 8, 1)).astype("float32")
    x[np.arange(60), 2 * y, 2 * y, 0] += 3.0
    model = dlzoo.build("image-convnext-tiny", num_classes=3)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit({"images": x}, y, epochs=8, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.6


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="multiples of patch_size"):
        builder.resolve("image-convnext-tiny", image_shape=[6, 6, 1])
    with pytest.raises(ValueError, match="same length"):
        builder.resolve("image-mlp-tiny", hidden_dims=[8, 8], depths=[1])
    with pytest.raises(ValueError, match="backbone"):
        builder.resolve("image-mlp-tiny", backbone="vit")
    with pytest.raises(ValueError, match="image_shape"):
        builder.resolve("image-mlp-tiny", image_shape=[8, 8])
    with pytest.raises(ValueError, match="norm.type"):
        builder.resolve("image-mlp-tiny", norm={"type": "batch_nrom"})


def test_memory_estimate_and_blocks():
    info = dlzoo.describe("image-convnext-tiny")
    assert {b["name"] for b in info["blocks"]} >= {"patch_embedding", "convnext_block", "layer_norm"}
    memory = dlzoo.estimate_memory("image-convnext-tiny", batch_size=64)
    assert memory["bytes"]["activations"] > dlzoo.estimate_memory("image-convnext-tiny", batch_size=1)["bytes"]["activations"]


def test_batch_norm_in_the_convnext_backbone_counts_without_allocating():
    # The patch embedding and ConvNeXt blocks count their norm through registry.count_weights, so Keras'
    # BatchNormalization (no count_params_for) is counted too (it was an AttributeError).
    params = {"norm": {"type": "batch_norm"}}
    assert dlzoo.count_params("image-convnext-tiny", **params) == dlzoo.build("image-convnext-tiny", **params).count_params()
