"""The `resnet` family: published counts, Hugging Face `ResNetForImageClassification` parity, features, errors.

The parity test builds `transformers` ResNet (basic and bottleneck) at a tiny
size with random weights, re-draws every weight (He-scaled convolutions, and
random batch-norm scales, shifts, running means and positive running
variances: the defaults 1/0/0/1 would hide a wrong epsilon or a missing
statistic), copies them into the dlzoo model (NCHW -> NHWC: images and
kernels transposed) and compares the logits and each stage's feature map on
the same random images in inference mode (float32, max abs diff <= 1e-4). It
also shows that a plausible mistake (Keras' default BatchNorm epsilon 1e-3
instead of PyTorch's 1e-5) moves the logits above the tolerance. Runs in
every backend's suite: dlzoo on the backend under test, the reference in
PyTorch.
"""

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo import builder

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# Published figures (1000-class heads), as PyTorch counts them (`sum(p.numel() for p in model.parameters())`,
# BatchNorm running statistics are buffers, not parameters), i.e. `dlzoo.count_params(name, trainable_only=True)`:
# torchvision's weight metadata `ResNet{18,34,50,101}_Weights.IMAGENET1K_V1.meta["num_params"]`
# (docs.pytorch.org/vision/stable/models), equal to Hugging Face `ResNetForImageClassification` for
# microsoft/resnet-{18,34,50,101} (checked on the meta device below). He et al., 2016 (arXiv:1512.03385), table 1, gives the architectures.
PUBLISHED = {
    "resnet-18": 11_689_512,
    "resnet-34": 21_797_672,
    "resnet-50": 25_557_032,
    "resnet-101": 44_549_160,
}
HF_SIZES = {  # layer_type, depths, hidden_sizes
    "resnet-18": ("basic", [2, 2, 2, 2], [64, 128, 256, 512]),
    "resnet-34": ("basic", [3, 4, 6, 3], [64, 128, 256, 512]),
    "resnet-50": ("bottleneck", [3, 4, 6, 3], [256, 512, 1024, 2048]),
    "resnet-101": ("bottleneck", [3, 4, 23, 3], [256, 512, 1024, 2048]),
}


def batch_norm_channels(layer_type, depths, widths, stem=64):
    """Channels of every BatchNorm of a ResNet (each keeps a moving mean and a moving variance in Keras)."""
    total, channels = stem, stem
    for stage, (depth, width) in enumerate(zip(depths, widths)):
        per_block = 2 * width if layer_type == "basic" else 2 * (width // 4) + width
        total += depth * per_block
        if stage > 0 or channels != width:  # the first block's projection shortcut
            total += width
        channels = width
    return total


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name):
    assert dlzoo.count_params(name, trainable_only=True) == PUBLISHED[name]
    # Keras also counts the BatchNorm moving mean and variance as (non-trainable) weights; PyTorch does not.
    statistics = 2 * batch_norm_channels(*HF_SIZES[name])
    assert dlzoo.count_params(name) == PUBLISHED[name] + statistics
    if name == "resnet-50":
        assert statistics == 53_120  # keras.applications.ResNet50: "Non-trainable params: 53,120"


def test_matches_transformers_on_meta_device():
    def counts(model):
        statistics = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
        return sum(p.numel() for p in model.parameters()), statistics

    for name, (layer_type, depths, sizes) in HF_SIZES.items():
        with torch.device("meta"):
            hf = transformers.ResNetForImageClassification(
                transformers.ResNetConfig(layer_type=layer_type, depths=depths, hidden_sizes=sizes, num_labels=1000)
            )
        parameters, statistics = counts(hf)
        assert parameters == PUBLISHED[name] == dlzoo.count_params(name, trainable_only=True), name
        assert dlzoo.count_params(name) == parameters + statistics, name


# ------------------------------------------------------------------ parity
C, CLASSES, IMAGE, STEM = 3, 5, 32, 8
TINY = {  # layer_type -> (depths, hidden_sizes)
    "basic": ([1, 2, 1], [8, 16, 24]),
    "bottleneck": ([2, 1, 1], [16, 32, 48]),
}


def t(tensor):
    return tensor.detach().numpy().astype("float32")


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def assign(variable, value):
    value = np.asarray(value, dtype="float32")
    assert tuple(variable.shape) == value.shape, (variable.path, tuple(variable.shape), value.shape)
    variable.assign(value)


