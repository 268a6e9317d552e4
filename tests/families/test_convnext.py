"""The `convnext` family: published counts, Hugging Face `ConvNextForImageClassification` parity, features, errors.

The parity test builds `transformers` ConvNeXt at a tiny size with random
weights, perturbs every weight (LayerScale starts at 1e-6, which would hide
every block's branch), copies them into the dlzoo model and compares the
logits on the same random images (float32, max abs diff <= 1e-4); it also
shows that a plausible mistake (a depthwise kernel flipped, i.e. convolution
read as correlation) moves the logits far above the tolerance. Runs in every
backend's suite: dlzoo on the backend under test, the reference in PyTorch.
"""

import numpy as np
import pytest

import keras

import dlzoo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# Published figures (1000-class heads): Liu et al., 2022 (arXiv:2201.03545), Table 11 (ImageNet-1k, 224²):
# ConvNeXt-T 28M, -S 50M, -B 89M, -L 198M. Exact values are
# `ConvNextForImageClassification(ConvNextConfig(...)).num_parameters()` as for facebook/convnext-{tiny,small,
# base,large}-224 (checked on the meta device below).
PUBLISHED = {
    "convnext-tiny": 28_589_128,
    "convnext-small": 50_223_688,
    "convnext-base": 88_591_464,
    "convnext-large": 197_767_336,
}
HF_SIZES = {  # hidden_sizes, depths
    "convnext-tiny": ([96, 192, 384, 768], [3, 3, 9, 3]),
    "convnext-small": ([96, 192, 384, 768], [3, 3, 27, 3]),
    "convnext-base": ([128, 256, 512, 1024], [3, 3, 27, 3]),
    "convnext-large": ([192, 384, 768, 1536], [3, 3, 27, 3]),
}

DIMS, DEPTHS, C, CLASSES, IMAGE = [8, 16, 24, 32], [1, 2, 1, 2], 3, 5, 32


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def t(tensor):
    return tensor.detach().numpy().astype("float32")


def assign(variable, value):
    value = np.asarray(value, dtype="float32")
    assert tuple(variable.shape) == value.shape, (variable.path, tuple(variable.shape), value.shape)
    variable.assign(value)


def tiny_hf_convnext():
    # Every LayerNorm at epsilon 1e-6: Hugging Face hard-codes it everywhere but in the final norm, which
    # takes `layer_norm_eps` (1e-12 by default; the official ConvNeXt code uses 1e-6 there too).
    config = transformers.ConvNextConfig(
        num_channels=C, patch_size=4, hidden_sizes=DIMS, depths=DEPTHS, num_labels=CLASSES, layer_norm_eps=1e-6,
        image_size=IMAGE,
    )
    hf = transformers.ConvNextForImageClassification(config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator))
    return hf


def copy_norm(norm, sd, prefix):
    assign(norm.scale, t(sd[prefix + ".weight"]))
    assign(norm.bias, t(sd[prefix + ".bias"]))


def copy_conv(conv, sd, prefix):
    assign(conv.kernel, t(sd[prefix + ".weight"]).transpose(2, 3, 1, 0))  # (out, in, kh, kw) -> (kh, kw, in, out)
    assign(conv.bias, t(sd[prefix + ".bias"]))


def copy_convnext(hf, model):
    sd = hf.state_dict()
    stem = model.get_layer("stem")
    copy_conv(stem.projection, sd, "convnext.embeddings.patch_embeddings")
    copy_norm(stem.norm_layer, sd, "convnext.embeddings.layernorm")
    for stage, depth in enumerate(DEPTHS):
        s = f"convnext.encoder.stages.{stage}."
        if stage > 0:
            down = model.get_layer(f"downsample_{stage}")
            copy_norm(down.norm_layer, sd, s + "downsampling_layer.0")
            copy_conv(down.projection, sd, s + "downsampling_layer.1")
        for i in range(depth):
            block, b = model.get_layer(f"stage_{stage}_block_{i}"), s + f"layers.{i}."
            # Depthwise: torch (c, 1, kh, kw) -> Keras (kh, kw, c, 1).
            assign(block.depthwise_conv.kernel, t(sd[b + "dwconv.weight"]).transpose(2, 3, 0, 1))
            assign(block.depthwise_conv.bias, t(sd[b + "dwconv.bias"]))
            copy_norm(block.norm_layer, sd, b + "layernorm")
            assign(block.pointwise.inner_proj.kernel, t(sd[b + "pwconv1.weight"]).T)
            assign(block.pointwise.inner_proj.bias, t(sd[b + "pwconv1.bias"]))
            assign(block.pointwise.output_proj.kernel, t(sd[b + "pwconv2.weight"]).T)
            assign(block.pointwise.output_proj.bias, t(sd[b + "pwconv2.bias"]))
            assign(block.layer_scale.gamma, t(sd[b + "layer_scale_parameter"]))
    copy_norm(model.get_layer("head_norm"), sd, "convnext.layernorm")
    assign(model.get_layer("logits").kernel, t(sd["classifier.weight"]).T)
    assign(model.get_layer("logits").bias, t(sd["classifier.bias"]))


def tiny_params(**overrides):
    params = dict(image_shape=[IMAGE, IMAGE, C], hidden_dims=DIMS, depths=DEPTHS, num_classes=CLASSES)
    params.update(overrides)
    return params


