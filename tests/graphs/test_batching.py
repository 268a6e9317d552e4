"""`dlzoo.graphs`: packing graphs into one disjoint graph, the PyDataset of batches, and the data checks."""

import keras
import numpy as np
import pytest

from dlzoo.blocks import GraphReadout
from dlzoo.graphs import GraphBatches, pack_graphs


def _graph(num_nodes, edges, label=None, width=3, coordinates=False):
    graph = {
        "node_features": np.arange(num_nodes * width, dtype="float32").reshape(num_nodes, width),
        "edge_index": np.asarray(edges, "int64").reshape(-1, 2),
    }
    if label is not None:
        graph["label"] = label
    if coordinates:
        graph["coordinates"] = np.ones((num_nodes, 3))
    return graph


def test_pack_offsets_edges_and_numbers_the_graphs():
    graphs = [_graph(3, [[0, 1], [1, 2]], 1), _graph(1, [], 0), _graph(2, [[1, 0], [0, 0]], 1)]
    inputs, labels = pack_graphs(graphs)
    assert inputs["node_features"].shape == (6, 3) and inputs["node_features"].dtype == np.float32
    assert inputs["edge_index"].dtype == np.int32
    assert inputs["edge_index"].tolist() == [[0, 1], [1, 2], [5, 4], [4, 4]]
    assert inputs["node_graph_ids"].tolist() == [0, 0, 0, 1, 2, 2]
    assert inputs["graph_sizes"].tolist() == [3, 1, 2]
    assert labels.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(inputs["node_features"][4:], graphs[2]["node_features"])


def test_pack_node_labels_and_coordinates():
    a, b = _graph(2, [[0, 1]], coordinates=True), _graph(3, [[2, 0]], coordinates=True)
    a["node_labels"], b["node_labels"] = np.array([0, 1]), np.array([2, 2, 1])
    inputs, labels = pack_graphs([a, b])
    assert inputs["coordinates"].shape == (5, 3)
    assert labels.tolist() == [0, 1, 2, 2, 1]


@pytest.mark.parametrize(
    "graph, error, fragments",
    [
        (_graph(3, [[0, 3]]), ValueError, ["graphs[0]['edge_index']", "[0, 3]", "num_nodes=3"]),
        (_graph(3, [[-1, 0]]), ValueError, ["graphs[0]['edge_index']", "[-1, 0]"]),
        (_graph(0, []), ValueError, ["graphs[0]['node_features']", "number of nodes", "0"]),
        ({"node_features": np.ones((2, 3)), "edge_index": np.array([[0.0, 1.0]])}, TypeError, ["edge_index", "float64"]),
        ({"node_features": np.ones((2, 3)), "edge_index": np.array([0, 1, 1])}, ValueError, ["edge_index", "(3,)"]),
        ({"node_features": np.ones(3), "edge_index": []}, ValueError, ["node_features", "(3,)"]),
        ({"node_features": np.array([["a", "b"]]), "edge_index": []}, TypeError, ["node_features", "<U1"]),
        ({"node_features": np.ones((2, 3)), "edge_index": [], "coordinates": np.ones((3, 3))}, ValueError, ["coordinates", "(3, 3)"]),
        ({"node_features": np.ones((2, 3))}, ValueError, ["edge_index"]),
    ],
)
def test_bad_graph_data_raises_naming_the_argument_and_value(graph, error, fragments):
    with pytest.raises(error) as info:
        pack_graphs([graph])
    for fragment in fragments:
        assert fragment in str(info.value)


def test_negative_node_count_names_the_argument():
    from dlzoo.graphs import check_edge_index

    with pytest.raises(ValueError, match="num_nodes=-2"):
        check_edge_index(np.zeros((1, 2), "int32"), -2)


def test_graph_batches_shuffle_with_a_seed_and_cover_every_graph():
    graphs = [_graph(1 + i % 3, [[0, 0]], label=i) for i in range(7)]
    batches = GraphBatches(graphs, batch_size=3, shuffle=True, seed=5)
    again = GraphBatches(graphs, batch_size=3, shuffle=True, seed=5)
    assert len(batches) == 3
    epoch = [batches[i][1].tolist() for i in range(len(batches))]
    assert epoch == [again[i][1].tolist() for i in range(len(again))]
    assert sorted(sum(epoch, [])) == list(range(7))
    assert epoch != [[0, 1, 2], [3, 4, 5], [6]]
    batches.on_epoch_end()
    assert [batches[i][1].tolist() for i in range(3)] != epoch
    assert len(GraphBatches(graphs, batch_size=3, drop_remainder=True)) == 2
    with pytest.raises(ValueError, match="batch_size=0"):
        GraphBatches(graphs, batch_size=0)


def test_graph_batches_feed_model_fit():
    graphs = [_graph(2 + i % 2, [[0, 1], [1, 0]], label=float(i % 2)) for i in range(6)]
    x_in = keras.Input((3,), name="node_features")
    edge_in = keras.Input((2,), dtype="int32", name="edge_index")
    ids_in = keras.Input((), dtype="int32", name="node_graph_ids")
    sizes_in = keras.Input((), dtype="int32", name="graph_sizes")
    pooled = GraphReadout("mean")(keras.layers.Dense(4)(x_in), ids_in, sizes_in)
    inputs = {"node_features": x_in, "edge_index": edge_in, "node_graph_ids": ids_in, "graph_sizes": sizes_in}
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    model.compile("sgd", "mse", jit_compile="auto")
    history = model.fit(GraphBatches(graphs, batch_size=3, shuffle=True), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert model.predict(GraphBatches(graphs, batch_size=4), verbose=0).shape == (6, 1)
