"""Layout maps generated from the blocks' sharding rules, per-device memory, and the errors (every backend).

The expected layouts are written out by hand from the Megatron-LM scheme
(Shoeybi et al. 2019, arXiv:1909.08053): q/k/v projections split by heads,
the attention output and feed-forward down projections by their input,
feed-forward up projections by their output, embeddings by vocabulary
rows, norms and output biases replicated.
"""

import keras
import pytest

import dlzoo
from dlzoo.distribution import layout, memory, setup

GPT_LAYER = "decoder/transformer_layer_0/"


@pytest.fixture(scope="module")
def gpt_specs():
    return layout.variable_specs("gpt-tiny")


def test_transformer_layer_layout_is_megatron(gpt_specs):
    axes = layout.resolved_layouts(gpt_specs, (2, 4), "model")
    expected = {
        "token_embedding/embeddings": ("model", None),
        "position_embedding/embeddings": (None, None),
        GPT_LAYER + "self_attention_norm/scale": (None,),
        GPT_LAYER + "self_attention/query/kernel": (None, "model", None),
        GPT_LAYER + "self_attention/query/bias": ("model", None),
        GPT_LAYER + "self_attention/key/kernel": (None, "model", None),
        GPT_LAYER + "self_attention/value/kernel": (None, "model", None),
        GPT_LAYER + "self_attention/attention_output/kernel": ("model", None, None),
        GPT_LAYER + "self_attention/attention_output/bias": (None,),
        GPT_LAYER + "feedforward/inner_proj/kernel": (None, "model"),
        GPT_LAYER + "feedforward/inner_proj/bias": ("model",),
        GPT_LAYER + "feedforward/output_proj/kernel": ("model", None),
        GPT_LAYER + "feedforward/output_proj/bias": (None,),
        "decoder/final_norm/bias": (None,),
    }
    for path, want in expected.items():
        assert axes[path] == want, path
    assert len(axes) == 36  # every weight of the model has a layout


def test_data_strategy_replicates_and_fsdp_adds_the_data_axis(gpt_specs):
    assert all(a == (None,) * len(a) for a in layout.resolved_layouts(gpt_specs, (8, 1), "data").values())
    fsdp = layout.resolved_layouts(gpt_specs, (2, 4), "fsdp-like")
    assert fsdp[GPT_LAYER + "self_attention/query/kernel"] == ("data", "model", None)
    assert fsdp[GPT_LAYER + "self_attention_norm/scale"] == ("data",)
    assert fsdp["position_embedding/embeddings"] == ("data", None)  # largest free dimension: 128 rows
    assert fsdp[GPT_LAYER + "feedforward/inner_proj/bias"] == ("model",)  # no dimension left for the data axis


def test_layout_map_patterns_cover_repeated_layers_once(gpt_specs):
    patterns = layout.layout_patterns(layout.resolved_layouts(gpt_specs, (2, 4), "model"))
    assert patterns[r"decoder/transformer_layer_\d+/self_attention/query/kernel"] == (None, "model", None)
    assert "position_embedding/embeddings" not in patterns  # replicated weights need no key
    assert len(patterns) == 11


def test_keras_layout_map_resolves_whole_paths():
    mesh = keras.distribution.DeviceMesh((1, 1), ("data", "model"), ["cpu:0"])
    layout_map = layout.get_layout_map(mesh, "gpt-tiny")
    assert tuple(layout_map[GPT_LAYER + "self_attention/query/kernel"].axes) == (None, "model", None)
    assert layout_map[GPT_LAYER + "self_attention/attention_output/bias"] is None  # replicated


@pytest.mark.parametrize("name", ["lcm-two-tower-tiny", "vit-test-tiny", "resnet-tiny"])
def test_other_families_get_their_layouts_from_their_blocks(name):
    rows = layout.layout_table(name, mesh=(2, 2))
    blocks = {r["block"] for r in rows}
    if name == "lcm-two-tower-tiny":
        assert {"grouped_query_attention", "swiglu", "ada_ln_zero", "timestep_embedding"} <= blocks
        assert any("cross_attention/key/kernel" in r["pattern"] for r in rows)
    elif name == "vit-test-tiny":
        assert {"grouped_query_attention", "mlp", "conv_2d"} <= blocks  # patch embedding: output channels
    else:
        assert blocks == {"conv_2d"}


def test_a_block_without_rules_is_replicated_and_a_block_can_declare_its_own():
    class Owned(keras.layers.Layer):
        def build(self, shape):
            self.inner = keras.layers.Dense(8, name="inner")
            self.inner.build(shape)

        def call(self, x):
            return self.inner(x)

        def layout_rules(self):
            return {"inner/kernel": (None, "hidden")}

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(6, name="plain")(Owned(name="owned")(inputs)))
    specs = {s.path: s for s in layout.variable_specs(model)}
    assert specs["owned/inner/kernel"].rule == (None, "hidden")
    assert specs["plain/kernel"].rule == (None, None)
    assert specs["owned/inner/bias"].rule == (None,)


