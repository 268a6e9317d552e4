"""Graph isomorphism network layer of Xu et al.: an MLP of (1 + eps) h_v plus the sum of the neighbours."""

import keras
from keras import ops

from dlzoo.blocks.feedforward._common import (
    check_activation,
    check_initializer,
    get_activation,
    make_initializer,
)
from dlzoo.blocks.graph.message_passing import gather_rows, num_rows, scatter_sum, sources_and_targets
from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_float, check_positive_int


@register_block(
    "gin_conv",
    paper="arXiv:1810.00826",
    example={
        "init_kwargs": {"output_dim": 4, "train_eps": True},
        "inputs": {"node_features": (6, 8), "edge_index": {"shape": (10, 2), "dtype": "int32", "max": 6}},
    },
)
class GINConv(keras.layers.Layer):
    """GIN layer: `MLP((1 + eps) h_v + sum_{u -> v} h_u)`.

    Summing the neighbours (not averaging or taking their maximum) keeps
    the multiset of neighbour states apart, and an MLP on top can then
    represent an injective function of it: the paper proves that such a
    network is as discriminative as the Weisfeiler-Lehman graph isomorphism
    test. `eps` separates a node's own state from its neighbours'; it is a
    constant (GIN-0 with `eps=0`) or learned (`train_eps=True`, GIN-eps).
    The MLP is `Dense(intermediate_dim) -> [BatchNorm] -> activation ->
    Dense(output_dim)` (the paper's 2-layer MLPs with batch normalisation).

    Args:
        output_dim: int. Width of the output node states.
        intermediate_dim: int. Hidden width of the MLP. `None` uses
            `output_dim`. Defaults to `None`.
        activation: str. Activation inside the MLP. Defaults to `"relu"`.
        eps: float. Initial value of `eps`. Defaults to `0.0`.
        train_eps: bool. Learn `eps` (a scalar weight). Defaults to `False`.
        use_batch_norm: bool. Batch normalisation on the MLP's hidden layer.
            Defaults to `False`.
        kernel_initializer: str or dict. Initializer of both kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: str or dict. Initializer of both biases. Defaults to `"zeros"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        node_features: Tensor `(num_nodes, input_dim)`.
        edge_index: int Tensor `(num_edges, 2)`, rows `(source, target)`.
            Self-loops in the list count as neighbours (none are added).
        training: bool. Batch normalisation mode.

    Returns:
        Tensor `(num_nodes, output_dim)`.

    Example:

    >>> layer = dlzoo.blocks.GINConv(output_dim=4)
    >>> edges = np.array([[0, 1], [1, 0], [1, 2], [2, 1]])
    >>> tuple(layer(np.ones((3, 8)), edges).shape)
    (3, 4)

    Reference:
        - [Xu et al., 2019. How Powerful are Graph Neural Networks?](https://arxiv.org/abs/1810.00826), equation 4.1
    """

    def __init__(
        self,
        output_dim,
        intermediate_dim=None,
        activation="relu",
        eps=0.0,
        train_eps=False,
        use_batch_norm=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim, allow_none=True)
        self.activation = check_activation("activation", activation)
        self.eps = check_float("eps", eps)
        self.train_eps = check_bool("train_eps", train_eps)
        self.use_batch_norm = check_bool("use_batch_norm", use_batch_norm)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer("bias_initializer", bias_initializer)
        hidden = self.intermediate_dim or self.output_dim
        dense_args = dict(dtype=self.dtype_policy)
        self.inner_dense = keras.layers.Dense(
            hidden,
            kernel_initializer=make_initializer(self.kernel_initializer),
            bias_initializer=make_initializer(self.bias_initializer),
            name="inner_dense",
            **dense_args,
        )
        self.hidden_norm = keras.layers.BatchNormalization(name="hidden_norm", **dense_args) if use_batch_norm else None
        self.outer_dense = keras.layers.Dense(
            self.output_dim,
            kernel_initializer=make_initializer(self.kernel_initializer),
            bias_initializer=make_initializer(self.bias_initializer),
            name="outer_dense",
            **dense_args,
        )

    def build(self, node_features_shape, edge_index_shape=None):
        hidden = self.intermediate_dim or self.output_dim
        self.epsilon_weight = None
        if self.train_eps:
            self.epsilon_weight = self.add_weight(
                name="eps", shape=(), initializer=keras.initializers.Constant(self.eps)
            )
        self.inner_dense.build((None, node_features_shape[-1]))
        if self.hidden_norm is not None:
            self.hidden_norm.build((None, hidden))
        self.outer_dense.build((None, hidden))

    def call(self, node_features, edge_index, training=None):
        # Shapes: node_features (n, f), edge_index (e, 2).
        num_nodes = num_rows(node_features)
        x = ops.cast(node_features, self.compute_dtype)
        sources, targets = sources_and_targets(edge_index)
        neighbours = scatter_sum(gather_rows(x, sources), targets, num_nodes)  # (n, f)
        eps = ops.cast(self.epsilon_weight, x.dtype) if self.train_eps else self.eps
        h = self.inner_dense((1.0 + eps) * x + neighbours)
        if self.hidden_norm is not None:
            h = self.hidden_norm(h, training=training)
        return self.outer_dense(get_activation(self.activation)(h))

    def compute_output_shape(self, node_features_shape, edge_index_shape=None):
        return (node_features_shape[0], self.output_dim)

    def count_params_for(self, input_shape, **other_shapes):
        hidden = self.intermediate_dim or self.output_dim
        count = (int(input_shape[-1]) + 1) * hidden + (hidden + 1) * self.output_dim
        if self.use_batch_norm:
            count += 4 * hidden  # gamma, beta, moving mean, moving variance
        return count + (1 if self.train_eps else 0)

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the MLP's two projections (the neighbour sum is a reduction, not counted)."""
        hidden = self.intermediate_dim or self.output_dim
        return dense_flops(input_shape, hidden) + dense_flops(tuple(input_shape[:-1]) + (hidden,), self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "intermediate_dim": self.intermediate_dim,
                "activation": self.activation,
                "eps": self.eps,
                "train_eps": self.train_eps,
                "use_batch_norm": self.use_batch_norm,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
            }
        )
        return config
