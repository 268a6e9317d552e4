"""The `vit` family: published counts, Hugging Face `ViTForImageClassification` parity, features, errors.

The parity tests build `transformers` ViT at a tiny size with random weights,
perturb every weight (default inits hide mistakes: unit norm scales, zero
biases), copy them into the dlzoo model and compare the logits on the same
random images (float32, max abs diff <= 1e-4), at the position table's own
image size and at other sizes (the table resized bicubically, Hugging Face's
`interpolate_pos_encoding=True`). Each also shows that a plausible mistake
moves the logits far above the tolerance. Runs in every backend's suite:
dlzoo on the backend under test, the reference in PyTorch.
"""

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo.blocks.vision import patch_position_embedding

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# Published figures (1000-class heads). ViT-B/16 and ViT-L/16: Dosovitskiy et al., 2020
# (arXiv:2010.11929), Table 1 ("86M", "307M" without head); exact values are
# `ViTForImageClassification(ViTConfig(...)).num_parameters()` as for google/vit-base-patch16-224 and
# google/vit-large-patch16-224. ViT-Ti/16 and ViT-S/16 are DeiT-Ti/DeiT-S (Touvron et al., 2021,
# arXiv:2012.12877, Table 1: 5M / 22M); exact values as facebook/deit-{tiny,small}-patch16-224.
PUBLISHED = {
    "vit-tiny-16": 5_717_416,
    "vit-small-16": 22_050_664,
    "vit-base-16": 86_567_656,
    "vit-large-16": 304_326_632,
}
HF_SIZES = {  # hidden_size, num_hidden_layers, num_attention_heads, intermediate_size
    "vit-tiny-16": (192, 12, 3, 768),
    "vit-small-16": (384, 12, 6, 1536),
    "vit-base-16": (768, 12, 12, 3072),
    "vit-large-16": (1024, 24, 16, 4096),
}

D, L, H, F, P, C, CLASSES = 32, 2, 4, 48, 4, 3, 5
IMAGE = 16  # the position table's image size: a 4x4 patch grid


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def t(tensor):
    return tensor.detach().numpy().astype("float32")


def assign(variable, value):
    value = np.asarray(value, dtype="float32")
    assert tuple(variable.shape) == value.shape, (variable.path, tuple(variable.shape), value.shape)
    variable.assign(value)


def perturb_torch(module, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator))


