"""Helpers shared by the graph blocks: message passing over an edge list with segment ops.

The graph input convention (used by every graph block and family):

- `node_features`: `(num_nodes, F)` float32.
- `edge_index`: `(num_edges, 2)` int32; each row is `(source, target)` and
  messages flow from source to target.
- `node_graph_ids`: `(num_nodes,)` int32, the graph each node belongs to
  (graph-level tasks only).
- `graph_sizes`: `(num_graphs,)` int32, nodes per graph (graph-level tasks
  only); only its *shape* is read, to know the number of graphs.

Segment counts come from static shapes (the number of nodes from the node
tensor, the number of graphs from `graph_sizes`), never from `max(ids) + 1`,
which cannot be traced under `jax.jit`. When a static size is unknown (a
TensorFlow graph with an unknown batch dimension) the dynamic `ops.shape` is
used. Nothing here builds a dense adjacency matrix.
"""

from keras import ops


def num_rows(x):
    """The length of `x`'s first axis: a Python int when static, else a scalar tensor."""
    n = x.shape[0]
    return n if n is not None else ops.shape(x)[0]


def sources_and_targets(edge_index):
    """Split an `(num_edges, 2)` edge list into int32 source and target index vectors."""
    edge_index = ops.cast(edge_index, "int32")
    return edge_index[:, 0], edge_index[:, 1]


def gather_rows(x, indices):
    """`x[indices]` along the first axis (one row per edge)."""
    return ops.take(x, indices, axis=0)


def scatter_sum(messages, targets, num_nodes):
    """Sum the per-edge `messages` into their `targets`: `(num_nodes, ...)`; nodes with no edge get 0."""
    return ops.segment_sum(messages, targets, num_segments=num_nodes)


def non_loop_weights(edge_index, dtype):
    """`(num_edges,)` weights: 1 for an edge between two nodes, 0 for a self-loop `(i, i)`.

    Blocks that add one self-loop per node (GCN, GAT, as PyTorch Geometric's
    `add_remaining_self_loops`) weigh the input's own self-loops by 0 and
    add each node's loop as a separate per-node term, so no edge list is
    concatenated and every shape stays as given.
    """
    edge_index = ops.cast(edge_index, "int32")
    return ops.cast(ops.not_equal(edge_index[:, 0], edge_index[:, 1]), dtype)
