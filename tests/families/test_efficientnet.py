"""The `efficientnet` family: published counts, compound scaling, Hugging Face parity, features, errors.

The parity test builds `transformers` EfficientNet at a tiny size with a
non-trivial width (0.5) and depth (1.5) multiplier and random weights
(He-scaled convolutions, random batch-norm scales, shifts, running means and
positive running variances), copies them into the dlzoo model (NCHW -> NHWC,
depthwise kernels `(c, 1, k, k)` -> `(k, k, c, 1)`) and compares the logits
and the multi-scale features on the same random images in inference mode
(float32, max abs diff <= 1e-4). Hugging Face pads the stem and the stride-2
depthwise convolutions like TensorFlow's "same" (the extra pixel bottom and
right); the test also shows that PyTorch-style symmetric padding
(`padding="symmetric"`, torchvision's choice) is caught. Runs in every
backend's suite: dlzoo on the backend under test, the reference in PyTorch.
"""

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo import builder
from dlzoo.families.efficientnet import scale_depth, scale_width
from dlzoo.inspection import block_counts, plan_of
from tests.families.test_resnet import copy_conv_norm, copy_dense, redraw_torch_weights, to_numpy

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# Published figures (1000-class heads), as PyTorch counts them (BatchNorm running statistics are buffers), i.e.
# `dlzoo.count_params(name, trainable_only=True)`:
# torchvision's `EfficientNet_B{0,1,2,3}_Weights.IMAGENET1K_V1.meta["num_params"]`
# (docs.pytorch.org/vision/stable/models): 5,288,548 / 7,794,184 / 9,109,994 / 12,233,232, equal to Hugging Face
# `EfficientNetForImageClassification` for google/efficientnet-b{0,1,2,3} (checked on the meta device below).
# Tan and Le, 2019 (arXiv:1905.11946), table 2, rounds them to 5.3M / 7.8M / 9.2M / 12M.
PUBLISHED = {
    "efficientnet-b0": 5_288_548,
    "efficientnet-b1": 7_794_184,
    "efficientnet-b2": 9_109_994,
    "efficientnet-b3": 12_233_232,
}
# (width, depth) multipliers of the reference code's `efficientnet_params`.
MULTIPLIERS = {
    "efficientnet-b0": (1.0, 1.0),
    "efficientnet-b1": (1.0, 1.1),
    "efficientnet-b2": (1.1, 1.2),
    "efficientnet-b3": (1.2, 1.4),
}
B0 = dict(stem=32, widths=[16, 24, 40, 80, 112, 192, 320], depths=[1, 2, 2, 3, 3, 4, 1], expand=[1, 6, 6, 6, 6, 6, 6],
          top=1280)


def round_filters(channels, width):
    """Tan and Le's reference `round_filters` (divisor 8), restated here to check dlzoo's `scale_width`."""
    value = channels * width
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


def batch_norm_channels(width, depth):
    """Channels of every BatchNorm of a scaled EfficientNet: stem, (expand,) depthwise, project, top."""
    total = channels = round_filters(B0["stem"], width)
    for out, repeats, expand in zip(B0["widths"], B0["depths"], B0["expand"]):
        out = round_filters(out, width)
        for _ in range(int(np.ceil(depth * repeats))):
            expanded = channels * expand
            total += (expanded if expand != 1 else 0) + expanded + out
            channels = out
    return total + round_filters(B0["top"], width)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name):
    assert dlzoo.count_params(name, trainable_only=True) == PUBLISHED[name]
    # Keras also counts the BatchNorm moving mean and variance as (non-trainable) weights; PyTorch does not.
    statistics = 2 * batch_norm_channels(*MULTIPLIERS[name])
    assert dlzoo.count_params(name) == PUBLISHED[name] + statistics


def test_matches_transformers_on_meta_device():
    for name, (width, depth) in MULTIPLIERS.items():
        config = transformers.EfficientNetConfig(
            width_coefficient=width, depth_coefficient=depth, hidden_dim=round_filters(1280, width), num_labels=1000,
        )
        with torch.device("meta"):
            hf = transformers.EfficientNetForImageClassification(config)
        parameters = sum(p.numel() for p in hf.parameters())
        statistics = sum(b.numel() for n, b in hf.named_buffers() if n.endswith(("running_mean", "running_var")))
        assert parameters == PUBLISHED[name] == dlzoo.count_params(name, trainable_only=True), name
        assert dlzoo.count_params(name) == parameters + statistics, name


