"""Graph attention of Veličković et al.: each node attends over its incoming edges, several heads."""

import keras
from keras import ops

from dlzoo.blocks.feedforward._common import check_initializer, make_initializer
from dlzoo.blocks.graph.message_passing import gather_rows, non_loop_weights, num_rows, scatter_sum, sources_and_targets
from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_float, check_positive_int, check_rate


@register_block(
    "gat_conv",
    paper="arXiv:1710.10903",
    example={
        "init_kwargs": {"num_heads": 2, "head_dim": 4},
        "inputs": {"node_features": (6, 8), "edge_index": {"shape": (10, 2), "dtype": "int32", "max": 6}},
    },
)
class GATConv(keras.layers.Layer):
    """Graph attention (GAT): a softmax over each node's incoming edges weights its neighbours.

    Node states are projected per head, `z = x W` (`(num_nodes, heads,
    head_dim)`). Edge `j -> i` gets the logit
    `LeakyReLU(a_src . z_j + a_dst . z_i)` (the paper's `a^T [W h_i || W h_j]`
    split into its two halves, so it is computed per node, not per edge);
    the logits of the edges entering `i` go through a softmax (shifted by
    their maximum, computed with `segment_max`), and `i`'s new state is the
    attention-weighted sum of `z_j`. The heads are concatenated (hidden
    layers) or averaged (the paper's output layer), then a bias is added.

    Args:
        num_heads: int. Number of attention heads.
        head_dim: int. Width of each head's output.
        concat_heads: bool. Concatenate the heads (`num_heads * head_dim`
            outputs) or average them (`head_dim`). Defaults to `True`.
        negative_slope: float. Slope of the LeakyReLU on the logits.
            Defaults to `0.2` (the paper's).
        attention_dropout: float. Dropout on the attention coefficients
            during training (the paper uses 0.6 on Cora). Defaults to `0.0`.
        use_self_loops: bool. Add one self-loop per node (replacing the
            input's own), so a node attends to itself too, as PyTorch
            Geometric's GATConv does by default. Without them every node
            read must have an incoming edge. Defaults to `True`.
        use_bias: bool. Whether to add a bias. Defaults to `True`.
        kernel_initializer: str or dict. Initializer of `W` and of the
            attention vectors. Defaults to `"glorot_uniform"`.
        bias_initializer: str or dict. Defaults to `"zeros"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        node_features: Tensor `(num_nodes, input_dim)`.
        edge_index: int Tensor `(num_edges, 2)`, rows `(source, target)`.
        training: bool. Whether attention dropout is active.

    Returns:
        Tensor `(num_nodes, num_heads * head_dim)` (or `(num_nodes, head_dim)`
        with `concat_heads=False`).

    Example:

    >>> layer = dlzoo.blocks.GATConv(num_heads=2, head_dim=4)
    >>> edges = np.array([[0, 1], [1, 0], [1, 2], [2, 1]])
    >>> tuple(layer(np.ones((3, 8)), edges).shape)
    (3, 8)

    Notes:
        As PyTorch Geometric (and unlike the paper's dense code), the softmax
        covers only the listed edges plus the self-loop, and repeated edges
        count as often as they appear.

    Reference:
        - [Veličković et al., 2018. Graph Attention Networks](https://arxiv.org/abs/1710.10903), equations 1-6
    """

    def __init__(
        self,
        num_heads,
        head_dim,
        concat_heads=True,
        negative_slope=0.2,
        attention_dropout=0.0,
        use_self_loops=True,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.head_dim = check_positive_int("head_dim", head_dim)
        self.concat_heads = check_bool("concat_heads", concat_heads)
        self.negative_slope = check_float("negative_slope", negative_slope, min_value=0.0)
        self.attention_dropout = check_rate("attention_dropout", attention_dropout)
        self.use_self_loops = check_bool("use_self_loops", use_self_loops)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer("bias_initializer", bias_initializer)
        self.dropout_layer = keras.layers.Dropout(self.attention_dropout, dtype=self.dtype_policy)

    @property
    def output_dim(self):
        return self.num_heads * self.head_dim if self.concat_heads else self.head_dim

    def build(self, node_features_shape, edge_index_shape=None):
        heads, width = self.num_heads, self.head_dim
        self.kernel = self.add_weight(
            name="kernel", shape=(node_features_shape[-1], heads * width), initializer=make_initializer(self.kernel_initializer)
        )
        self.attention_source = self.add_weight(
            name="attention_source", shape=(heads, width), initializer=make_initializer(self.kernel_initializer)
        )
        self.attention_target = self.add_weight(
            name="attention_target", shape=(heads, width), initializer=make_initializer(self.kernel_initializer)
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.output_dim,), initializer=make_initializer(self.bias_initializer))

    def call(self, node_features, edge_index, training=None):
        # Shapes: n nodes, e edges, h heads, c = head_dim. Each node's added self-loop is a per-node term.
        num_nodes = num_rows(node_features)
        x = ops.cast(node_features, self.compute_dtype)
        z = ops.reshape(ops.matmul(x, ops.cast(self.kernel, x.dtype)), (-1, self.num_heads, self.head_dim))  # (n, h, c)
        score_source = ops.sum(z * ops.cast(self.attention_source, x.dtype), axis=-1)  # (n, h)
        score_target = ops.sum(z * ops.cast(self.attention_target, x.dtype), axis=-1)  # (n, h)
        sources, targets = sources_and_targets(edge_index)
        edge_logits = self._leaky_relu(gather_rows(score_source, sources) + gather_rows(score_target, targets))  # (e, h)
        if self.use_self_loops:
            keep = non_loop_weights(edge_index, x.dtype)[:, None]  # (e, 1): the input's self-loops are replaced
            self_logits = self._leaky_relu(score_source + score_target)  # (n, h)
        else:
            keep = ops.ones_like(edge_logits[:, :1])
        # Softmax over each node's incoming edges (and its self-loop), shifted by their maximum.
        lowest = ops.cast(-6.0e4 if "16" in str(x.dtype) else -3.0e38, x.dtype)
        masked = ops.where(keep > 0, edge_logits, lowest)
        maxima = ops.segment_max(masked, targets, num_segments=num_nodes)  # (n, h); -inf/lowest if no edge
        if self.use_self_loops:
            maxima = ops.maximum(maxima, self_logits)
        maxima = ops.stop_gradient(maxima)
        edge_exp = ops.exp(masked - gather_rows(maxima, targets)) * keep  # (e, h)
        total = scatter_sum(edge_exp, targets, num_nodes)  # (n, h)
        if self.use_self_loops:
            self_exp = ops.exp(self_logits - maxima)
            total = total + self_exp
        edge_attention = self.dropout_layer(edge_exp / gather_rows(total, targets), training=training)
        out = scatter_sum(gather_rows(z, sources) * edge_attention[:, :, None], targets, num_nodes)  # (n, h, c)
        if self.use_self_loops:
            self_attention = self.dropout_layer(self_exp / total, training=training)
            out = out + z * self_attention[:, :, None]
        if self.concat_heads:
            out = ops.reshape(out, (-1, self.num_heads * self.head_dim))
        else:
            out = ops.mean(out, axis=1)
        if self.use_bias:
            out = out + ops.cast(self.bias, out.dtype)
        return out

    def _leaky_relu(self, logits):
        return ops.leaky_relu(logits, negative_slope=self.negative_slope)

    def compute_output_shape(self, node_features_shape, edge_index_shape=None):
        return (node_features_shape[0], self.output_dim)

    def count_params_for(self, input_shape, **other_shapes):
        heads_width = self.num_heads * self.head_dim
        return int(input_shape[-1]) * heads_width + 2 * heads_width + (self.output_dim if self.use_bias else 0)

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the node projection (attention scores and weighting are per edge, elementwise)."""
        return dense_flops(input_shape, self.num_heads * self.head_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "head_dim": self.head_dim,
                "concat_heads": self.concat_heads,
                "negative_slope": self.negative_slope,
                "attention_dropout": self.attention_dropout,
                "use_self_loops": self.use_self_loops,
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
            }
        )
        return config
