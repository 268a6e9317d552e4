"""The `egnn` family: exact counts, E(n) and permutation equivariance of the whole model, heads, errors."""

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo import builder
from dlzoo.graphs import pack_graphs
from dlzoo.resolution import plan_of
from dlzoo.testing.geometry import random_orthogonal_matrix, relabel_nodes

# The reference code's QM9 model, instantiated at vgsatorras/egnn@e9ca6c0 (qm9/models.py, as main_qm9.py
# makes it: EGNN(in_node_nf=15, in_edge_nf=0, hidden_nf=128, n_layers=7, attention=1, node_attr=0)) and
# counted with sum(p.numel() for p in model.parameters()).
EGNN_QM9_REFERENCE_COUNT = 745_224

NODE_TASK = dict(task="node", node_feature_dim=3, edge_feature_dim=2, hidden_dim=8, num_layers=2, num_outputs=4,
                 egnn={"use_attention": True, "coordinate_aggregation": "sum", "use_tanh": True})


def _molecules(seed, sizes=(4, 3), features=4):
    """Two fully connected 'molecules' packed into one batch (inputs only)."""
    rng = np.random.default_rng(seed)
    graphs = []
    for n in sizes:
        edges = [[j, i] for i in range(n) for j in range(n) if i != j]
        graphs.append({"node_features": rng.standard_normal((n, features)), "edge_index": edges,
                       "coordinates": rng.standard_normal((n, 3))})
    inputs, _ = pack_graphs(graphs)
    return inputs


def _randomize_coordinate_heads(model, seed=0):
    """phi_x's last layer starts at ~1e-3; order-one weights make the coordinate updates worth testing."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.name.startswith("egnn_layer_") and layer.update_coordinates:
            kernel = layer.coordinate_mlp_2.kernel
            kernel.assign(rng.standard_normal(kernel.shape).astype("float32") * 0.5)


def _numpy(outputs):
    return {k: keras.ops.convert_to_numpy(v).astype("float64") for k, v in outputs.items()}


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    model = dlzoo.build("egnn-tiny")
    _randomize_coordinate_heads(model)
    return model


@pytest.fixture(scope="module")
def node_model():
    keras.utils.set_random_seed(0)
    model = dlzoo.build("egnn", **NODE_TASK)
    _randomize_coordinate_heads(model)
    return model


def test_counts_are_exact(node_model):
    assert dlzoo.count_params("egnn-qm9") == EGNN_QM9_REFERENCE_COUNT
    assert dlzoo.count_params("egnn", **NODE_TASK) == node_model.count_params()
    assert sorted(t.name for t in node_model.inputs) == ["coordinates", "edge_features", "edge_index", "node_features"]


def test_graph_model_is_invariant_and_equivariant_per_molecule(tiny):
    """Each molecule rotated (with a reflection), translated on its own; nodes relabelled across the batch."""
    rng = np.random.default_rng(1)
    inputs = _molecules(2)
    before = _numpy(tiny(inputs))
    assert np.abs(before["coordinates"] - inputs["coordinates"]).max() > 0.05  # the coordinates really move

    moved = dict(inputs)
    expected_coordinates = before["coordinates"].copy()
    coordinates = inputs["coordinates"].astype("float64")
    for graph in range(2):
        rows = inputs["node_graph_ids"] == graph
        q, t = random_orthogonal_matrix(3, rng, reflection=graph == 0), rng.standard_normal(3) * 3
        coordinates[rows] = coordinates[rows] @ q + t
        expected_coordinates[rows] = expected_coordinates[rows] @ q + t
    perm = rng.permutation(len(coordinates))
    moved["coordinates"] = coordinates[perm].astype("float32")
    moved["node_features"] = inputs["node_features"][perm]
    moved["node_graph_ids"] = inputs["node_graph_ids"][perm]
    moved["edge_index"] = relabel_nodes(perm, inputs["edge_index"], rng)
    after = _numpy(tiny(moved))
    # float32 inputs rounded once after the transformation: the differences stay at the float32 resolution.
    np.testing.assert_allclose(after["graph_outputs"], before["graph_outputs"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(after["coordinates"], expected_coordinates[perm], atol=1e-5, rtol=0)


def test_node_model_outputs_follow_the_nodes(node_model):
    model = node_model
    rng = np.random.default_rng(3)
    inputs = _molecules(4, sizes=(5,), features=3)
    del inputs["node_graph_ids"], inputs["graph_sizes"]
    inputs["edge_features"] = rng.standard_normal((len(inputs["edge_index"]), 2)).astype("float32")
    before = _numpy(model(inputs))
    assert set(before) == {"node_outputs", "coordinates"} and before["node_outputs"].shape == (5, 4)
    q, t, perm = random_orthogonal_matrix(3, rng), rng.standard_normal(3), rng.permutation(5)
    order = rng.permutation(len(inputs["edge_index"]))  # edge features travel with their edges
    moved = {
        "node_features": inputs["node_features"][perm],
        "coordinates": (inputs["coordinates"].astype("float64") @ q + t)[perm].astype("float32"),
        "edge_index": relabel_nodes(perm, inputs["edge_index"])[order],
        "edge_features": inputs["edge_features"][order],
    }
    after = _numpy(model(moved))
    np.testing.assert_allclose(after["node_outputs"], before["node_outputs"][perm], atol=1e-5, rtol=0)
    np.testing.assert_allclose(after["coordinates"], (before["coordinates"] @ q + t)[perm], atol=1e-5, rtol=0)


def test_qm9_setup_reads_invariant_features_only():
    plan = plan_of(builder.resolve("egnn-qm9"))
    assert list(plan.outputs) == ["graph_outputs"]  # no coordinates output
    assert plan.node("egnn_layer_0").arguments["update_coordinates"] is False
    # phi_x (d*d + d, then d without bias) is the only difference with coordinate updates, in each of the 7 layers.
    updating = dlzoo.count_params("egnn-qm9", egnn={"update_coordinates": True})
    assert updating - EGNN_QM9_REFERENCE_COUNT == 7 * (128 * 128 + 2 * 128)


def test_heads_read_the_pooled_graph_vector():
    model = dlzoo.build("egnn-tiny", extensions=[{"name": "regression_head", "outputs": 3}])
    assert tuple(model(_molecules(5)).shape) == (2, 3)
    assert model.get_layer("regressor").input.shape[-1] == 16  # the read-out of the node MLP
    # The node task offers the node states: one prediction per node.
    plan = plan_of(builder.resolve("egnn", **NODE_TASK, extensions=[{"name": "classification_head", "num_classes": 2}]))
    (classifier,) = [c for c in plan.calls if c.node == "classifier"]
    assert classifier.args[0] == plan.feature("node_states").tensor


def test_bad_parameters_name_the_parameter():
    with pytest.raises(ValueError, match="`task`.*Received: task='edge'"):
        dlzoo.count_params("egnn-tiny", task="edge")
    with pytest.raises(ValueError, match="edge_feature_dim"):
        dlzoo.count_params("egnn-tiny", edge_feature_dim=-1)
    with pytest.raises(ValueError, match="pooling"):
        dlzoo.count_params("egnn-tiny", readout="median")