# ------------------------------------------------------------------ counts
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name):
    assert dlzoo.count_params(name) == PUBLISHED[name]


def test_counts_match_transformers_on_meta_device():
    for name, (dims, depths) in HF_SIZES.items():
        with torch.device("meta"):
            hf = transformers.ConvNextForImageClassification(
                transformers.ConvNextConfig(hidden_sizes=dims, depths=depths, num_labels=1000)
            )
        assert sum(p.numel() for p in hf.parameters()) == dlzoo.count_params(name), name


@pytest.mark.parametrize("params", [
    {},
    {"num_classes": 0, "use_layer_scale": False, "drop_path_rate": 0.2, "kernel_size": 3},
    {"hidden_dims": [8, 16], "depths": [0, 3], "patch_size": 2, "intermediate_ratio": 2, "image_shape": [12, 8, 1]},
    {"norm": {"type": "rms_norm", "epsilon": 1e-6}},
])
def test_count_params_equals_the_built_model(params):
    assert dlzoo.count_params("convnext-test-tiny", **params) == dlzoo.build("convnext-test-tiny", **params).count_params()


def test_parameter_count_by_hand():
    # Stem 4²·3·d0 + d0 + LN 2·d0; downsampling LN 2·d_{i-1} + 2²·d_{i-1}·d_i + d_i; block (c channels)
    # 7²c + c (depthwise) + 2c (LN) + 2·4c² + 4c + c (MLP) + c (LayerScale); head LN 2·d3 + linear d3·k + k.
    dims, depths, k = [96, 192, 384, 768], [3, 3, 9, 3], 1000
    total = 16 * 3 * dims[0] + dims[0] + 2 * dims[0]
    for i, (c, n) in enumerate(zip(dims, depths)):
        if i:
            total += 2 * dims[i - 1] + 4 * dims[i - 1] * c + c
        total += n * (49 * c + c + 2 * c + 8 * c * c + 4 * c + c + c)
    total += 2 * dims[-1] + dims[-1] * k + k
    assert total == PUBLISHED["convnext-tiny"]


# ---------------------------------------------------------- HF parity
def test_convnext_matches_transformers_convnext():
    hf = tiny_hf_convnext()
    model = dlzoo.build("convnext-test-tiny", **tiny_params())
    copy_convnext(hf, model)
    x = np.random.default_rng(0).standard_normal((2, IMAGE, IMAGE, C)).astype("float32")
    with torch.no_grad():
        expected = hf(torch.tensor(x.transpose(0, 3, 1, 2))).logits.numpy().astype("float64")
    got = to_numpy(model({"images": x}))
    assert np.abs(got - expected).max() <= 1e-4
    # A depthwise kernel flipped in space (convolution where PyTorch correlates) is caught.
    conv = model.get_layer("stage_0_block_0").depthwise_conv
    conv.kernel.assign(keras.ops.convert_to_numpy(conv.kernel)[::-1, ::-1].copy())
    assert np.abs(to_numpy(model({"images": x})) - expected).max() > 1e-2


# ------------------------------------------------- heads and features
def test_features_only_gives_the_stages_with_their_strides():
    model = dlzoo.build("convnext-test-tiny", extensions=["features_only"])
    out = model({"images": np.zeros((2, 32, 32, 3), "float32")})
    assert [tuple(out[f"stage_{i}"].shape) for i in range(4)] == [(2, 8, 8, 8), (2, 4, 4, 16), (2, 2, 2, 24), (2, 1, 1, 32)]
    assert model.feature_info == [
        {"name": f"stage_{i}", "channels": c, "stride": s} for i, (c, s) in enumerate(zip([8, 16, 24, 32], [4, 8, 16, 32]))
    ]


def test_backbone_only_and_heads():
    backbone = dlzoo.build("convnext-test-tiny", num_classes=0)
    assert tuple(backbone.output.shape) == (None, 32)
    assert "logits" not in [layer.name for layer in backbone.layers]
    headed = dlzoo.build("convnext-test-tiny", num_classes=0, extensions=[{"name": "classification_head", "num_classes": 3}])
    assert tuple(headed.output.shape) == (None, 3)
    assert headed.count_params() == dlzoo.count_params("convnext-test-tiny", num_classes=3)


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("params, fragments", [
    ({"depths": [1, 1, 1]}, ["hidden_dims", "depths", "same length", "depths=[1, 1, 1]"]),
    ({"hidden_dims": [8, 0, 24, 32]}, ["hidden_dims[1]", "0"]),
    ({"depths": [1, -1, 1, 1]}, ["depths[1]", "-1"]),
    ({"image_shape": [48, 40, 3]}, ["image_shape=[48, 40, 3]", "patch_size", "32"]),
    ({"kernel_size": 4}, ["kernel_size", "4"]),
    ({"num_classes": -1}, ["num_classes", "-1"]),
    ({"norm": {"type": "layer_nrom"}}, ["norm.type", "layer_nrom"]),
    ({"norm": {"type": "ada_ln_zero"}}, ["norm.type", "'layer_norm', 'rms_norm'", "ada_ln_zero"]),
    ({"norm": {"use_bias": False}}, ["norm.type", "norm.epsilon", "'use_bias': False"]),
])
def test_bad_parameters_are_named_before_allocation(params, fragments):
    with pytest.raises(ValueError) as info:
        dlzoo.count_params("convnext-test-tiny", **params)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
