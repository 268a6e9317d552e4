"""Graph classification on k-nearest-neighbour graphs of scikit-learn's 8x8 digits: GIN and GCN against a
bag-of-nodes MLP.

    KERAS_BACKEND=torch python guides/examples/graph_digits.py [--epochs 40]

How the set is built (`digit_graph`): each of the 1,797 images becomes one graph whose nodes are its pixels with
intensity > 0 (on average about 30 of the 64); node features are (intensity / 16, row / 7, column / 7); each node
receives an edge from each of its K = 4 nearest other nodes by Euclidean pixel distance (ties broken by pixel
order), and every edge is also added in the other direction (duplicates dropped), so the graph is undirected.
The label is the digit. Train/test: a stratified 80/20 split (`train_test_split`, random_state 0).

The baseline sees the same nodes without the edges: the mean and the sum of the node features of each graph
(a "bag of nodes": how much ink, where its centre is), concatenated, then an MLP (64, 64, ReLU). The graph
networks see the edges, i.e. the shape of the stroke. guides/graphs.md gives the numbers of one run.
"""

import argparse

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import dlzoo
from dlzoo.graphs import GraphBatches

K, SEED = 4, 0


def digit_graph(image, label):
    """One digit image (8, 8) of 0..16 as a kNN graph of its inked pixels (see the module docstring)."""
    rows, cols = np.nonzero(image > 0)
    positions = np.stack([rows, cols], axis=1).astype("float64")
    features = np.stack([image[rows, cols] / 16.0, rows / 7.0, cols / 7.0], axis=1).astype("float32")
    distances = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    np.fill_diagonal(distances, np.inf)
    k = min(K, len(rows) - 1)
    neighbours = np.argsort(distances, axis=1, kind="stable")[:, :k]  # (n, k)
    pairs = {(int(j), int(i)) for i in range(len(rows)) for j in neighbours[i]}
    pairs |= {(i, j) for j, i in pairs}
    edges = np.array(sorted(pairs), "int32").reshape(-1, 2)
    return {"node_features": features, "edge_index": edges, "label": int(label)}


def datasets():
    digits = load_digits()
    graphs = [digit_graph(image, label) for image, label in zip(digits.images, digits.target)]
    train, test = train_test_split(graphs, test_size=0.2, stratify=digits.target, random_state=SEED)
    return train, test


def bag_of_nodes_mlp(num_classes=10, width=64):
    """Mean and sum of each graph's node features (no edges), then an MLP."""
    features = keras.Input((3,), name="node_features")
    edges = keras.Input((2,), dtype="int32", name="edge_index")
    ids = keras.Input((), dtype="int32", name="node_graph_ids")
    sizes = keras.Input((), dtype="int32", name="graph_sizes")
    pooled = keras.layers.Concatenate()(
        [dlzoo.blocks.GraphReadout("mean")(features, ids, sizes), dlzoo.blocks.GraphReadout("sum")(features, ids, sizes)]
    )
    h = keras.layers.Dense(width, activation="relu")(pooled)
    h = keras.layers.Dense(width, activation="relu")(h)
    inputs = {"node_features": features, "edge_index": edges, "node_graph_ids": ids, "graph_sizes": sizes}
    return keras.Model(inputs, keras.layers.Dense(num_classes)(h))


MODELS = {
    "bag-of-nodes MLP": lambda: bag_of_nodes_mlp(),
    "gin (4 layers, 64, sum read-out of every layer)": lambda: dlzoo.build(
        "gin-0", node_feature_dim=3, num_classes=10, dropout=0.0
    ),
    "gcn (3 layers, 64, mean read-out)": lambda: dlzoo.build(
        "gcn", node_feature_dim=3, hidden_dim=64, num_layers=3, task="graph", num_classes=10,
        output_layer="dense", readout="mean", readout_from_every_layer=True
    ),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    train, test = datasets()
    nodes = [len(g["node_features"]) for g in train + test]
    edges = [len(g["edge_index"]) for g in train + test]
    print(f"digits as kNN graphs (K={K}): {len(train)} train / {len(test)} test graphs, "
          f"nodes {np.mean(nodes):.1f} mean ({min(nodes)}-{max(nodes)}), directed edges {np.mean(edges):.1f} mean; "
          f"backend {keras.backend.backend()}")
    test_batches = GraphBatches(test, batch_size=256)
    for name, make in MODELS.items():
        keras.utils.set_random_seed(SEED)
        model = make()
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(GraphBatches(train, batch_size=args.batch_size, shuffle=True, seed=SEED), epochs=args.epochs, verbose=0)
        _, accuracy = model.evaluate(test_batches, verbose=0)
        print(f"{name}: test accuracy {accuracy:.4f} ({model.count_params():,} parameters, {args.epochs} epochs)")


if __name__ == "__main__":
    main()
