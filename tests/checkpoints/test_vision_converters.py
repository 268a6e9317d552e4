"""Image-classifier checkpoints (ViT, ResNet, ConvNeXt, EfficientNet) against `transformers` (float32, <= 1e-4).

Tiny `transformers` models with random weights (every parameter perturbed,
BatchNorm statistics measured on random images) are saved with `save_pretrained` once per
module, loaded with `dlzoo.build(path)` on the backend under test and
compared on the same images (inference mode); loaded and written back, each
checkpoint is bit-identical and `transformers` gives the same outputs again.
A plausible mistake (a kernel's spatial axes swapped, Keras' BatchNorm
epsilon) moves the outputs above the tolerance (5x for the epsilon, 100x for
the kernels).
"""

import os

import numpy as np
import pytest

import keras

import dlzoo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors")

C, IMAGE, CLASSES = 3, 32, 5
TOLERANCE = 1e-4

MODELS = {
    "vit": lambda: transformers.ViTForImageClassification(transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48, image_size=IMAGE,
        patch_size=8, num_channels=C, num_labels=CLASSES, layer_norm_eps=1e-6)),
    "vit-base-model": lambda: transformers.ViTModel(transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48, image_size=IMAGE,
        patch_size=8, num_channels=C, hidden_act="gelu_new")),
    "convnext": lambda: transformers.ConvNextForImageClassification(transformers.ConvNextConfig(
        num_channels=C, hidden_sizes=[8, 16, 24], depths=[1, 2, 1], num_stages=3, layer_norm_eps=1e-6,
        image_size=IMAGE, num_labels=CLASSES)),
    "resnet-basic": lambda: transformers.ResNetForImageClassification(transformers.ResNetConfig(
        num_channels=C, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 2], layer_type="basic",
        num_labels=CLASSES)),
    "resnet-bottleneck": lambda: transformers.ResNetModel(transformers.ResNetConfig(
        num_channels=C, embedding_size=8, hidden_sizes=[16, 32], depths=[2, 1], layer_type="bottleneck")),
    "efficientnet": lambda: transformers.EfficientNetForImageClassification(transformers.EfficientNetConfig(
        num_channels=C, image_size=IMAGE, width_coefficient=0.5, depth_coefficient=1.5, in_channels=[32, 16, 24],
        out_channels=[16, 24, 40], kernel_sizes=[3, 5, 3], strides=[1, 2, 2], num_block_repeats=[1, 2, 1],
        expand_ratios=[1, 6, 4], hidden_dim=640, num_labels=CLASSES, batch_norm_eps=1e-3)),
}


def perturb(model, seed):
    """Every parameter moved off its init; BatchNorm statistics measured on random images.

    Random running statistics would not fit the activations: each BatchNorm would output nearly a
    constant, and whole blocks could be wrong unseen. Measured ones (a cumulative average over one
    batch in training mode) keep every layer's output sensitive to its weights.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator))
        norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
        model.train()
        model(torch.tensor(np.random.default_rng(seed).standard_normal((8, C, IMAGE, IMAGE)).astype("float32")))
        for norm in norms:
            norm.momentum = 0.1
    return model.eval()


def images(seed=0):
    return np.random.default_rng(seed).standard_normal((2, C, IMAGE, IMAGE)).astype("float32")


def hf_output(hf, x):
    """Logits, or for a base model the pooled features dlzoo outputs (ViT: the final class token)."""
    with torch.no_grad():
        out = hf(torch.tensor(x))
    if hasattr(out, "logits"):
        return out.logits.numpy()
    if isinstance(hf, transformers.ViTModel):
        return out.last_hidden_state[:, 0].numpy()
    return out.pooler_output.numpy().reshape(len(x), -1)


def dlzoo_output(model, x):
    return keras.ops.convert_to_numpy(model({"images": x.transpose(0, 2, 3, 1)}, training=False))


def build(directory):
    return dlzoo.build(directory, image_shape=[IMAGE, IMAGE, C])


def make_checkpoints(mktemp):
    """`{name: (directory, reference model)}`; `mktemp(name)` gives a new directory (`tools/checkpoint_parity.py`)."""
    made = {}
    for index, (name, factory) in enumerate(MODELS.items()):
        torch.manual_seed(index)
        hf = perturb(factory(), index)
        directory = mktemp(name)
        hf.save_pretrained(directory)
        made[name] = (str(directory), hf)
    return made


def max_difference(directory, hf):
    x = images()
    return float(np.abs(dlzoo_output(build(directory), x) - hf_output(hf, x)).max())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return make_checkpoints(tmp_path_factory.mktemp)


def read_tensors(directory):
    with safetensors.safe_open(os.path.join(directory, "model.safetensors"), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_transformers(checkpoints, name):
    directory, hf = checkpoints[name]
    model = build(directory)
    assert np.abs(hf_output(hf, images())).max() > 0.1
    assert max_difference(directory, hf) <= TOLERANCE
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(p.numel() for p in hf.parameters()) - (
        sum(p.numel() for n, p in hf.named_parameters() if n.startswith("pooler.")))


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_is_bit_identical(checkpoints, name, tmp_path):
    directory, hf = checkpoints[name]
    model = build(directory)
    written = model.save_pretrained(tmp_path / name)
    original, again = read_tensors(directory), read_tensors(written)
    assert set(original) - set(again) == set(model.checkpoint_report["ignored"])
    for key, tensor in again.items():
        assert torch.equal(tensor, original[key]), key
    reloaded = type(hf).from_pretrained(written).eval()
    x = images(1)
    np.testing.assert_array_equal(hf_output(reloaded, x), hf_output(hf, x))


def test_what_is_ignored(checkpoints):
    report = build(checkpoints["vit-base-model"][0]).checkpoint_report
    assert set(report["ignored"]) == {"pooler.dense.weight", "pooler.dense.bias"}
    report = build(checkpoints["resnet-basic"][0]).checkpoint_report
    assert report["ignored"] and all(k.endswith("num_batches_tracked") for k in report["ignored"])
    config = dlzoo.describe(checkpoints["efficientnet"][0])["params"]
    assert (config["width_multiplier"], config["depth_multiplier"], config["depths"]) == (0.5, 1.5, [1, 2, 1])


def test_mistakes_show(checkpoints):
    directory, hf = checkpoints["resnet-basic"]
    x = images()
    expected = hf_output(hf, x)
    wrong = dlzoo.build(directory, image_shape=[IMAGE, IMAGE, C], norm_epsilon=1e-3)  # Keras' BatchNorm default
    assert np.abs(dlzoo_output(wrong, x) - expected).max() > 5 * TOLERANCE
    for name in ("convnext", "vit"):
        directory, hf = checkpoints[name]
        model = build(directory)
        kernel = model.get_layer("stem" if name == "convnext" else "patch_embedding").projection.kernel
        value = keras.ops.convert_to_numpy(kernel)
        kernel.assign(value.transpose(1, 0, 2, 3))  # kh and kw swapped: a wrong kernel layout
        assert np.abs(dlzoo_output(model, x) - hf_output(hf, x)).max() > 100 * TOLERANCE, name