def redraw_torch_weights(model, seed=0):
    """Random weights and batch-norm statistics everywhere (defaults hide mistakes)."""
    generator = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return std * torch.randn(shape, generator=generator)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(normal(module.weight.shape, (2.0 / fan_in) ** 0.5))
                if module.bias is not None:
                    module.bias.copy_(normal(module.bias.shape, 0.2))
            elif isinstance(module, torch.nn.Linear):
                module.weight.copy_(normal(module.weight.shape, module.in_features ** -0.5))
                module.bias.copy_(normal(module.bias.shape, 0.2))
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(normal(module.bias.shape, 0.2))
                module.running_mean.copy_(normal(module.running_mean.shape, 0.2))
                module.running_var.copy_(uniform(module.running_var.shape, 0.5, 2.0))


def copy_conv_norm(layer, conv, norm):
    """A torch Conv2d + BatchNorm2d into a dlzoo `ConvNormAct` (kernels (out, in, kh, kw) -> (kh, kw, in, out))."""
    kernel = t(conv.weight)
    if conv.groups > 1 and conv.groups == conv.in_channels:  # depthwise: (c * m, 1, kh, kw) -> (kh, kw, c, m)
        kernel = kernel.reshape(conv.in_channels, -1, *kernel.shape[2:]).transpose(2, 3, 0, 1)
    else:
        kernel = kernel.transpose(2, 3, 1, 0)
    assign(layer.conv.kernel, kernel)
    if conv.bias is not None:
        assign(layer.conv.bias, t(conv.bias))
    for name, value in (("gamma", norm.weight), ("beta", norm.bias), ("moving_mean", norm.running_mean),
                        ("moving_variance", norm.running_var)):
        assign(getattr(layer.norm_layer, name), t(value))


def copy_dense(dense, linear):
    assign(dense.kernel, t(linear.weight).T)
    assign(dense.bias, t(linear.bias))


def copy_resnet(hf, model):
    stem = hf.resnet.embedder.embedder
    copy_conv_norm(model.get_layer("stem"), stem.convolution, stem.normalization)
    for s, stage in enumerate(hf.resnet.encoder.stages):
        for i, hf_block in enumerate(stage.layers):
            block = model.get_layer(f"stage_{s}_block_{i}")
            assert len(block.branch) == len(hf_block.layer)
            for layer, hf_layer in zip(block.branch, hf_block.layer):
                copy_conv_norm(layer, hf_layer.convolution, hf_layer.normalization)
            has_projection = not isinstance(hf_block.shortcut, torch.nn.Identity)
            assert (block.shortcut is not None) == has_projection, block.name
            if has_projection:
                copy_conv_norm(block.shortcut, hf_block.shortcut.convolution, hf_block.shortcut.normalization)
    if any(layer.name == "logits" for layer in model.layers):
        copy_dense(model.get_layer("logits"), hf.classifier[1])


def tiny_pair(layer_type, **overrides):
    depths, sizes = TINY[layer_type]
    config = transformers.ResNetConfig(
        num_channels=C, embedding_size=STEM, hidden_sizes=sizes, depths=depths, layer_type=layer_type,
        num_labels=CLASSES, hidden_act="relu", downsample_in_first_stage=False, downsample_in_bottleneck=False,
    )
    hf = transformers.ResNetForImageClassification(config).eval()
    redraw_torch_weights(hf)
    params = dict(image_shape=[IMAGE, IMAGE, C], num_classes=CLASSES, block_type=layer_type, depths=depths,
                  hidden_dims=sizes, stem_dim=STEM)
    params.update(overrides)
    return hf, params


def images(seed=0):
    return np.random.default_rng(seed).standard_normal((2, C, IMAGE, IMAGE)).astype("float32")


