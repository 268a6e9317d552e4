"""Semi-supervised node classification on Zachary's karate club: GCN, GAT and GIN from one labelled member
per club, against label propagation.

    KERAS_BACKEND=jax python guides/examples/graph_karate.py [--epochs 200] [--seeds 10]

The graph is `networkx.karate_club_graph()` (34 members, 78 friendships, each an edge in both directions);
the label is the club each member joined after the split (`club`: "Mr. Hi" = 0, "Officer" = 1). Only member 0
(the instructor) and member 33 (the administrator) are labelled; features are one-hot node identities (the
identity matrix, as in GCN's karate demonstration), so everything the models know comes from the edges.
Accuracy is measured on the other 32 members, over several seeds (mean +- std). guides/graphs.md gives the
numbers of one run.
"""

import argparse

import keras
import networkx as nx
import numpy as np

import dlzoo

LABELLED = (0, 33)


def karate():
    """(node features, edge index (E, 2) in both directions, labels, labelled mask) of the karate club."""
    graph = nx.karate_club_graph()
    labels = np.array([0 if graph.nodes[i]["club"] == "Mr. Hi" else 1 for i in graph.nodes], "int32")
    pairs = np.array(graph.edges(), "int32")
    edges = np.concatenate([pairs, pairs[:, ::-1]])
    mask = np.zeros(len(labels), "float32")
    mask[list(LABELLED)] = 1.0
    return np.eye(len(labels), dtype="float32"), edges, labels, mask


class WholeGraph(keras.utils.PyDataset):
    """One step per epoch on the whole graph; the loss counts the labelled nodes only (sample weights)."""

    def __init__(self, features, edges, labels, weights):
        super().__init__()
        self.item = ({"node_features": features, "edge_index": edges}, labels, weights)

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return self.item


def label_propagation(edges, labels, num_nodes, iterations=1000):
    """Zhu and Ghahramani (2002): repeatedly average the neighbours' label distributions, clamping the labelled."""
    adjacency = np.zeros((num_nodes, num_nodes))
    adjacency[edges[:, 1], edges[:, 0]] = 1.0
    transition = adjacency / adjacency.sum(axis=1, keepdims=True)
    clamped = np.zeros((num_nodes, 2))
    clamped[list(LABELLED), labels[list(LABELLED)]] = 1.0
    scores = clamped.copy()
    for _ in range(iterations):
        scores = transition @ scores
        scores[list(LABELLED)] = clamped[list(LABELLED)]
    return scores.argmax(axis=1)


MODELS = {
    "gcn": dict(name="gcn-karate"),
    "gat": dict(name="gat", node_feature_dim=34, num_heads=4, head_dim=4, num_classes=2, dropout=0.5),
    "gin": dict(name="gin", node_feature_dim=34, hidden_dim=16, num_layers=2, task="node", num_classes=2,
                output_layer="conv", dropout=0.5, gin={"use_batch_norm": False}),
}


def accuracy_of(family, seed, epochs, data):
    features, edges, labels, mask = data
    keras.utils.set_random_seed(seed)
    params = dict(MODELS[family])
    model = dlzoo.build(params.pop("name"), **params)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(WholeGraph(features, edges, labels, mask), epochs=epochs, verbose=0)
    predicted = keras.ops.convert_to_numpy(model({"node_features": features, "edge_index": edges})).argmax(axis=1)
    unlabelled = mask == 0
    return float((predicted[unlabelled] == labels[unlabelled]).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--models", default="gcn,gat,gin")
    args = parser.parse_args()
    data = karate()
    features, edges, labels, mask = data
    baseline = label_propagation(edges, labels, len(labels))
    unlabelled = mask == 0
    print(f"karate club: {len(labels)} members, {len(edges)} directed edges, labelled: {list(LABELLED)}, "
          f"backend {keras.backend.backend()}")
    print(f"label propagation: accuracy {(baseline[unlabelled] == labels[unlabelled]).mean():.4f} on the other 32")
    for family in args.models.split(","):
        scores = [accuracy_of(family, seed, args.epochs, data) for seed in range(args.seeds)]
        print(f"{family}: accuracy {np.mean(scores):.4f} +- {np.std(scores):.4f} over {args.seeds} seeds "
              f"(min {min(scores):.4f}, max {max(scores):.4f})")


if __name__ == "__main__":
    main()