def tiny_hf_vit():
    config = transformers.ViTConfig(
        hidden_size=D, num_hidden_layers=L, num_attention_heads=H, intermediate_size=F, image_size=IMAGE,
        patch_size=P, num_channels=C, num_labels=CLASSES, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    hf = transformers.ViTForImageClassification(config).eval()
    perturb_torch(hf)
    return hf


def tiny_params(**overrides):
    params = dict(
        image_shape=[IMAGE, IMAGE, C], patch_size=P, hidden_dim=D, num_layers=L, num_classes=CLASSES,
        attention={"num_heads": H}, feedforward={"intermediate_dim": F},
    )
    params.update(overrides)
    return params


def copy_vit(hf, model):
    """Hugging Face ViT weights into a dlzoo `vit` model (torch Linear is (out, in); Conv2d is (out, in, kh, kw))."""
    sd = hf.state_dict()
    e = "vit.embeddings."
    patches = model.get_layer("patch_embedding").projection
    assign(patches.kernel, t(sd[e + "patch_embeddings.projection.weight"]).transpose(2, 3, 1, 0))
    assign(patches.bias, t(sd[e + "patch_embeddings.projection.bias"]))
    assign(model.get_layer("class_token").token, t(sd[e + "cls_token"]).reshape(D))
    assign(model.get_layer("position_embedding").embeddings, t(sd[e + "position_embeddings"])[0])
    stack = model.get_layer("encoder")
    for i, layer in enumerate(stack.transformer_layers):
        p = f"vit.layers.{i}."
        att = layer.self_attention
        for dense, name in ((att.query_dense, "q_proj"), (att.key_dense, "k_proj"), (att.value_dense, "v_proj")):
            assign(dense.kernel, t(sd[p + f"attention.{name}.weight"]).T.reshape(D, H, D // H))
            assign(dense.bias, t(sd[p + f"attention.{name}.bias"]).reshape(H, D // H))
        assign(att.output_dense.kernel, t(sd[p + "attention.o_proj.weight"]).T.reshape(H, D // H, D))
        assign(att.output_dense.bias, t(sd[p + "attention.o_proj.bias"]))
        for norm, name in ((layer.self_attention_norm, "layernorm_before"), (layer.feedforward_norm, "layernorm_after")):
            assign(norm.scale, t(sd[p + name + ".weight"]))
            assign(norm.bias, t(sd[p + name + ".bias"]))
        ff = layer.feedforward_block
        assign(ff.inner_proj.kernel, t(sd[p + "mlp.fc1.weight"]).T)
        assign(ff.inner_proj.bias, t(sd[p + "mlp.fc1.bias"]))
        assign(ff.output_proj.kernel, t(sd[p + "mlp.fc2.weight"]).T)
        assign(ff.output_proj.bias, t(sd[p + "mlp.fc2.bias"]))
    assign(stack.final_norm.scale, t(sd["vit.layernorm.weight"]))
    assign(stack.final_norm.bias, t(sd["vit.layernorm.bias"]))
    assign(model.get_layer("logits").kernel, t(sd["classifier.weight"]).T)
    assign(model.get_layer("logits").bias, t(sd["classifier.bias"]))


def images(height, width, seed=0):
    return np.random.default_rng(seed).standard_normal((2, height, width, C)).astype("float32")


def hf_logits(hf, x, interpolate):
    with torch.no_grad():
        pixels = torch.tensor(x.transpose(0, 3, 1, 2))
        return hf(pixels, interpolate_pos_encoding=interpolate).logits.numpy().astype("float64")


# ------------------------------------------------------------------ counts
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name):
    assert dlzoo.count_params(name) == PUBLISHED[name]


def test_counts_match_transformers_on_meta_device():
    for name, (hidden, layers, heads, inner) in HF_SIZES.items():
        with torch.device("meta"):
            hf = transformers.ViTForImageClassification(transformers.ViTConfig(
                hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=inner,
                num_labels=1000,
            ))
        assert sum(p.numel() for p in hf.parameters()) == dlzoo.count_params(name), name


@pytest.mark.parametrize("params", [
    {},
    {"pooling": "mean", "num_classes": 0},
    {"position_grid_size": [2, 3], "image_shape": [24, 16, 3], "dropout": 0.1, "drop_path_rate": 0.1},
    {"norm": {"type": "rms_norm"}, "feedforward": {"type": "swiglu"}},
])
def test_count_params_equals_the_built_model(params):
    assert dlzoo.count_params("vit-test-tiny", **params) == dlzoo.build("vit-test-tiny", **params).count_params()


def test_parameter_count_by_hand():
    # Patch conv p²·c·d + d, class token d, positions (1 + N)·d, per layer 4(d² + d) + 2df + f + d + 4d,
    # final norm 2d, head d·k + k (Dosovitskiy et al., 2020, eq. 1-4).
    d, f, n, p, c, k, layers = 768, 3072, 196, 16, 3, 1000, 12
    layer = 4 * (d * d + d) + 2 * d * f + f + d + 4 * d
    expected = p * p * c * d + d + d + (1 + n) * d + layers * layer + 2 * d + d * k + k
    assert expected == PUBLISHED["vit-base-16"]


# ---------------------------------------------------------- HF parity
def test_vit_matches_transformers_vit():
    hf = tiny_hf_vit()
    model = dlzoo.build("vit-test-tiny", **tiny_params())
    copy_vit(hf, model)
    x = images(IMAGE, IMAGE)
    expected = hf_logits(hf, x, interpolate=False)
    got = to_numpy(model({"images": x}))
    assert np.abs(got - expected).max() <= 1e-4
    # A patch kernel with height and width swapped (torch (kh, kw) read as (kw, kh)) is caught.
    patches = model.get_layer("patch_embedding").projection
    patches.kernel.assign(keras.ops.convert_to_numpy(patches.kernel).transpose(1, 0, 2, 3))
    assert np.abs(to_numpy(model({"images": x})) - expected).max() > 1e-2


@pytest.mark.parametrize("height, width", [(28, 28), (8, 12), (24, 20)])
def test_vit_with_another_image_size_matches_interpolate_pos_encoding(height, width):
    # The table stays 1 + 4x4 rows (position_grid_size); the image's grid is 7x7, 2x3 or 6x5 patches.
    hf = tiny_hf_vit()
    model = dlzoo.build("vit-test-tiny", **tiny_params(image_shape=[height, width, C], position_grid_size=IMAGE // P))
    copy_vit(hf, model)
    x = images(height, width, seed=1)
    expected = hf_logits(hf, x, interpolate=True)
    got = to_numpy(model({"images": x}))
    assert np.abs(got - expected).max() <= 1e-4


def test_interpolation_with_keys_a_minus_half_is_caught(monkeypatch):
    # TensorFlow's and JAX's bicubic kernels (a = -0.5) give other positions: the comparison sees it.
    hf = tiny_hf_vit()
    model = dlzoo.build("vit-test-tiny", **tiny_params(image_shape=[28, 28, C], position_grid_size=IMAGE // P))
    copy_vit(hf, model)
    x = images(28, 28, seed=1)
    expected = hf_logits(hf, x, interpolate=True)
    right = patch_position_embedding.bicubic_resize_matrix

    def with_a_minus_half(in_size, out_size):
        source = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
        left = np.floor(source)
        matrix = np.zeros((out_size, in_size))
        for tap in range(-1, 3):
            weight = patch_position_embedding._keys_cubic(source - left - tap, a=-0.5)
            np.add.at(matrix, (np.arange(out_size), np.clip(left + tap, 0, in_size - 1).astype(int)), weight)
        return matrix

    assert np.abs(with_a_minus_half(4, 7) - right(4, 7)).max() > 1e-2
    monkeypatch.setattr(patch_position_embedding, "bicubic_resize_matrix", with_a_minus_half)
    assert np.abs(to_numpy(model({"images": x})) - expected).max() > 1e-3


# ------------------------------------------------- heads, pooling, features
def test_backbone_only_and_heads():
    backbone = dlzoo.build("vit-test-tiny", num_classes=0)
    assert tuple(backbone.output.shape) == (None, 32)
    assert backbone.get_layer("pooled_output") is not None and "logits" not in [layer.name for layer in backbone.layers]
    headed = dlzoo.build("vit-test-tiny", num_classes=0, extensions=[{"name": "classification_head", "num_classes": 3}])
    assert tuple(headed.output.shape) == (None, 3)
    assert headed.count_params() == dlzoo.count_params("vit-test-tiny", num_classes=3)


def test_mean_pooling_has_no_class_token_and_averages_the_patches():
    model = dlzoo.build("vit-test-tiny", pooling="mean", num_classes=0)
    names = [layer.name for layer in model.layers]
    assert "class_token" not in names
    assert model.get_layer("position_embedding").embeddings.shape == (16, 32)  # 4x4 patches, no class row
    x = images(32, 32)
    sequence = dlzoo.build("vit-test-tiny", pooling="mean", extensions=[{"name": "features_only", "layers": "sequence_output"}])
    sequence.set_weights(model.get_weights())
    np.testing.assert_allclose(
        to_numpy(model({"images": x})), to_numpy(sequence({"images": x})["sequence_output"]).mean(axis=1), atol=1e-5
    )


def test_features_only_gives_each_layer():
    model = dlzoo.build("vit-test-tiny", extensions=["features_only"])
    out = model({"images": images(32, 32)})
    assert sorted(out) == ["transformer_layer_0", "transformer_layer_1"]
    assert tuple(out["transformer_layer_1"].shape) == (2, 17, 32)  # class token + 4x4 patches


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("params, fragments", [
    ({"image_shape": [30, 32, 3]}, ["patch_size", "image_shape=[30, 32, 3]", "multiples"]),
    ({"image_shape": [32, 32]}, ["image_shape", "[height, width, channels]"]),
    ({"patch_size": 0}, ["patch_size", "0"]),
    ({"pooling": "max"}, ["pooling", "'cls', 'mean'", "'max'"]),
    ({"position_grid_size": [4, 0]}, ["position_grid_size", "[4, 0]"]),
    ({"num_classes": -1}, ["num_classes", "-1"]),
    ({"attention": {"num_heads": 3}}, ["num_heads", "hidden_dim"]),
    ({"norm": {"type": "layer_nrom"}}, ["norm.type", "layer_nrom"]),
    ({"norm": {"type": "ada_ln_zero"}}, ["norm.type", "'layer_norm', 'rms_norm'", "ada_ln_zero"]),
])
def test_bad_parameters_are_named_before_allocation(params, fragments):
    with pytest.raises(ValueError) as info:
        dlzoo.count_params("vit-test-tiny", **params)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    with pytest.raises(ValueError):
        dlzoo.build("vit-test-tiny", **params)
