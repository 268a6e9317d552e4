"""The `dit` family: counts, bad arguments, and the same function as diffusers' `DiTTransformer2DModel`.

The reference is diffusers' DiT (PyTorch) built from code at a tiny size. Every dlzoo weight is perturbed
first (the AdaLN-Zero modulators and the final layer start at zero, which would hide every mistake behind
them), then copied into diffusers. diffusers gives every block its own copy of the timestep + class
embedding (`AdaLayerNormZero` -> `CombinedTimestepLabelEmbeddings`) where the reference code shares one, so
dlzoo's shared embedding is copied into each block. Runs in every backend's suite: dlzoo on the backend
under test, diffusers in torch.
"""

import os
import shutil
import tempfile

import numpy as np
import pytest

import keras

import dlzoo
import dlzoo.dit
from dlzoo.testing import TestCase

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

# Tiny DiT: 8x8x2 latents, 2x2 patches (16 tokens), width 32, 4 heads, 2 layers, 5 classes, learned sigma.
SIZE, CHANNELS, PATCH, D, HEADS, LAYERS, CLASSES = 8, 2, 2, 32, 4, 2, 5


def _params(**overrides):
    params = dict(
        image_shape=[SIZE, SIZE, CHANNELS], num_classes=CLASSES, patch_size=PATCH, hidden_dim=D,
        num_layers=LAYERS, attention={"num_heads": HEADS}, feedforward={"intermediate_dim": 4 * D},
        timestep={"frequency_shift": 1.0},
    )
    params.update(overrides)
    return params


def _perturbed_dlzoo(**overrides):
    keras.utils.set_random_seed(0)
    model = dlzoo.build("dit", **_params(**overrides))
    rng = np.random.default_rng(0)
    for w in model.weights:
        value = keras.ops.convert_to_numpy(w)
        w.assign((value + 0.2 * rng.standard_normal(value.shape)).astype("float32"))
    return model


def _diffusers_dit():
    return diffusers.DiTTransformer2DModel(
        num_attention_heads=HEADS, attention_head_dim=D // HEADS, in_channels=CHANNELS, out_channels=2 * CHANNELS,
        num_layers=LAYERS, sample_size=SIZE, patch_size=PATCH, num_embeds_ada_norm=CLASSES, norm_eps=1e-6,
    ).eval()


def _np(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype="float32")


def _set(parameter, value):
    value = torch.from_numpy(np.ascontiguousarray(value, dtype="float32"))
    assert tuple(parameter.shape) == tuple(value.shape), (tuple(parameter.shape), tuple(value.shape))
    with torch.no_grad():
        parameter.copy_(value)


def _linear(torch_linear, keras_dense):
    _set(torch_linear.weight, _np(keras_dense.kernel).T)
    _set(torch_linear.bias, _np(keras_dense.bias))


