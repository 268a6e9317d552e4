"""Graph convolution of Kipf & Welling: symmetric-normalised neighbour averaging with self-loops."""

import keras
from keras import ops

from dlzoo.blocks.feedforward._common import check_initializer, make_initializer
from dlzoo.blocks.graph.message_passing import gather_rows, non_loop_weights, num_rows, scatter_sum, sources_and_targets
from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int

GCN_EXAMPLE_INPUTS = {
    "node_features": (6, 8),
    "edge_index": {"shape": (10, 2), "dtype": "int32", "max": 6},
}


@register_block(
    "gcn_conv",
    paper="arXiv:1609.02907",
    example={"init_kwargs": {"output_dim": 4}, "inputs": GCN_EXAMPLE_INPUTS},
)
class GCNConv(keras.layers.Layer):
    """Graph convolution (GCN): `D^-1/2 (A + I) D^-1/2 X W + b` from an edge list.

    Each node's new state is the sum of its in-neighbours' projected states
    `x_j W`, each weighted by `1 / sqrt(deg(j) deg(i))`, plus its own
    (through the added self-loop), plus a bias. `deg` counts a node's
    incoming edges, self-loop included. This is the paper's
    "renormalisation trick" applied to the first-order Chebyshev
    approximation of a spectral filter; its eigenvalues lie in `(-1, 1]`, so
    stacking layers does not blow up or vanish the signal. The weights are
    computed from the edge list with segment sums: no dense adjacency.

    Args:
        output_dim: int. Width of the output node states.
        use_self_loops: bool. Add one self-loop per node (any self-loop in the
            input is replaced by it, as PyTorch Geometric's
            `add_remaining_self_loops`). Without them a node without
            incoming edges outputs only the bias. Defaults to `True`.
        use_bias: bool. Whether to add a bias after aggregation. Defaults to `True`.
        kernel_initializer: str or dict. Initializer of `W`. Defaults to `"glorot_uniform"`.
        bias_initializer: str or dict. Initializer of `b`. Defaults to `"zeros"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        node_features: Tensor `(num_nodes, input_dim)`.
        edge_index: int Tensor `(num_edges, 2)`, rows `(source, target)`;
            messages flow from source to target. For an undirected graph list
            both directions.

    Returns:
        Tensor `(num_nodes, output_dim)`.

    Example:

    >>> layer = dlzoo.blocks.GCNConv(output_dim=4)
    >>> edges = np.array([[0, 1], [1, 0], [1, 2], [2, 1]])
    >>> tuple(layer(np.ones((3, 8)), edges).shape)
    (3, 4)

    Notes:
        Repeated edges count as often as they appear (as in PyTorch
        Geometric). The normalisation is recomputed at every call (no cache),
        so one layer serves any graph.

    Reference:
        - [Kipf and Welling, 2017. Semi-Supervised Classification with Graph Convolutional Networks](https://arxiv.org/abs/1609.02907), equations 2 and 8
    """

    def __init__(
        self,
        output_dim,
        use_self_loops=True,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.use_self_loops = check_bool("use_self_loops", use_self_loops)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer("bias_initializer", bias_initializer)

    def build(self, node_features_shape, edge_index_shape=None):
        self.kernel = self.add_weight(
            name="kernel", shape=(node_features_shape[-1], self.output_dim), initializer=make_initializer(self.kernel_initializer)
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.output_dim,), initializer=make_initializer(self.bias_initializer))

    def call(self, node_features, edge_index):
        # Shapes: node_features (n, f), edge_index (e, 2). The added self-loops are the per-node term `self_weight`.
        num_nodes = num_rows(node_features)
        x = ops.cast(node_features, self.compute_dtype)
        projected = ops.matmul(x, ops.cast(self.kernel, x.dtype))  # (n, d)
        sources, targets = sources_and_targets(edge_index)
        if self.use_self_loops:
            edge_weight = non_loop_weights(edge_index, "float32")  # the input's self-loops are replaced
        else:
            edge_weight = ops.ones_like(ops.cast(sources, "float32"))
        degree = scatter_sum(edge_weight, targets, num_nodes)  # (n,), float32
        if self.use_self_loops:
            degree = degree + 1.0
        inverse_sqrt = ops.where(degree > 0, ops.rsqrt(ops.maximum(degree, 1e-12)), 0.0)
        coefficient = gather_rows(inverse_sqrt, sources) * edge_weight * gather_rows(inverse_sqrt, targets)  # (e,)
        messages = gather_rows(projected, sources) * ops.cast(coefficient, x.dtype)[:, None]  # (e, d)
        out = scatter_sum(messages, targets, num_nodes)
        if self.use_self_loops:
            out = out + projected * ops.cast(inverse_sqrt * inverse_sqrt, x.dtype)[:, None]  # 1 / deg(i) x_i W
        if self.use_bias:
            out = out + ops.cast(self.bias, x.dtype)
        return out

    def compute_output_shape(self, node_features_shape, edge_index_shape=None):
        return (node_features_shape[0], self.output_dim)

    def count_params_for(self, input_shape, **other_shapes):
        return int(input_shape[-1]) * self.output_dim + (self.output_dim if self.use_bias else 0)

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the node projection (the per-edge weighting is elementwise, not counted)."""
        return dense_flops(input_shape, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "use_self_loops": self.use_self_loops,
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
            }
        )
        return config
