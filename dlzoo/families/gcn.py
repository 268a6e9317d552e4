"""The `gcn` family: graph convolutional networks (Kipf & Welling, 2017)."""

from dlzoo.families._graph_network import build_graph_network, graph_network_params
from dlzoo.parameters import routed_to
from dlzoo.registry import register_model
from dlzoo.validation import check_positive_int


@register_model(
    "gcn",
    paper="arXiv:1609.02907",
    params=graph_network_params(
        hidden_dim=16,
        gcn=routed_to("gcn_conv", reserved=("output_dim",), use_self_loops=True, use_bias=True),
    ),
)
def gcn(p):
    """A graph convolutional network: `num_layers` `gcn_conv`s with an activation and dropout between.

    The paper's node classifier is two layers, `softmax(A_hat ReLU(A_hat X
    W0) W1)` with `A_hat = D^-1/2 (A + I) D^-1/2`, dropout on each layer's
    input: `num_layers=2, hidden_dim=16, task="node", output_layer="conv"`.

    Args:
        node_feature_dim: int. Input features per node. Defaults to `16`.
        hidden_dim: int. Width of the hidden node states. Defaults to `16`.
        num_layers: int. Number of `gcn_conv` layers (the output layer
            included when it is a convolution). Defaults to `2`.
        task: str. `"node"` (one prediction per node) or `"graph"` (one per
            graph, after a `graph_readout`). Defaults to `"node"`.
        num_classes: int. Classes of the head; `0` drops it and the model
            outputs `pooled_output`. Defaults to `2`.
        output_layer: str. `"conv"`: the last layer is a `gcn_conv` to the
            classes (node task, the paper's); `"dense"`: a dense layer
            classifies the last node states or graph vectors. Defaults to `"conv"`.
        use_input_projection: bool. A dense layer (with the activation) maps
            the features to `hidden_dim` before the first convolution.
            Defaults to `False`.
        activation: str. Activation after each hidden layer. Defaults to `"relu"`.
        dropout: float. Dropout on the input of every layer and of the head.
            Defaults to `0.0` (the paper: 0.5).
        readout: str. `graph_readout` pooling (graph task). Defaults to `"sum"`.
        readout_from_every_layer: bool. Graph task: concatenate the read-outs
            of the input and of every layer (GIN's read-out) instead of the
            last layer's only. Defaults to `False`.
        gcn: dict. Arguments of every `gcn_conv` (`use_self_loops`, `use_bias`).

    Returns:
        A plan with the inputs `node_features (num_nodes, node_feature_dim)`,
        `edge_index (num_edges, 2)` (int32 rows `(source, target)`) and, for
        the graph task, `node_graph_ids (num_nodes,)` and `graph_sizes
        (num_graphs,)` (`dlzoo.graphs.pack_graphs` makes them); the output
        `logits (num_nodes or num_graphs, num_classes)` (or `pooled_output`).
        Features: `conv_<i>` (levels), `node_states`, and `pooled_output`
        (node states for the node task, read-out graph vectors for the graph
        task), which the heads (`classification_head`) read.

    Reference:
        - [Kipf and Welling, 2017. Semi-Supervised Classification with Graph Convolutional Networks](https://arxiv.org/abs/1609.02907)
    """
    hidden_dim = check_positive_int("hidden_dim", p["hidden_dim"])

    def conv_layer(plan, name, output_dim=None):
        return plan.block(name, "gcn_conv", output_dim=output_dim or hidden_dim, **p["gcn"])

    return build_graph_network(p, hidden_dim, conv_layer)