def copy_to_diffusers(model, reference, swap_modulation=False):
    """dlzoo -> diffusers. `swap_modulation` plants a plausible mistake (attention and MLP groups swapped)."""
    patch = model.get_layer("patch_embedding").projection
    _set(reference.pos_embed.proj.weight, _np(patch.kernel).transpose(3, 2, 0, 1))
    _set(reference.pos_embed.proj.bias, _np(patch.bias))
    timestep = model.get_layer("timestep_embedding")
    table = _np(model.get_layer("class_embedding").embeddings)
    layers = model.get_layer("transformer").transformer_layers
    for block, layer in zip(reference.transformer_blocks, layers):
        emb = block.norm1.emb  # the shared embedding, copied into every diffusers block
        _linear(emb.timestep_embedder.linear_1, timestep.dense_1)
        _linear(emb.timestep_embedder.linear_2, timestep.dense_2)
        _set(emb.class_embedder.embedding_table.weight, table)
        kernel = _np(layer.adaptive_modulation.modulation.kernel)
        bias = _np(layer.adaptive_modulation.modulation.bias)
        if swap_modulation:
            kernel = np.concatenate([kernel[:, 3 * D:], kernel[:, :3 * D]], axis=1)
            bias = np.concatenate([bias[3 * D:], bias[:3 * D]])
        _set(block.norm1.linear.weight, kernel.T)
        _set(block.norm1.linear.bias, bias)
        attention = layer.self_attention
        for dense, target in ((attention.query_dense, block.attn1.to_q), (attention.key_dense, block.attn1.to_k),
                              (attention.value_dense, block.attn1.to_v)):
            _set(target.weight, _np(dense.kernel).reshape(D, D).T)
            _set(target.bias, _np(dense.bias).reshape(D))
        _set(block.attn1.to_out[0].weight, _np(attention.output_dense.kernel).reshape(D, D).T)
        _set(block.attn1.to_out[0].bias, _np(attention.output_dense.bias))
        _linear(block.ff.net[0].proj, layer.feedforward_block.inner_proj)
        _linear(block.ff.net[2], layer.feedforward_block.output_proj)
    final = model.get_layer("final_layer")
    _linear(reference.proj_out_1, final.modulation.modulation)
    _linear(reference.proj_out_2, final.output_proj)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    latents = rng.standard_normal((3, SIZE, SIZE, CHANNELS)).astype("float32")
    timesteps = np.array([0, 417, 999], "int32")
    labels = np.array([0, 4, CLASSES], "int32")  # CLASSES = the null class
    return latents, timesteps, labels


def _dlzoo_output(model, latents, timesteps, labels):
    out = model({"latents": latents, "timesteps": timesteps, "class_labels": labels})
    return np.concatenate([_np(out["noise"]), _np(out["variance_interpolation"])], axis=-1)


def _diffusers_output(reference, latents, timesteps, labels):
    with torch.no_grad():
        out = reference(
            torch.from_numpy(latents.transpose(0, 3, 1, 2)),
            timestep=torch.from_numpy(timesteps.astype("int64")),
            class_labels=torch.from_numpy(labels.astype("int64")),
        ).sample
    return out.numpy().transpose(0, 2, 3, 1)


class DiTReferenceTest(TestCase):
    def test_same_function_as_diffusers(self):
        model = _perturbed_dlzoo()
        reference = _diffusers_dit()
        copy_to_diffusers(model, reference)
        inputs = _inputs()
        ours, theirs = _dlzoo_output(model, *inputs), _diffusers_output(reference, *inputs)
        diff = float(np.max(np.abs(ours - theirs)))
        print(f"dit vs diffusers DiTTransformer2DModel ({keras.backend.backend()}): max abs diff {diff:.3g}")
        self.assertLess(diff, 1e-4)
        self.assertGreater(float(np.max(np.abs(theirs))), 1.0)  # a non-trivial output

        # The comparison can fail: swapped modulation groups move the output far above the tolerance.
        wrong = _diffusers_dit()
        copy_to_diffusers(model, wrong, swap_modulation=True)
        self.assertGreater(float(np.max(np.abs(ours - _diffusers_output(wrong, *inputs)))), 1e-2)

    def test_timestep_frequencies_differ_from_diffusers_by_default(self):
        # The reference DiT divides the frequency exponent by `half`; diffusers by `half - 1`
        # (`downscale_freq_shift=1`). dlzoo follows the reference unless `timestep.frequency_shift=1`.
        model = _perturbed_dlzoo(timestep={"frequency_shift": 0.0})
        reference = _diffusers_dit()
        copy_to_diffusers(model, reference)
        inputs = _inputs()
        self.assertGreater(float(np.max(np.abs(_dlzoo_output(model, *inputs) - _diffusers_output(reference, *inputs)))), 1e-2)


# Parameter counts. diffusers' DiTTransformer2DModel on the meta device, minus the per-block copies of the
# timestep + class embedding (every block holds one; the reference code shares one), gives the reference
# code's trainable count; the reference code's `sum(p.numel())` adds the fixed sin-cos table (256 x d).
SIZES = {"dit-s-2": (384, 12, 6), "dit-b-2": (768, 12, 12), "dit-l-2": (1024, 24, 16), "dit-xl-2": (1152, 28, 16)}


