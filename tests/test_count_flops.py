"""`dlzoo.count_flops`: hand formulas, published figures, arguments. Runs on every backend (nothing is built).

The comparison with PyTorch's own FLOP counter for every family and block is
`test_flops_parity.py` (torch suite).
"""

import keras
import pytest

import dlzoo
import dlzoo.blocks  # noqa: F401  (registers the blocks and Keras layers)
from dlzoo.registry import count_layer_flops, make_block

# torchvision's model table (pytorch.org/vision/stable/models.html, column "GFLOPS" at 224x224, which
# counts multiply-adds: half of dlzoo's FLOPs), rounded to two decimals there.
TORCHVISION_GMACS = {
    "resnet-18": 1.81,
    "resnet-50": 4.09,
    "vit-base-16": 17.56,
    "convnext-tiny": 4.46,
    "efficientnet-b0": 0.39,
}


def test_dense_hand_formula():
    # (3, 5) vectors of width 4 to 7 units: 2 * 15 * 4 * 7; the bias is not counted.
    assert count_layer_flops(keras.layers.Dense(7), (3, 5, 4)) == 2 * 15 * 4 * 7 == 840


def test_conv_hand_formula():
    # 7x7x4 -> 3x3x8 (kernel 3, stride 2, valid), 2 groups: each output reads 3*3*2 inputs.
    conv = keras.layers.Conv2D(8, 3, strides=2, groups=2)
    assert count_layer_flops(conv, (1, 7, 7, 4)) == 2 * (3 * 3 * 8) * (3 * 3 * 2) == 2592
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)
    assert count_layer_flops(depthwise, (2, 6, 6, 4)) == 2 * (2 * 6 * 6 * 8) * 9


def test_attention_hand_formula():
    # b=2, t=5 queries, s=7 keys, width 16, 4 query heads of 8, 2 key/value heads, output 16.
    attention = make_block("grouped_query_attention", num_heads=4, num_key_value_heads=2, head_dim=8)
    b, t, s = 2, 5, 7
    expected = 2 * b * t * 16 * 32 + 2 * (2 * b * s * 12 * 16) + 2 * (2 * b * 4 * t * s * 8) + 2 * b * t * 32 * 16
    assert count_layer_flops(attention, (b, t, 16), key_value_shape=(b, s, 12)) == expected


def test_gpt_tiny_hand_formula():
    # 2 layers, d=64, f=256, vocabulary 512, tied head; per layer: q, k, v, output projections
    # (8 b s d^2), attention (4 b s^2 d), MLP (4 b s d f); head 2 b s d V.
    b, s, d, f, v, layers = 2, 6, 64, 256, 512, 2
    expected = layers * (8 * b * s * d * d + 4 * b * s * s * d + 4 * b * s * d * f) + 2 * b * s * d * v
    assert dlzoo.count_flops("gpt-tiny", batch_size=b, sequence_length=s) == expected == 3_182_592
    blocks = dlzoo.block_flops("gpt-tiny", batch_size=b, sequence_length=s)
    assert sum(blocks.values()) == expected and blocks["decoder"] == expected - 2 * b * s * d * v


def test_training_is_three_forward_passes():
    forward = dlzoo.count_flops("resnet-tiny", batch_size=4)
    assert dlzoo.count_flops("resnet-tiny", batch_size=4, training=True) == 3 * forward
    assert dlzoo.count_flops("resnet-tiny", batch_size=8) == 2 * forward


@pytest.mark.parametrize("name", sorted(TORCHVISION_GMACS))
def test_published_imagenet_figures(name):
    assert round(dlzoo.count_flops(name) / 2e9, 2) == TORCHVISION_GMACS[name]


def test_default_sequence_length_is_the_models_maximum():
    assert dlzoo.count_flops("gpt-tiny") == dlzoo.count_flops("gpt-tiny", sequence_length=128)


def test_image_size_changes_the_input():
    small = dlzoo.block_flops("resnet-tiny", image_size=32)
    large = dlzoo.block_flops("resnet-tiny", image_size=(64, 64))
    assert small == dlzoo.block_flops("resnet-tiny")
    assert large["stem"] == 4 * small["stem"]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="image_size"):
        dlzoo.count_flops("gpt-tiny", image_size=32)
    with pytest.raises(ValueError, match="batch_size"):
        dlzoo.count_flops("gpt-tiny", batch_size=0)
    with pytest.raises(ValueError, match="sequence_length"):
        dlzoo.count_flops("transformer-tiny")
    with pytest.raises(ValueError, match="lora"):
        dlzoo.count_flops("gpt-tiny", extensions=[{"lora": {"rank": 2}}])
