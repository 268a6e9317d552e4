"""The `patchtst` and `dlinear` families: Hugging Face `PatchTSTForPrediction` parity, counts, errors.

The parity test builds `transformers` PatchTST at a tiny size with random
weights, perturbs every weight and BatchNorm statistic (default inits hide
mistakes: unit scales, zero biases, zero means), copies them into the dlzoo
model through the name mapping below and compares the forecasts on the same
random series (eval mode, float32, max abs diff <= 1e-4). Hugging Face's
`scaling="std"` is RevIN without its affine map; its patching drops the
first steps instead of padding the end (`use_end_padding=False`); its
`positional_encoding_type="random"` is a learned table. Runs in the torch
suite only (the reference is PyTorch; the dlzoo side is the same on every
backend, which `tools/backend_parity.py` checks).
"""

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo.testing import TestCase

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch reference: torch suite only")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SIZE = dict(context_length=30, prediction_length=7, num_channels=3, patch_length=8, patch_stride=4)


def hf_config(norm_type, pre_norm):
    return transformers.PatchTSTConfig(
        num_input_channels=SIZE["num_channels"],
        context_length=SIZE["context_length"],
        prediction_length=SIZE["prediction_length"],
        patch_length=SIZE["patch_length"],
        patch_stride=SIZE["patch_stride"],
        d_model=16,
        num_attention_heads=4,
        num_hidden_layers=2,
        ffn_dim=24,
        norm_type=norm_type,
        pre_norm=pre_norm,
        scaling="std",
        positional_encoding_type="random",
        share_embedding=True,
        share_projection=True,
        channel_attention=False,
        use_cls_token=False,
        pooling_type=None,  # the flatten head (Hugging Face defaults to mean pooling)
        do_mask_input=False,
    )


def dlzoo_params(norm_type, pre_norm):
    norm = {"type": "batch_norm", "epsilon": 1e-5} if norm_type == "batchnorm" else {"type": "layer_norm", "epsilon": 1e-5}
    return dict(
        SIZE,
        use_end_padding=False,
        use_revin=True,
        revin_affine=False,
        hidden_dim=16,
        num_layers=2,
        norm_position="pre" if pre_norm else "post",
        attention={"num_heads": 4},
        feedforward={"intermediate_dim": 24},
        norm=norm,
    )