def test_compound_scaling_rules():
    for channels in (16, 24, 32, 40, 80, 112, 192, 320, 1280, 3, 9):
        for width in (0.25, 0.5, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0):
            assert scale_width(channels, width, 8) == round_filters(channels, width), (channels, width)
    assert [scale_depth(n, 1.4) for n in B0["depths"]] == [2, 3, 3, 5, 5, 6, 2]  # B3: 26 blocks
    assert scale_width(40, 1.2, 8) == 48 and scale_width(112, 1.1, 8) == 120


def test_multipliers_give_the_scaled_model():
    # B0 with B3's multipliers is B3 but for the image size (which changes no weight).
    scaled = dlzoo.count_params("efficientnet-b0", width_multiplier=1.2, depth_multiplier=1.4)
    assert scaled == dlzoo.count_params("efficientnet-b3")
    assert block_counts("efficientnet-b0", width_multiplier=1.2, depth_multiplier=1.4) == \
        block_counts("efficientnet-b3", image_shape=[224, 224, 3])
    assert sum(1 for name in block_counts("efficientnet-b3") if "_block_" in name) == 26


# ------------------------------------------------------------------ parity
C, CLASSES, IMAGE = 3, 5, 32
WIDTH, DEPTH = 0.5, 1.5
STAGES = dict(hidden_dims=[16, 24, 40], depths=[1, 2, 1], kernel_sizes=[3, 5, 3], strides=[1, 2, 2],
              expand_ratios=[1, 6, 4])


def tiny_pair():
    config = transformers.EfficientNetConfig(
        num_channels=C, image_size=IMAGE, width_coefficient=WIDTH, depth_coefficient=DEPTH,
        in_channels=[32] + STAGES["hidden_dims"][:-1], out_channels=STAGES["hidden_dims"],
        kernel_sizes=STAGES["kernel_sizes"], strides=STAGES["strides"], num_block_repeats=STAGES["depths"],
        expand_ratios=STAGES["expand_ratios"], hidden_dim=round_filters(1280, WIDTH), num_labels=CLASSES,
        hidden_act="swish", batch_norm_eps=1e-3, depthwise_padding=[],
    )
    hf = transformers.EfficientNetForImageClassification(config).eval()
    redraw_torch_weights(hf)
    params = dict(image_shape=[IMAGE, IMAGE, C], num_classes=CLASSES, width_multiplier=WIDTH, depth_multiplier=DEPTH,
                  stem_dim=32, top_conv_dim=1280, **STAGES)
    return hf, params


def copy_efficientnet(hf, model):
    net = hf.efficientnet
    copy_conv_norm(model.get_layer("stem"), net.embeddings.convolution, net.embeddings.batchnorm)
    blocks = [layer for layer in model.layers if "_block_" in layer.name]
    assert len(blocks) == len(net.encoder.blocks)
    for block, hf_block in zip(blocks, net.encoder.blocks):
        layers = {layer.name: layer for layer in block.branch}
        if hf_block.expand:
            copy_conv_norm(layers.pop("expand"), hf_block.expansion.expand_conv, hf_block.expansion.expand_bn)
        depthwise = hf_block.depthwise_conv
        copy_conv_norm(layers.pop("depthwise"), depthwise.depthwise_conv, depthwise.depthwise_norm)
        se, hf_se = layers.pop("squeeze_excitation"), hf_block.squeeze_excite
        for dense, conv in ((se.reduce, hf_se.reduce), (se.expand, hf_se.expand)):
            dense.kernel.assign(conv.weight.detach().numpy()[:, :, 0, 0].T)
            dense.bias.assign(conv.bias.detach().numpy())
        copy_conv_norm(layers.pop("project"), hf_block.projection.project_conv, hf_block.projection.project_bn)
        assert not layers, layers
        assert block.use_residual == hf_block.projection.apply_dropout, block.name
    names = [layer.name for layer in model.layers]
    if "top_conv" in names:  # not in a features_only model
        copy_conv_norm(model.get_layer("top_conv"), net.encoder.top_conv, net.encoder.top_bn)
    if "logits" in names:
        copy_dense(model.get_layer("logits"), hf.classifier)