def _diffusers_count(hidden_dim, num_layers, heads):
    with torch.device("meta"):
        model = diffusers.DiTTransformer2DModel(
            num_attention_heads=heads, attention_head_dim=hidden_dim // heads, in_channels=4, out_channels=8,
            num_layers=num_layers, sample_size=32, patch_size=2, num_embeds_ada_norm=1000,
        )
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(SIZES))
def test_counts_match_the_reference_code(name):
    d, layers, heads = SIZES[name]
    embedding = (256 * d + d + d * d + d) + 1001 * d  # timestep MLP + class table with the null class
    trainable = _diffusers_count(d, layers, heads) - (layers - 1) * embedding
    assert dlzoo.count_params(name) == trainable
    table = 256 * d  # the fixed 16x16-patch sin-cos table, a frozen nn.Parameter in the reference code
    assert dlzoo.dit.reference_parameter_count(name) == trainable + table


def test_dit_xl_2_published_counts():
    # facebookresearch/DiT: "DiT Parameters: 675,129,632" for DiT-XL/2 (train.py logs sum(p.numel())), of which
    # 294,912 = 256 x 1152 are the frozen position table; the fact sheet's diffusers figure is 749,826,464.
    assert dlzoo.count_params("dit-xl-2") == 674_834_720
    assert dlzoo.dit.reference_parameter_count("dit-xl-2") == 675_129_632
    assert _diffusers_count(1152, 28, 16) == 749_826_464


class DiTFamilyTest(TestCase):
    def test_tiny_model(self):
        model = dlzoo.build("dit-tiny")
        self.assertEqual(model.count_params(), dlzoo.count_params("dit-tiny"))
        out = model({"latents": np.zeros((2, 16, 16, 1), "float32"), "timesteps": np.array([0, 999], "int32"),
                     "class_labels": np.array([3, 10], "int32")})
        self.assertEqual(tuple(out.shape), (2, 16, 16, 1))
        self.assertAllClose(out, np.zeros((2, 16, 16, 1)), atol=0)  # zero-initialised output layers

    def test_learned_sigma_outputs(self):
        model = dlzoo.build("dit-tiny", learn_sigma=True)
        out = model({"latents": np.zeros((2, 16, 16, 1), "float32"), "timesteps": np.array([0, 5], "int32"),
                     "class_labels": np.array([3, 10], "int32")})
        self.assertEqual(sorted(out), ["noise", "variance_interpolation"])
        self.assertEqual(tuple(out["variance_interpolation"].shape), (2, 16, 16, 1))

    def test_saved_model_with_overrides_loads(self):
        model = dlzoo.build("dit-tiny", patch_size=2, learn_sigma=True, label_dropout=0.2)
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        path = os.path.join(directory, "dit.keras")
        model.save(path)
        restored = dlzoo.load(path)
        self.assertEqual(restored.get_config(), model.get_config())
        self.assertEqual(restored.get_layer("class_embedding").label_dropout, 0.2)

    def test_rejects_bad_arguments_before_building(self):
        with self.assertRaisesNamed(ValueError, "patch_size", "3"):
            dlzoo.count_params("dit-tiny", patch_size=3)
        with self.assertRaisesNamed(ValueError, "patch_size", "5"):
            dlzoo.build("dit-xl-2", patch_size=5)
        with self.assertRaisesNamed(ValueError, "hidden_dim", "66"):
            dlzoo.build("dit-tiny", hidden_dim=66, attention={"num_heads": 2})
        with self.assertRaisesNamed(ValueError, "num_heads", "5"):
            dlzoo.build("dit-tiny", attention={"num_heads": 5})
        with self.assertRaisesNamed(ValueError, "image_shape"):
            dlzoo.build("dit-tiny", image_shape=[16, 16])
        with self.assertRaisesNamed(ValueError, "num_classes", "0"):
            dlzoo.build("dit-tiny", num_classes=0)
        with self.assertRaisesNamed(ValueError, "label_dropout", "1.5"):
            dlzoo.build("dit-tiny", label_dropout=1.5)