def hf_to_dlzoo(state, num_layers, num_heads, norm_type):
    """`{dlzoo weight path: array}` from a `PatchTSTForPrediction` state dict (the name mapping)."""

    def a(name):
        return state[name].detach().numpy()

    d = a("model.encoder.embedder.input_embedding.weight").shape[0]
    h = d // num_heads
    out = {
        "patch_embedding/kernel": a("model.encoder.embedder.input_embedding.weight").T,
        "patch_embedding/bias": a("model.encoder.embedder.input_embedding.bias"),
        "position_embedding/embeddings": a("model.encoder.positional_encoder.position_enc"),
        "head/kernel": a("head.projection.weight").T,
        "head/bias": a("head.projection.bias"),
    }
    for i in range(num_layers):
        src, dst = f"model.encoder.layers.{i}.", f"encoder/transformer_layer_{i}/"
        for hf_name, name in (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value")):
            out[f"{dst}self_attention/{name}/kernel"] = a(f"{src}self_attn.{hf_name}.weight").T.reshape(d, num_heads, h)
            out[f"{dst}self_attention/{name}/bias"] = a(f"{src}self_attn.{hf_name}.bias").reshape(num_heads, h)
        out[f"{dst}self_attention/attention_output/kernel"] = a(f"{src}self_attn.out_proj.weight").T.reshape(num_heads, h, d)
        out[f"{dst}self_attention/attention_output/bias"] = a(f"{src}self_attn.out_proj.bias")
        out[f"{dst}feedforward/inner_proj/kernel"] = a(f"{src}ff.0.weight").T
        out[f"{dst}feedforward/inner_proj/bias"] = a(f"{src}ff.0.bias")
        out[f"{dst}feedforward/output_proj/kernel"] = a(f"{src}ff.3.weight").T
        out[f"{dst}feedforward/output_proj/bias"] = a(f"{src}ff.3.bias")
        for hf_norm, norm in (("norm_sublayer1", "self_attention_norm"), ("norm_sublayer3", "feedforward_norm")):
            if norm_type == "batchnorm":
                names = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
                for hf_name, name in names.items():
                    out[f"{dst}{norm}/{name}"] = a(f"{src}{hf_norm}.batchnorm.{hf_name}")
            else:
                out[f"{dst}{norm}/scale"] = a(f"{src}{hf_norm}.weight")
                out[f"{dst}{norm}/bias"] = a(f"{src}{hf_norm}.bias")
    return out


def _perturb(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype.is_floating_point:
                noise = 0.2 * torch.randn(tensor.shape, generator=generator)
                tensor.copy_(tensor.abs() + 0.5 + noise.abs() if "running_var" in name else tensor + noise)


def _copy_weights(model, weights):
    by_path = {w.path: w for w in model.weights}
    assert sorted(by_path) == sorted(weights), "the mapping must cover every dlzoo weight exactly once"
    for path, value in weights.items():
        assert tuple(by_path[path].shape) == value.shape, path
        by_path[path].assign(value)


class PatchTSTHuggingFaceParityTest(TestCase):
    def _compare(self, norm_type, pre_norm):
        torch.manual_seed(0)
        reference = transformers.PatchTSTForPrediction(hf_config(norm_type, pre_norm)).eval()
        _perturb(reference)
        model = dlzoo.build({"model": "patchtst", "params": dlzoo_params(norm_type, pre_norm)})
        _copy_weights(model, hf_to_dlzoo(reference.state_dict(), 2, 4, norm_type))
        rng = np.random.default_rng(0)
        past = (rng.standard_normal((4, SIZE["context_length"], SIZE["num_channels"])) * 3 + 5).astype("float32")
        with torch.no_grad():
            expected = reference(past_values=torch.from_numpy(past)).prediction_outputs.numpy()
        actual = keras.ops.convert_to_numpy(model(past, training=False))
        self.assertEqual(actual.shape, (4, SIZE["prediction_length"], SIZE["num_channels"]))
        self.assertLess(np.abs(actual - expected).max(), 1e-4)
        # Trainable counts agree with PyTorch's parameters (BatchNorm statistics are buffers there).
        counted = dlzoo.count_params({"model": "patchtst", "params": dlzoo_params(norm_type, pre_norm)}, trainable_only=True)
        self.assertEqual(counted, reference.num_parameters())
        return model, past, expected

    def test_batch_norm_post_norm_matches(self):
        model, past, expected = self._compare("batchnorm", pre_norm=False)
        # A plausible mistake (the patches in the wrong order within the flattened head input) is far off.
        head = next(w for w in model.weights if w.path == "head/kernel")
        kernel = keras.ops.convert_to_numpy(head)
        head.assign(kernel.reshape(-1, 16, kernel.shape[-1])[::-1].reshape(kernel.shape))
        self.assertGreater(np.abs(keras.ops.convert_to_numpy(model(past)) - expected).max(), 1e-2)

    def test_layer_norm_pre_norm_matches(self):
        self._compare("layernorm", pre_norm=True)


class ForecasterFamiliesTest(TestCase):
    def test_counts(self):
        # DLinear: two maps of 336 * 96 + 96 (Zeng et al., 2023); per channel: seven times that.
        self.assertEqual(dlzoo.count_params("dlinear-336-96"), 2 * (336 * 96 + 96))
        self.assertEqual(dlzoo.count_params("dlinear-336-96", use_per_channel_weights=True), 7 * 2 * (336 * 96 + 96))
        # PatchTST/42, trainable: Hugging Face PatchTSTForPrediction with the same sizes and 43 patches (it drops
        # the end padding, so use_end_padding=False), computed by hand: embedding 16*128+128, positions 42*128...
        embedding, head = 16 * 128 + 128, 42 * 128 * 96 + 96
        layer = 4 * (128 * 128 + 128) + (128 * 256 + 256) + (256 * 128 + 128) + 2 * 2 * 128
        expected = embedding + 42 * 128 + 3 * layer + head
        self.assertEqual(dlzoo.count_params("patchtst-42", trainable_only=True), expected)
        self.assertEqual(dlzoo.count_params("patchtst-42"), expected + 3 * 2 * 2 * 128)  # BatchNorm statistics

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "patch_length", "40", "context_length", "32"):
            dlzoo.count_params("patchtst-tiny", patch_length=40)
        with self.assertRaisesNamed(ValueError, "prediction_length", "0"):
            dlzoo.count_params("dlinear-tiny", prediction_length=0)
        with self.assertRaisesNamed(ValueError, "kernel_size", "4"):
            dlzoo.count_params("dlinear-tiny", kernel_size=4)
