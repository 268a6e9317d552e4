"""Graph readout: the node states of each graph in a batch -> one vector per graph."""

import keras
from keras import ops

from dlzoo.blocks.graph.message_passing import num_rows
from dlzoo.registry import register_block
from dlzoo.validation import check_choice

READOUTS = ("sum", "mean", "max")


@register_block(
    "graph_readout",
    paper="arXiv:1810.00826",
    example={
        "init_kwargs": {"pooling": "mean"},
        "inputs": {
            "node_states": (5, 8),
            "node_graph_ids": {"shape": (5,), "dtype": "int32", "max": 2},
            "graph_sizes": {"shape": (2,), "dtype": "int32", "max": 5},
        },
    },
)
class GraphReadout(keras.layers.Layer):
    """Pool the node states of every graph of a disjoint batch into one vector.

    A batch of graphs is one disjoint graph whose nodes carry the id of their
    graph (`dlzoo.graphs.pack_graphs`). The readout reduces the node states
    of each graph with a permutation-invariant function: `"sum"` (the
    injective choice of GIN, which keeps how many nodes there are), `"mean"`
    (a distribution of node states, size-independent) or `"max"` (the most
    salient feature). A graph with no node reads out as zeros.

    Args:
        pooling: str. `"sum"`, `"mean"` or `"max"`. Defaults to `"sum"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        node_states: Tensor `(num_nodes, width)`.
        node_graph_ids: int Tensor `(num_nodes,)`, values in `[0, num_graphs)`.
        graph_sizes: int Tensor `(num_graphs,)`. Only its length is read (the
            number of graphs, static under `jit`); the node counts used by
            `"mean"` are counted from `node_graph_ids`.

    Returns:
        Tensor `(num_graphs, width)`.

    Example:

    >>> layer = dlzoo.blocks.GraphReadout("mean")
    >>> out = layer(np.ones((5, 8)), np.array([0, 0, 1, 1, 1]), np.array([2, 3]))
    >>> tuple(out.shape)
    (2, 8)

    Reference:
        - [Xu et al., 2019. How Powerful are Graph Neural Networks?](https://arxiv.org/abs/1810.00826), section 4.2 (readout)
        - [Gilmer et al., 2017. Neural Message Passing for Quantum Chemistry](https://arxiv.org/abs/1704.01212) (readout phase)
    """

    def __init__(self, pooling="sum", **kwargs):
        super().__init__(**kwargs)
        self.pooling = check_choice("pooling", pooling, READOUTS)

    def call(self, node_states, node_graph_ids, graph_sizes):
        # Shapes: node_states (n, d), node_graph_ids (n,), graph_sizes (g,).
        x = ops.cast(node_states, self.compute_dtype)
        ids = ops.cast(node_graph_ids, "int32")
        num_graphs = num_rows(graph_sizes)
        if self.pooling == "sum":
            return ops.segment_sum(x, ids, num_segments=num_graphs)
        ones = ops.ones_like(ops.cast(x[:, :1], "float32"))
        counts = ops.segment_sum(ones, ids, num_segments=num_graphs)  # (g, 1), float32: exact up to 2**24
        if self.pooling == "mean":
            total = ops.segment_sum(x, ids, num_segments=num_graphs)
            return total / ops.cast(ops.maximum(counts, 1.0), x.dtype)
        maxima = ops.segment_max(x, ids, num_segments=num_graphs)
        return ops.where(counts > 0, maxima, ops.zeros_like(maxima))

    def compute_output_shape(self, node_states_shape, node_graph_ids_shape=None, graph_sizes_shape=None):
        num_graphs = None if graph_sizes_shape is None else graph_sizes_shape[0]
        return (num_graphs, node_states_shape[-1])

    def count_params_for(self, input_shape, **other_shapes):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a segment reduction, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config["pooling"] = self.pooling
        return config