def test_kv_heads_the_model_axis_does_not_divide_stay_whole():
    specs = layout.variable_specs("llama-tiny")  # 4 query heads, 2 key/value heads
    axes = layout.resolved_layouts(specs, (1, 4), "model")
    assert axes[GPT_LAYER + "self_attention/query/kernel"] == (None, "model", None)
    assert axes[GPT_LAYER + "self_attention/key/kernel"] == (None, None, None)


def test_model_axis_that_does_not_divide_the_heads_is_an_error(gpt_specs):
    with pytest.raises(ValueError, match=r"heads = 4.*mesh=\(1, 3\)"):
        layout.resolved_layouts(gpt_specs, (1, 3), "model")


def test_bad_strategy_and_mesh_are_errors():
    with pytest.raises(ValueError, match="Did you mean 'fsdp-like'.*strategy='fsdp'"):
        layout.check_strategy("fsdp")
    with pytest.raises(ValueError, match=r"mesh=\(2, 0\)"):
        layout.check_mesh((2, 0))
    with pytest.raises(ValueError, match=r"must divide the number of devices \(8\).*mesh=\(3, 1\)"):
        setup.check_mesh_fits((3, 1), 8, "data")
    with pytest.raises(ValueError, match=r"model axis must be 1.*mesh=\(2, 4\)"):
        setup.check_mesh_fits((2, 4), 8, "data")
    with pytest.raises(ValueError, match="Unknown key 'layout'.*Allowed: strategy, mesh"):
        setup.check_distribution_config({"layout": "model"})


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the JAX backend distributes")
def test_backends_without_keras_distribution_say_what_is_supported():
    with pytest.raises(ValueError, match=rf"JAX backend.*backend='{keras.backend.backend()}'"):
        dlzoo.distribution.distribute("gpt-tiny", mesh=(1, 1))


def test_memory_per_device_matches_a_hand_count(gpt_specs):
    # gpt-tiny: vocabulary 512, width 64, 2 layers of 4 heads x 16, feed-forward 256, 128 positions.
    # Per layer on 4 model shards: norms 2*128 + q/k/v kernels 3*64*64/4 + q/k/v biases 3*64/4
    # + output kernel 64*64/4 + output bias 64 + up 64*256/4 + up bias 256/4 + down 256*64/4 + down bias 64.
    layer = 2 * 128 + 3 * 64 * 64 // 4 + 3 * 64 // 4 + 64 * 64 // 4 + 64 + 64 * 256 // 4 + 256 // 4 + 256 * 64 // 4 + 64
    per_device = 512 * 64 // 4 + 128 * 64 + 2 * layer + 128
    assert per_device == 42080
    assert memory.per_device_weight_elements(gpt_specs, (2, 4), "model")["all"] == per_device
    # fsdp-like: every weight also halves on the data axis, except the up-projection biases (256,), already split.
    assert memory.per_device_weight_elements(gpt_specs, (2, 4), "fsdp-like")["all"] == (per_device - 2 * 64) // 2 + 2 * 64
    assert memory.per_device_weight_elements(gpt_specs, (8, 1), "data")["all"] == dlzoo.count_params("gpt-tiny")

    single = dlzoo.estimate_memory("gpt-tiny", batch_size=2, sequence_length=16)
    sharded = dlzoo.estimate_memory("gpt-tiny", batch_size=4, sequence_length=16, mesh=(2, 4))
    assert sharded["parameters_per_device"] == per_device
    assert sharded["bytes"]["weights"] == 4 * per_device
    assert sharded["bytes"]["gradients"] == 4 * per_device
    assert sharded["bytes"]["optimizer_state"] == 2 * 4 * per_device  # AdamW: 2 slots
    assert sharded["bytes"]["activations"] == single["bytes"]["activations"]  # batch 4 on 2 data shards = 2 each
    with pytest.raises(ValueError, match=r"batch_size=3, mesh=\(2, 4\)"):
        dlzoo.estimate_memory("gpt-tiny", batch_size=3, mesh=(2, 4))


def test_describe_lists_the_layout_map_and_per_device_memory(capsys):
    from dlzoo.cli import main

    assert main(["describe", "gpt-tiny", "--mesh", "2x4", "--batch-size", "4", "--sequence-length", "16"]) == 0
    out = capsys.readouterr().out
    assert "layout map (strategy=model, mesh 2x4; weights not listed are replicated):" in out
    assert r"decoder/transformer_layer_\d+/self_attention/query/kernel  [-, model:heads, -]" in out
    assert "per device on mesh 2x4 (model)" in out
    assert "164.38 KiB" in out  # weights: 42,080 x 4 bytes
    assert main(["describe", "gpt-tiny", "--mesh", "2x"]) != 0
    assert "Received: mesh='2x'" in capsys.readouterr().err