def test_matches_transformers_efficientnet():
    hf, params = tiny_pair()
    model = dlzoo.build("efficientnet-tiny", **params)
    copy_efficientnet(hf, model)
    x = np.random.default_rng(0).standard_normal((2, C, IMAGE, IMAGE)).astype("float32")
    with torch.no_grad():
        out = hf(torch.tensor(x), output_hidden_states=True)
    nhwc = x.transpose(0, 2, 3, 1)
    expected = out.logits.numpy()
    assert np.abs(expected).max() > 0.1
    diff = np.abs(to_numpy(model({"images": nhwc}, training=False)) - expected).max()
    print(f"efficientnet: logits max abs diff {diff:.2e} on {keras.backend.backend()}")
    assert diff <= 1e-4
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(p.numel() for p in hf.parameters()) == dlzoo.count_params(
        "efficientnet-tiny", trainable_only=True, **params)

    # The multi-scale features: the last block of each resolution (hidden_states[k + 1] after block k).
    features = dlzoo.build("efficientnet-tiny", extensions=["features_only"], **params)
    copy_efficientnet(hf, features)
    got = features({"images": nhwc}, training=False)
    repeats = [scale_depth(n, DEPTH) for n in STAGES["depths"]]  # [2, 3, 2]
    last_block = np.cumsum(repeats) - 1
    assert sorted(got) == ["stage_0", "stage_1", "stage_2"]
    assert [(f["channels"], f["stride"]) for f in features.feature_info] == [(8, 2), (16, 4), (24, 8)]
    for s in range(3):
        reference = out.hidden_states[last_block[s] + 1].numpy().transpose(0, 2, 3, 1)
        assert np.abs(to_numpy(got[f"stage_{s}"]) - reference).max() <= 1e-4, s

    # PyTorch-style symmetric padding (torchvision) is not Hugging Face's TF-style padding: caught.
    wrong = dlzoo.build("efficientnet-tiny", padding="symmetric", **params)
    copy_efficientnet(hf, wrong)
    assert np.abs(to_numpy(wrong({"images": nhwc}, training=False)) - expected).max() > 1e-3


# ---------------------------------------------------------- heads, features
def test_backbone_heads_and_levels():
    x = {"images": np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")}
    backbone = dlzoo.build("efficientnet-tiny", num_classes=0)
    assert tuple(backbone(x).shape) == (2, 32)
    headed = dlzoo.build("efficientnet-tiny", extensions=[{"name": "classification_head", "num_classes": 3}])
    assert tuple(headed(x).shape) == (2, 3)
    # B0's levels are timm's feature pyramid: strides 2, 4, 8, 16, 32 at 16, 24, 40, 112, 320 channels.
    plan = plan_of(builder.resolve("efficientnet-b0"))
    levels = [(f.name, f.info["channels"], f.info["stride"]) for f in plan.level_features()]
    assert levels == [("stage_0", 16, 2), ("stage_1", 24, 4), ("stage_2", 40, 8), ("stage_4", 112, 16),
                      ("stage_6", 320, 32)]


def test_count_params_without_building():
    for params in ({"width_multiplier": 0.75, "depth_multiplier": 2.0, "drop_path_rate": 0.3},
                   {"norm": "layer_norm", "squeeze_ratio": 0.5, "padding": "symmetric", "image_shape": [30, 34, 1]},
                   {"activation": "relu", "channel_divisor": 4, "num_classes": 0}):
        assert dlzoo.count_params("efficientnet-tiny", **params) == dlzoo.build("efficientnet-tiny", **params).count_params()


def test_invalid_parameters_are_named_before_allocation():
    cases = [
        ({"width_multiplier": -1.0}, "width_multiplier"),
        ({"depth_multiplier": 0.0}, "depth_multiplier"),
        ({"depths": [1, 1]}, "depths"),
        ({"kernel_sizes": [3, 3, 0]}, r"kernel_sizes\[2\]"),
        ({"expand_ratios": [1, 4]}, "expand_ratios"),
        ({"padding": "valid"}, "padding"),
        ({"norm": "batchnorm"}, "norm"),
        ({"num_classes": -2}, "num_classes"),
        ({"channel_divisor": 0}, "channel_divisor"),
        ({"squeeze_ratio": -0.25}, "squeeze_ratio"),
    ]
    for params, name in cases:
        with pytest.raises(ValueError, match=name) as info:
            dlzoo.count_params("efficientnet-tiny", **params)  # counting allocates nothing
        assert "Received" in str(info.value), str(info.value)
