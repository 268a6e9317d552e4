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


def segment_softmax(logits, segment_ids, num_segments, keep=None):
    """Softmax of `logits` over the entries that share a segment id (e.g. a node's incoming edges).

    Shifted by each segment's maximum (gradient stopped: the shift does not
    change the result) so `exp` cannot overflow.

    Args:
        logits: Tensor `(num_entries, ...)`.
        segment_ids: int Tensor `(num_entries,)`.
        num_segments: int (or scalar tensor). Number of segments.
        keep: Optional Tensor `(num_entries,)` of 0/1: entries with 0 take no
            part (probability 0). Every segment that is read must keep at
            least one entry.

    Returns:
        Tensor of `logits`' shape whose entries sum to 1 within each segment.
    """
    if keep is not None:
        keep = ops.reshape(ops.cast(keep, logits.dtype), (-1,) + (1,) * (len(logits.shape) - 1))
        lowest = ops.cast(-6.0e4 if "16" in str(logits.dtype) else -3.0e38, logits.dtype)
        logits = ops.where(keep > 0, logits, lowest)
    maxima = ops.stop_gradient(ops.segment_max(logits, segment_ids, num_segments=num_segments))
    exp = ops.exp(logits - ops.take(maxima, segment_ids, axis=0))
    if keep is not None:
        exp = exp * keep
    totals = ops.segment_sum(exp, segment_ids, num_segments=num_segments)
    return exp / ops.take(totals, segment_ids, axis=0)


def self_loop_index(num_nodes):
    """The `(num_nodes, 2)` edge list `(i, i)` for every node."""
    nodes = ops.arange(num_nodes, dtype="int32")
    return ops.stack([nodes, nodes], axis=1)


def with_self_loops(edge_index, num_nodes, dtype):
    """Edges plus one self-loop per node, and per-edge weights that drop the input's own self-loops.

    As PyTorch Geometric's `add_remaining_self_loops` (the GCNConv and
    GATConv default): an existing `(i, i)` edge is replaced by the single
    added loop, so every node has exactly one self-loop. Shapes stay static:
    the input's self-loops are kept in the list with weight 0 instead of
    being removed.

    Returns:
        `(edge_index, edge_weight)`: `(num_edges + num_nodes, 2)` int32 and
        `(num_edges + num_nodes,)` of `dtype` (1 for kept edges, 0 for dropped).
    """
    edge_index = ops.cast(edge_index, "int32")
    keep = ops.cast(ops.not_equal(edge_index[:, 0], edge_index[:, 1]), dtype)
    loops = self_loop_index(num_nodes)
    weights = ops.concatenate([keep, ops.ones((num_nodes,), dtype=dtype)], axis=0)
    return ops.concatenate([edge_index, loops], axis=0), weights