@pytest.mark.parametrize("layer_type", ["basic", "bottleneck"])
def test_matches_transformers_resnet(layer_type):
    hf, params = tiny_pair(layer_type)
    model = dlzoo.build("resnet-tiny", **params)
    copy_resnet(hf, model)
    x = images()
    with torch.no_grad():
        out = hf(torch.tensor(x), output_hidden_states=True)
    nhwc = x.transpose(0, 2, 3, 1)
    logits = to_numpy(model({"images": nhwc}, training=False))
    expected = out.logits.numpy()
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zero numbers
    diff = np.abs(logits - expected).max()
    print(f"{layer_type}: logits max abs diff {diff:.2e} on {keras.backend.backend()}")
    assert diff <= 1e-4

    # Every stage's feature map (hidden_states[s + 1]), through the features_only extension.
    features = dlzoo.build("resnet-tiny", extensions=["features_only"], **params)
    copy_resnet(hf, features)
    got = features({"images": nhwc}, training=False)
    assert sorted(got) == [f"stage_{s}" for s in range(len(params["depths"]))]
    for s in range(len(params["depths"])):
        reference = out.hidden_states[s + 1].numpy().transpose(0, 2, 3, 1)
        assert np.abs(to_numpy(got[f"stage_{s}"]) - reference).max() <= 1e-4, s
    assert [f["stride"] for f in features.feature_info] == [4, 8, 16]
    assert [f["channels"] for f in features.feature_info] == params["hidden_dims"]

    # A plausible mistake, Keras' default BatchNorm epsilon (1e-3 instead of PyTorch's 1e-5), is caught.
    wrong = dlzoo.build("resnet-tiny", norm_epsilon=1e-3, **params)
    copy_resnet(hf, wrong)
    assert np.abs(to_numpy(wrong({"images": nhwc}, training=False)) - expected).max() > 1e-4


def test_trainable_weights_are_the_pytorch_parameters():
    hf, params = tiny_pair("bottleneck")
    model = dlzoo.build("resnet-tiny", **params)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(p.numel() for p in hf.parameters())
    assert trainable == dlzoo.count_params("resnet-tiny", trainable_only=True, **params)


# ---------------------------------------------------------- heads, features
def test_backbone_heads_and_features():
    x = {"images": np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")}
    backbone = dlzoo.build("resnet-tiny", num_classes=0)
    assert tuple(backbone(x).shape) == (2, 16)
    assert dlzoo.count_params("resnet-tiny", num_classes=0) == backbone.count_params()
    assert dlzoo.count_params("resnet-tiny") - backbone.count_params() == 16 * 10 + 10
    headed = dlzoo.build("resnet-tiny", extensions=[{"name": "classification_head", "num_classes": 3}])
    assert tuple(headed(x).shape) == (2, 3)
    last = dlzoo.build("resnet-tiny", extensions=[{"name": "features_only", "layers": [-1]}])
    assert tuple(last(x)["stage_1"].shape) == (2, 4, 4, 16)


def test_memory_estimate_grows_with_the_batch():
    small = dlzoo.estimate_memory("resnet-50", batch_size=1)["bytes"]["activations"]
    assert dlzoo.estimate_memory("resnet-50", batch_size=8)["bytes"]["activations"] == 8 * small


def test_count_params_without_building():
    for params in ({"block_type": "bottleneck", "hidden_dims": [16, 32], "drop_path_rate": 0.1, "dropout": 0.2},
                   {"norm": "layer_norm", "norm_epsilon": 1e-6, "depths": [2, 1], "use_zero_init_residual": False},
                   {"use_zero_init_residual": True, "activation": "silu", "image_shape": [24, 40, 1]}):
        assert dlzoo.count_params("resnet-tiny", **params) == dlzoo.build("resnet-tiny", **params).count_params()


def test_invalid_parameters_are_named_before_allocation():
    cases = [
        ({"depths": [1, 1, 1]}, "depths"),
        ({"depths": [1, 0]}, "depths[1]"),
        ({"hidden_dims": [8, -16]}, "hidden_dims[1]"),
        ({"block_type": "basicc"}, "block_type"),
        ({"norm": "batchnorm"}, "norm"),
        ({"image_shape": [32, 32]}, "image_shape"),
        ({"num_classes": -1}, "num_classes"),
        ({"drop_path_rate": 1.5}, "drop_path_rate"),
        ({"dropout": -0.1}, "dropout"),
        ({"stem_dim": 0}, "stem_dim"),
        ({"norm": "layer_norm", "use_zero_init_residual": True}, "use_zero_init_residual"),
    ]
    for params, name in cases:
        with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")) as info:
            dlzoo.count_params("resnet-tiny", **params)  # counting allocates nothing
        assert "Received" in str(info.value), str(info.value)
    with pytest.raises(ValueError, match="block_type"):
        builder.resolve("resnet-tiny", block_type="wide")
