"""The gcn, gat and gin families: node and graph tasks on packed graph batches, the heads and features the
extensions read, `model.fit` on `GraphBatches` (jit where the backend compiles), exact counts, the family-level
rule, and (torch suite) the gcn-karate / gat-cora / gin-0 models against PyTorch Geometric stacks: copied weights
give the same logits, and the parameter counts agree."""

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo.graphs import GraphBatches, pack_graphs


def _graphs(count, features=4, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    graphs = []
    for i in range(count):
        n = int(rng.integers(2, 7))
        graphs.append(
            {
                "node_features": rng.standard_normal((n, features)).astype("float32"),
                "edge_index": rng.integers(0, n, (2 * n, 2)),
                "label": i % classes,
            }
        )
    return graphs


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_node_task_gives_logits_per_node():
    inputs, _ = pack_graphs(_graphs(3))
    model = dlzoo.build("gat-tiny")  # gcn-tiny's node logits are compared with PyG below
    logits = model({"node_features": inputs["node_features"], "edge_index": inputs["edge_index"]})
    assert tuple(logits.shape) == (len(inputs["node_features"]), 3)


def test_graph_task_gives_logits_per_graph_and_fits_on_graph_batches():
    graphs = _graphs(8)
    model = dlzoo.build("gin-tiny")
    inputs, labels = pack_graphs(graphs[:5])
    assert tuple(model(inputs).shape) == (5, 3)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile="auto",
    )
    # One batch shape (all 8 graphs per step): jit compiles the step once.
    history = model.fit(GraphBatches(graphs, batch_size=8, shuffle=True, seed=1), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # A graph's logits do not depend on the other graphs of its batch.
    alone = _numpy(model(pack_graphs(graphs[1:2])[0]))
    np.testing.assert_allclose(_numpy(model(inputs))[1:2], alone, atol=1e-5)


def test_features_only_and_heads_read_the_pooled_rows():
    graphs = _graphs(3)
    inputs, _ = pack_graphs(graphs)
    features = dlzoo.build("gcn-tiny", num_classes=0, task="graph", output_layer="dense")
    assert tuple(features(inputs).shape) == (3, 8)
    headed = dlzoo.build("gcn-tiny", num_classes=0, extensions=[{"name": "classification_head", "num_classes": 5}])
    node_inputs = {k: inputs[k] for k in ("node_features", "edge_index")}
    assert tuple(headed(node_inputs).shape) == (len(inputs["node_features"]), 5)
    levels = dlzoo.build("gin-tiny", extensions=["features_only"])
    out = levels(inputs)
    assert [tuple(v.shape) for v in keras.tree.flatten(out)] == [(len(inputs["node_features"]), 8)] * 2


def test_count_params_is_exact_for_every_layout():
    for name, params in [
        ("gcn-tiny", {"use_input_projection": True, "num_layers": 3}),
        ("gat-tiny", {"output_num_heads": 3, "gat": {"use_bias": False}}),
        ("gin-tiny", {"readout_from_every_layer": False, "gin": {"intermediate_dim": 5}}),
        ("gcn-tiny", {"task": "graph", "output_layer": "dense", "num_classes": 0}),
    ]:
        assert dlzoo.count_params(name, **params) == dlzoo.build(name, **params).count_params(), (name, params)


def test_family_rule_and_bad_parameters_name_the_parameter():
    with pytest.raises(ValueError, match="output_layer.*Received: task='graph', output_layer='conv'"):
        dlzoo.count_params("gcn-tiny", task="graph")
    with pytest.raises(ValueError, match="Received: task='edge'"):
        dlzoo.count_params("gat-tiny", task="edge")
    with pytest.raises(ValueError, match="pooling"):
        dlzoo.count_params("gin-tiny", readout="median")


# ------------------------------------------------------------------ PyTorch Geometric (torch suite only)
torch_only = pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch Geometric: torch suite only")


def _t(x):
    import torch

    return torch.tensor(np.asarray(_numpy(x)), dtype=torch.float32)


@torch_only
def test_gcn_karate_and_gat_cora_match_pyg_stacks():
    import torch
    from torch_geometric.nn import GATConv, GCNConv

    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 34)).astype("float32")
    edges = rng.integers(0, 12, (40, 2)).astype("int32")
    pyg_edges = torch.tensor(edges.T.astype("int64"))
    model = dlzoo.build("gcn-karate")
    first, second = GCNConv(34, 16), GCNConv(16, 2)
    with torch.no_grad():
        for conv, name in ((first, "conv_0"), (second, "logits")):
            conv.lin.weight.copy_(_t(model.get_layer(name).kernel).T)
            conv.bias.copy_(_t(model.get_layer(name).bias))
        expected = second(torch.relu(first(torch.tensor(x), pyg_edges)), pyg_edges).numpy()
    np.testing.assert_allclose(_numpy(model({"node_features": x, "edge_index": edges})), expected, atol=1e-5)
    assert model.count_params() == sum(p.numel() for c in (first, second) for p in c.parameters())

    cora = GATConv(1433, 8, heads=8), GATConv(64, 7, heads=1, concat=False)
    assert dlzoo.count_params("gat-cora") == sum(p.numel() for c in cora for p in c.parameters())


@torch_only
def test_gin_0_count_matches_a_pyg_stack():
    import torch
    from torch_geometric.nn import GINConv

    def mlp(width_in):
        return torch.nn.Sequential(
            torch.nn.Linear(width_in, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Linear(64, 64)
        )

    convs = [GINConv(mlp(7 if i == 0 else 64)) for i in range(4)]
    head = torch.nn.Linear(7 + 4 * 64, 2)
    trainable = sum(p.numel() for m in (*convs, head) for p in m.parameters())
    running = sum(b.numel() for c in convs for n, b in c.named_buffers() if "running" in n)  # mean, var
    assert dlzoo.count_params("gin-0") == trainable + running
