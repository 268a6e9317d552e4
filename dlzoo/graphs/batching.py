"""Pack many small graphs into one disjoint graph, and feed such batches to `model.fit`.

A graph here is a dict of NumPy arrays: `node_features` `(n, F)`,
`edge_index` `(e, 2)` rows `(source, target)`, optionally `coordinates`
`(n, dim)`, a graph-level `label` and per-node `node_labels` `(n, ...)`.
Packing places the graphs side by side: node rows are concatenated, each
graph's edge indices are shifted by the number of nodes before it (so no edge
crosses graphs), `node_graph_ids` says which graph a node is in and
`graph_sizes` how many nodes each graph has. A batch is then one graph with
several connected components, and message passing over it is exactly message
passing over each graph on its own.
"""

import math

import keras
import numpy as np

from dlzoo.graphs.validation import check_coordinates, check_edge_index, check_node_features
from dlzoo.validation import check_bool, check_int, check_positive_int

GRAPH_KEYS = ("node_features", "edge_index", "coordinates", "label", "node_labels")


def _check_graph(graph, index):
    where = f"graphs[{index}]"
    if not isinstance(graph, dict):
        raise TypeError(f"`{where}` must be a dict of arrays. Received: {where} of type {type(graph).__name__}.")
    unknown = sorted(set(graph) - set(GRAPH_KEYS))
    if unknown:
        raise ValueError(f"`{where}` has unknown keys {unknown}; allowed: {list(GRAPH_KEYS)}.")
    for key in ("node_features", "edge_index"):
        if key not in graph:
            raise ValueError(f"`{where}` needs the key {key!r}. Received keys: {sorted(graph)}.")
    x = check_node_features(graph["node_features"], name=f"{where}['node_features']")
    edges = check_edge_index(graph["edge_index"], x.shape[0], name=f"{where}['edge_index']")
    coords = None
    if graph.get("coordinates") is not None:
        coords = check_coordinates(graph["coordinates"], x.shape[0], name=f"{where}['coordinates']")
    node_labels = None
    if graph.get("node_labels") is not None:
        node_labels = np.asarray(graph["node_labels"])
        if node_labels.shape[:1] != (x.shape[0],):
            raise ValueError(
                f"`{where}['node_labels']` must have one row per node ({x.shape[0]}). "
                f"Received: {where}['node_labels'] with shape {node_labels.shape}."
            )
    return x, edges, coords, node_labels


def pack_graphs(graphs):
    """Pack a list of graphs into one disjoint graph in dlzoo's graph input convention.

    Args:
        graphs: list of dicts with `node_features` `(n_i, F)` and
            `edge_index` `(e_i, 2)` (indices local to the graph), and
            optionally `coordinates` `(n_i, dim)`, `label` (graph-level) and
            `node_labels` `(n_i, ...)`. Every graph needs at least one node,
            and all graphs the same keys and feature width.

    Returns:
        `(inputs, labels)`: `inputs` is a dict with `node_features`
        `(N, F)` float32, `edge_index` `(E, 2)` int32 (offset into the packed
        nodes), `node_graph_ids` `(N,)` int32, `graph_sizes` `(G,)` int32 and
        `coordinates` `(N, dim)` float32 when the graphs have them. `labels`
        stacks the graphs' `label`s `(G, ...)`, or concatenates their
        `node_labels` `(N, ...)`, or is `None`.

    Example:

    >>> from dlzoo.graphs import pack_graphs
    >>> triangle = {"node_features": np.ones((3, 4)), "edge_index": [[0, 1], [1, 2], [2, 0]]}
    >>> pair = {"node_features": np.ones((2, 4)), "edge_index": [[0, 1]]}
    >>> inputs, _ = pack_graphs([triangle, pair])
    >>> inputs["edge_index"].tolist()
    [[0, 1], [1, 2], [2, 0], [3, 4]]
    >>> inputs["node_graph_ids"].tolist(), inputs["graph_sizes"].tolist()
    ([0, 0, 0, 1, 1], [3, 2])
    """
    if isinstance(graphs, dict) or not hasattr(graphs, "__len__"):
        raise TypeError(f"`graphs` must be a list of graph dicts. Received: graphs of type {type(graphs).__name__}.")
    if len(graphs) == 0:
        raise ValueError("`graphs` must hold at least one graph. Received: graphs=[] (empty).")
    checked = [_check_graph(g, i) for i, g in enumerate(graphs)]
    width = checked[0][0].shape[1]
    for i, (x, _, coords, _) in enumerate(checked):
        if x.shape[1] != width:
            raise ValueError(
                f"Every graph needs the same number of node features. "
                f"Received: graphs[0] has {width}, graphs[{i}]['node_features'] has shape {x.shape}."
            )
        if (coords is None) != (checked[0][2] is None):
            raise ValueError(f"Either every graph has `coordinates` or none does. Received: graphs[{i}] differs from graphs[0].")
    sizes = np.array([x.shape[0] for x, _, _, _ in checked], dtype="int32")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int32")
    inputs = {
        "node_features": np.concatenate([x for x, _, _, _ in checked], axis=0),
        "edge_index": np.concatenate([e + o for (_, e, _, _), o in zip(checked, offsets)], axis=0).astype("int32"),
        "node_graph_ids": np.repeat(np.arange(len(graphs), dtype="int32"), sizes),
        "graph_sizes": sizes,
    }
    if checked[0][2] is not None:
        inputs["coordinates"] = np.concatenate([c for _, _, c, _ in checked], axis=0)
    return inputs, _pack_labels(graphs, checked)


