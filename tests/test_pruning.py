"""`dlzoo.prune`: removing heads/channels equals zeroing them in the original model; planted importances are
kept; pruning nothing is the identity; the pruned model counts, saves, loads and exports like any other."""

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo import pruning

TOKENS = np.random.default_rng(0).integers(0, 512, size=(2, 10)).astype("int32")
INPUTS = {"token_ids": TOKENS, "padding_mask": np.ones((2, 10), dtype=bool)}


def _out(model, x=INPUTS):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _model(name, seed=0):
    keras.utils.set_random_seed(seed)
    return dlzoo.build(name)


def _weights(model):
    return {w.path: w for w in model.weights}


def _zeroed(model, report):
    """The original model with every removed query head's output rows and removed channel's output rows set to 0.

    Removing a head (or channel) from the sum that forms the block output is the same function as zeroing its
    slice of the output projection: an independent statement of what pruning must compute.
    """
    weights = _weights(model)
    for prefix, kept in report["layers"].items():
        if "query_heads" in kept:
            w = weights[f"{prefix}/attention_output/kernel"]
            value = keras.ops.convert_to_numpy(w.value).copy()
            value[[h for h in range(value.shape[0]) if h not in kept["query_heads"]]] = 0.0
            w.assign(value)
        if "channels" in kept:
            w = weights[f"{prefix}/output_proj/kernel"]
            value = keras.ops.convert_to_numpy(w.value).copy()
            value[[c for c in range(value.shape[0]) if c not in kept["channels"]]] = 0.0
            w.assign(value)
    return model


@pytest.mark.parametrize("name", ["gpt-tiny", "llama-tiny"])
def test_pruning_nothing_is_the_same_function(name):
    model = _model(name)
    params = model.zoo_config["params"]
    same = dlzoo.prune(model, heads=params["attention"]["num_heads"],
                       feedforward=params["feedforward"]["intermediate_dim"])
    np.testing.assert_array_equal(_out(same), _out(model))
    assert same.count_params() == model.count_params()


@pytest.mark.parametrize("name,heads,gqa", [("gpt-tiny", 2, "queries"), ("llama-tiny", 2, "queries"),
                                            ("llama-tiny", 2, "groups")])
def test_pruned_model_equals_the_original_with_removed_units_zeroed(name, heads, gqa):
    model = _model(name)
    pruned = dlzoo.prune(model, heads=heads, feedforward=24, gqa=gqa)
    report = pruned.pruning_report
    params = pruned.zoo_config["params"]
    assert params["attention"]["num_heads"] == heads and params["feedforward"]["intermediate_dim"] == 24
    assert params["attention"]["head_dim"] == 16
    expected = _out(_zeroed(model, report))
    np.testing.assert_allclose(_out(pruned), expected, atol=2e-5, rtol=1e-5)
    assert pruned.count_params() == dlzoo.count_params(pruned.zoo_config) == report["parameters"]["after"]
    assert report["parameters"]["after"] < report["parameters"]["before"]


