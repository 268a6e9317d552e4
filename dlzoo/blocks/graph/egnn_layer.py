"""E(n)-equivariant graph convolution (EGNN): node features and coordinates updated together."""

import keras
from keras import ops

from dlzoo.blocks.feedforward._common import check_activation, get_activation
from dlzoo.blocks.graph.message_passing import gather_rows, num_rows, scatter_sum, sources_and_targets
from dlzoo.flops import matmul_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_choice, check_float, check_positive_int

COORDINATE_AGGREGATIONS = ("mean", "sum")


@register_block(
    "egnn_layer",
    paper="arXiv:2102.09844",
    example={
        "init_kwargs": {"hidden_dim": 8, "use_attention": True},
        "inputs": {
            "node_features": (5, 8),
            "coordinates": (5, 3),
            "edge_index": {"shape": (7, 2), "dtype": "int32", "max": 5},
        },
    },
)
class EGNNLayer(keras.layers.Layer):
    """E(n)-equivariant graph convolutional layer (EGCL) of Satorras et al.

    Each node carries invariant features `h_i` and coordinates `x_i` in
    `n`-dimensional space. Messages see the coordinates only through the
    squared distance, so they are invariant to rotations, reflections and
    translations; coordinates move along the relative vectors `x_i - x_j`,
    so they rotate, reflect and translate with the input (equations 3-6):

        m_ij  = phi_e(h_i, h_j, ||x_i - x_j||^2, a_ij)
        x_i'  = x_i + C * sum_j (x_i - x_j) phi_x(m_ij)
        m_i   = sum_j m_ij
        h_i'  = phi_h(h_i, m_i)            (+ h_i with `use_residual`)

    over the edges `j -> i` of the edge list (messages flow from `source` j
    to `target` i). `phi_e` is two dense layers, each followed by the
    activation; `phi_x` a dense layer, the activation and a bias-free dense
    layer to one scalar per edge (initialised small, Xavier-uniform with gain
    0.001, as the reference code); `phi_h` a dense layer, the activation and
    a dense layer. `C = 1 / (number of incoming edges)` for
    `coordinate_aggregation="mean"`, `C = 1` for `"sum"`.

    Args:
        hidden_dim: int. Width of the messages `m_ij` and of the hidden layers
            of `phi_e`, `phi_x` and `phi_h`.
        output_dim: int or None. Width of `h'`. Defaults to `None`: the
            input width (needed by the residual connection).
        activation: str. Activation of the three MLPs. Defaults to `"silu"`.
        use_residual: bool. `h' = h + phi_h(h, m)`. Defaults to `True`.
        use_attention: bool. Multiply each message by a learned gate
            `sigmoid(w . m_ij + b)` (an edge inference in [0, 1], section 3.3).
            Defaults to `False`.
        update_coordinates: bool. Apply equation 4. With `False`, `x' = x`
            and `phi_x` has no weights (the paper's QM9 model, which reads only
            invariant features). Defaults to `True`.
        coordinate_aggregation: str. `"mean"` or `"sum"` of the coordinate
            updates over the incoming edges. Defaults to `"mean"`.
        use_normalized_differences: bool. Move coordinates along unit
            vectors `(x_i - x_j) / (||x_i - x_j|| + epsilon)` (the norm gets no
            gradient) instead of `x_i - x_j`; not used in the paper, may help
            stability. Defaults to `False`.
        use_tanh: bool. Bound `phi_x` with a tanh (stabler, possibly less
            accurate; not used in the paper). Defaults to `False`.
        epsilon: float. Added to the norm by `use_normalized_differences`.
            Defaults to `1e-8`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        node_features: Tensor `(num_nodes, features)`: `h`.
        coordinates: Tensor `(num_nodes, n)`: `x` (any `n`; 3 in space).
        edge_index: int Tensor `(num_edges, 2)`, rows `(source, target)`.
        edge_features: Optional Tensor `(num_edges, edge_features)`: `a_ij`.

    Returns:
        A tuple `(h', x')`: `(num_nodes, output_dim)` and `(num_nodes, n)`.

    Example:

    >>> layer = dlzoo.blocks.EGNNLayer(hidden_dim=16)
    >>> h, x = layer(np.ones((4, 8)), np.random.randn(4, 3), np.array([[0, 1], [1, 0], [2, 3], [3, 2]]))
    >>> tuple(h.shape), tuple(x.shape)
    ((4, 8), (4, 3))

    Notes:
        As `egnn_clean.E_GCL` of the reference code (vgsatorras/egnn), whose
        `residual`, `attention`, `normalize`, `coords_agg` and `tanh` are
        `use_residual`, `use_attention`, `use_normalized_differences`,
        `coordinate_aggregation` and `use_tanh` here. The squared distance
        fed to `phi_e` is never normalised. Node attributes concatenated to
        the input of `phi_h` (the reference's `node_attr`, unused by default)
        are not supported; concatenate them to `node_features` instead.

    Reference:
        - [Satorras et al., 2021. E(n) Equivariant Graph Neural Networks](https://arxiv.org/abs/2102.09844)
    """

    def __init__(
        self,
        hidden_dim,
        output_dim=None,
        activation="silu",
        use_residual=True,
        use_attention=False,
        update_coordinates=True,
        coordinate_aggregation="mean",
        use_normalized_differences=False,
        use_tanh=False,
        epsilon=1e-8,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.activation = check_activation("activation", activation)
        self.use_residual = check_bool("use_residual", use_residual)
        self.use_attention = check_bool("use_attention", use_attention)
        self.update_coordinates = check_bool("update_coordinates", update_coordinates)
        self.coordinate_aggregation = check_choice("coordinate_aggregation", coordinate_aggregation, COORDINATE_AGGREGATIONS)
        self.use_normalized_differences = check_bool("use_normalized_differences", use_normalized_differences)
        self.use_tanh = check_bool("use_tanh", use_tanh)
        self.epsilon = check_float("epsilon", epsilon, min_value=0.0, min_inclusive=False)
        self._activation_fn = get_activation(self.activation)

    # ------------------------------------------------------------------ sizes
    def _output_width(self, features):
        """Width of `h'`; the residual connection needs it equal to the input width."""
        width = features if self.output_dim is None else self.output_dim
        if self.use_residual and width != features:
            raise ValueError(
                "`use_residual=True` adds `h` to `phi_h(h, m)`, so `output_dim` must equal the width of "
                f"`node_features` (or be None). Received: output_dim={self.output_dim}, node_features width={features}."
            )
        return width

    @staticmethod
    def _edge_feature_width(edge_features_shape):
        return 0 if edge_features_shape is None else int(edge_features_shape[-1])

    def _dense(self, units, name, activation=None, use_bias=True, kernel_initializer="glorot_uniform"):
        return keras.layers.Dense(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    # ------------------------------------------------------------------ layers
    def build(self, node_features_shape, coordinates_shape=None, edge_index_shape=None, edge_features_shape=None):
        # Shape legend: n = nodes, e = edges, f = input width, d = hidden_dim,
        # o = output width, a = edge feature width.
        f = int(node_features_shape[-1])
        d, o = self.hidden_dim, self._output_width(f)
        message_input = 2 * f + 1 + self._edge_feature_width(edge_features_shape)
        self.edge_mlp_1 = self._dense(d, "edge_mlp_1", activation=self._activation_fn)
        self.edge_mlp_1.build((None, message_input))
        self.edge_mlp_2 = self._dense(d, "edge_mlp_2", activation=self._activation_fn)
        self.edge_mlp_2.build((None, d))
        if self.use_attention:
            self.attention_gate = self._dense(1, "attention_gate", activation="sigmoid")
            self.attention_gate.build((None, d))
        if self.update_coordinates:
            self.coordinate_mlp_1 = self._dense(d, "coordinate_mlp_1", activation=self._activation_fn)
            self.coordinate_mlp_1.build((None, d))
            # Xavier-uniform with gain 0.001 (the reference's init): variance scale = gain**2.
            small = keras.initializers.VarianceScaling(scale=1e-6, mode="fan_avg", distribution="uniform")
            self.coordinate_mlp_2 = self._dense(1, "coordinate_mlp_2", use_bias=False, kernel_initializer=small)
            self.coordinate_mlp_2.build((None, d))
        self.node_mlp_1 = self._dense(d, "node_mlp_1", activation=self._activation_fn)
        self.node_mlp_1.build((None, f + d))
        self.node_mlp_2 = self._dense(o, "node_mlp_2")
        self.node_mlp_2.build((None, d))
        self.built = True

    def call(self, node_features, coordinates, edge_index, edge_features=None):
        # Shapes: h (n, f), x (n, c), edge_index (e, 2); i = target, j = source of an edge.
        h = ops.cast(node_features, self.compute_dtype)
        x = ops.cast(coordinates, self.compute_dtype)
        sources, targets = sources_and_targets(edge_index)
        num_nodes = num_rows(h)
        differences = gather_rows(x, targets) - gather_rows(x, sources)  # x_i - x_j: (e, c)
        squared_distances = ops.sum(ops.square(differences), axis=-1, keepdims=True)  # (e, 1)
        parts = [gather_rows(h, targets), gather_rows(h, sources), squared_distances]
        if edge_features is not None:
            parts.append(ops.cast(edge_features, self.compute_dtype))
        messages = self.edge_mlp_2(self.edge_mlp_1(ops.concatenate(parts, axis=-1)))  # m_ij: (e, d), eq. 3
        if self.use_attention:
            messages = messages * self.attention_gate(messages)
        if self.update_coordinates:
            x = x + self._coordinate_update(differences, squared_distances, messages, targets, num_nodes)  # eq. 4
        aggregated = scatter_sum(messages, targets, num_nodes)  # m_i: (n, d), eq. 5
        out = self.node_mlp_2(self.node_mlp_1(ops.concatenate([h, aggregated], axis=-1)))  # (n, o), eq. 6
        if self.use_residual:
            out = h + out
        return out, x

    def _coordinate_update(self, differences, squared_distances, messages, targets, num_nodes):
        """`C * sum_j (x_i - x_j) phi_x(m_ij)` for every node i: `(n, c)`."""
        if self.use_normalized_differences:
            norm = ops.stop_gradient(ops.sqrt(squared_distances)) + ops.cast(self.epsilon, differences.dtype)
            differences = differences / norm
        weights = self.coordinate_mlp_2(self.coordinate_mlp_1(messages))  # phi_x(m_ij): (e, 1)
        if self.use_tanh:
            weights = ops.tanh(weights)
        total = scatter_sum(differences * weights, targets, num_nodes)
        if self.coordinate_aggregation == "sum":
            return total
        counts = scatter_sum(ops.ones_like(weights), targets, num_nodes)  # incoming edges per node: (n, 1)
        return total / ops.maximum(counts, ops.cast(1.0, counts.dtype))

    def compute_output_shape(self, node_features_shape, coordinates_shape=None, edge_index_shape=None, edge_features_shape=None):
        features = self._output_width(int(node_features_shape[-1]))
        coordinates = tuple(coordinates_shape) if coordinates_shape is not None else (node_features_shape[0], None)
        return (node_features_shape[0], features), coordinates

    def count_params_for(self, input_shape, coordinates_shape=None, edge_index_shape=None, edge_features_shape=None):
        f = int(input_shape[-1])
        d, o = self.hidden_dim, self._output_width(f)
        message_input = 2 * f + 1 + self._edge_feature_width(edge_features_shape)
        count = (message_input * d + d) + (d * d + d)  # phi_e
        count += (d + 1) if self.use_attention else 0
        count += (d * d + d + d) if self.update_coordinates else 0  # phi_x (last layer without bias)
        count += ((f + d) * d + d) + (d * o + o)  # phi_h
        return count

    def flops_for(self, input_shape, coordinates_shape=None, edge_index_shape=None, edge_features_shape=None, **other_shapes):
        """Forward FLOPs: the dense layers of `phi_e`, the gate and `phi_x` per edge, `phi_h` per node (`dlzoo.flops`)."""
        n, f = int(input_shape[0]), int(input_shape[-1])
        e = int(edge_index_shape[0])
        d, o = self.hidden_dim, self._output_width(f)
        message_input = 2 * f + 1 + self._edge_feature_width(edge_features_shape)
        flops = matmul_flops(e, message_input, d) + matmul_flops(e, d, d)
        flops += matmul_flops(e, d, 1) if self.use_attention else 0
        flops += (matmul_flops(e, d, d) + matmul_flops(e, d, 1)) if self.update_coordinates else 0
        return flops + matmul_flops(n, f + d, d) + matmul_flops(n, d, o)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "output_dim": self.output_dim,
                "activation": self.activation,
                "use_residual": self.use_residual,
                "use_attention": self.use_attention,
                "update_coordinates": self.update_coordinates,
                "coordinate_aggregation": self.coordinate_aggregation,
                "use_normalized_differences": self.use_normalized_differences,
                "use_tanh": self.use_tanh,
                "epsilon": self.epsilon,
            }
        )
        return config