def _pack_labels(graphs, checked):
    has_label = ["label" in g and g["label"] is not None for g in graphs]
    has_node_labels = [n is not None for _, _, _, n in checked]
    if any(has_label) and any(has_node_labels):
        raise ValueError("Graphs carry either a graph-level `label` or `node_labels`, not both.")
    if any(has_label):
        if not all(has_label):
            raise ValueError(f"Every graph needs a `label` when one has. Received: graphs[{has_label.index(False)}] has none.")
        return np.stack([np.asarray(g["label"]) for g in graphs])
    if any(has_node_labels):
        if not all(has_node_labels):
            raise ValueError(
                f"Every graph needs `node_labels` when one has. Received: graphs[{has_node_labels.index(False)}] has none."
            )
        return np.concatenate([n for _, _, _, n in checked], axis=0)
    return None


class GraphBatches(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` of packed graph batches for `model.fit` / `evaluate` / `predict`.

    Each item is `(inputs, labels)` from `pack_graphs` on `batch_size`
    graphs (only `inputs` when the graphs have no labels). Graphs are checked
    once, here. With `shuffle=True` the order is drawn again every epoch
    from a generator seeded with `seed`, so runs repeat exactly.

    Args:
        graphs: list of graph dicts (see `pack_graphs`).
        batch_size: int. Graphs per batch. Defaults to `32`.
        shuffle: bool. Reshuffle the graphs every epoch. Defaults to `False`.
        seed: int. Seed of the shuffling. Defaults to `0`.
        drop_remainder: bool. Drop a last, smaller batch (equal batch shapes
            avoid recompiling under `jit` when graphs have equal sizes).
            Defaults to `False`.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`, ...).
    """

    def __init__(self, graphs, batch_size=32, shuffle=False, seed=0, drop_remainder=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(graphs, dict) or not hasattr(graphs, "__len__") or len(graphs) == 0:
            raise ValueError(f"`graphs` must be a non-empty list of graph dicts. Received: graphs={type(graphs).__name__}.")
        for i, graph in enumerate(graphs):
            _check_graph(graph, i)
        self.graphs = list(graphs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.shuffle = check_bool("shuffle", shuffle)
        self.seed = check_int("seed", seed)
        self.drop_remainder = check_bool("drop_remainder", drop_remainder)
        if self.drop_remainder and len(self.graphs) < self.batch_size:
            raise ValueError(
                f"`batch_size` must be <= the number of graphs with drop_remainder=True. "
                f"Received: batch_size={batch_size}, len(graphs)={len(self.graphs)}."
            )
        self._epoch = 0
        self._order = self._draw_order()

    def _draw_order(self):
        order = np.arange(len(self.graphs))
        if self.shuffle:
            np.random.default_rng([self.seed, self._epoch]).shuffle(order)
        return order

    def __len__(self):
        count = len(self.graphs) / self.batch_size
        return int(count) if self.drop_remainder else math.ceil(count)

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        inputs, labels = pack_graphs([self.graphs[i] for i in rows])
        return inputs if labels is None else (inputs, labels)

    def on_epoch_end(self):
        self._epoch += 1
        self._order = self._draw_order()