def test_gqa_modes_keep_heads_consistent_with_their_groups():
    model = _model("llama-tiny")  # 4 query heads, 2 key/value heads: heads 0,1 read kv 0; heads 2,3 read kv 1
    by_queries = dlzoo.prune(model, heads=2, gqa="queries")
    by_groups = dlzoo.prune(model, heads=2, gqa="groups")
    assert by_queries.zoo_config["params"]["attention"]["num_key_value_heads"] == 2
    assert by_groups.zoo_config["params"]["attention"]["num_key_value_heads"] == 1
    for kept in by_queries.pruning_report["layers"].values():
        if "query_heads" in kept:
            assert kept["key_value_heads"] == [0, 1]
            assert sorted(h // 2 for h in kept["query_heads"]) == [0, 1]  # one query head in each group
    for kept in by_groups.pruning_report["layers"].values():
        if "query_heads" in kept:
            (group,) = kept["key_value_heads"]
            assert kept["query_heads"] == [2 * group, 2 * group + 1]  # the whole group


def test_magnitude_keeps_the_planted_heads_and_channels():
    model = _model("gpt-tiny")
    weights = _weights(model)
    planted_heads, planted_channels = [1, 3], [5, 40, 41, 200]
    for layer in range(2):
        prefix = f"decoder/transformer_layer_{layer}"
        for name, axis in (("query/kernel", 1), ("key/kernel", 1), ("value/kernel", 1), ("attention_output/kernel", 0)):
            w = weights[f"{prefix}/self_attention/{name}"]
            value = np.moveaxis(keras.ops.convert_to_numpy(w.value).copy(), axis, 0)
            value[planted_heads] *= 10.0
            w.assign(np.moveaxis(value, 0, axis))
        for name, axis in (("inner_proj/kernel", 1), ("output_proj/kernel", 0)):
            w = weights[f"{prefix}/feedforward/{name}"]
            value = np.moveaxis(keras.ops.convert_to_numpy(w.value).copy(), axis, 0)
            value[planted_channels] *= 10.0
            w.assign(np.moveaxis(value, 0, axis))
    report = dlzoo.prune(model, heads=2, feedforward=4).pruning_report
    for prefix, kept in report["layers"].items():
        assert kept.get("query_heads", planted_heads) == planted_heads, prefix
        assert kept.get("channels", planted_channels) == planted_channels, prefix


def test_taylor_drops_a_head_that_does_not_reach_the_output():
    model = _model("gpt-tiny")
    weights = _weights(model)
    for layer in range(2):  # head 2's output rows are zero: w * dL/dw is zero on all its weights
        w = weights[f"decoder/transformer_layer_{layer}/self_attention/attention_output/kernel"]
        value = keras.ops.convert_to_numpy(w.value).copy()
        value[2] = 0.0
        w.assign(value * 100.0)  # the other heads are large in magnitude too: magnitude alone would not tell
    report = dlzoo.prune(model, heads=3, score="taylor", calibration=INPUTS).pruning_report
    for kept in report["layers"].values():
        assert kept["query_heads"] == [0, 1, 3]


def test_loss_gradients_match_finite_differences():
    model = _model("llama-tiny")
    # the gradient of the next-token loss w.r.t. one output-projection entry, by central differences
    path = "decoder/transformer_layer_1/feedforward/output_proj/kernel"
    grads = pruning.loss_gradients(model, INPUTS)[path]
    w = _weights(model)[path]
    base = keras.ops.convert_to_numpy(w.value).astype("float64")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def value(array):
        w.assign(array.astype("float32"))
        logits = model(INPUTS, training=False)
        return float(keras.ops.convert_to_numpy(loss(TOKENS[:, 1:], logits[:, :-1])))

    for index in [(3, 7), (100, 63)]:
        step = np.zeros_like(base)
        step[index] = 1e-2
        numeric = (value(base + step) - value(base - step)) / 2e-2
        np.testing.assert_allclose(grads[index], numeric, rtol=2e-2, atol=1e-4)
    w.assign(base.astype("float32"))


def test_prune_save_load_export_round_trip(tmp_path):
    model = _model("llama-tiny")
    pruned = dlzoo.prune(model, heads=2, feedforward=32, score="taylor", calibration=INPUTS)
    path = str(tmp_path / "pruned.keras")
    pruned.save(path)
    loaded = dlzoo.load(path)
    np.testing.assert_allclose(_out(loaded), _out(pruned), atol=1e-6)
    assert loaded.count_params() == pruned.count_params() == dlzoo.count_params(loaded.zoo_config)
    result = dlzoo.export(loaded, tmp_path / "export", formats=["onnx"])
    check = result.manifest["verification"]["onnx"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4
    assert result.manifest["model"]["num_params"] == pruned.count_params()


@pytest.mark.parametrize("kwargs,named", [
    ({"heads": 3}, "heads"),  # llama-tiny: 2 key/value groups, 3 is not a multiple
    ({"heads": 2, "gqa": "groups", "feedforward": 0}, "feedforward"),
    ({"heads": 5}, "heads"),
    ({"score": "random", "heads": 2}, "score"),
    ({"gqa": "pairs", "heads": 2}, "gqa"),
    ({"score": "taylor", "heads": 2}, "calibration"),
])
def test_bad_arguments_are_refused_by_name(kwargs, named):
    model = _model("llama-tiny")
    with pytest.raises(ValueError, match=named):
        dlzoo.prune(model, **kwargs)


def test_a_model_without_heads_is_refused():
    keras.utils.set_random_seed(0)
    model = dlzoo.build("image-mlp-tiny")
    with pytest.raises(ValueError, match="heads"):
        dlzoo.prune(model, heads=1)
