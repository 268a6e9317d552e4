"""The `gin` family: graph isomorphism networks (Xu et al., 2019)."""

from dlzoo.families._graph_network import build_graph_network, graph_network_params
from dlzoo.parameters import routed_to
from dlzoo.registry import register_model
from dlzoo.validation import check_positive_int


@register_model(
    "gin",
    paper="arXiv:1810.00826",
    params=graph_network_params(
        hidden_dim=64,
        num_layers=4,
        task="graph",
        output_layer="dense",
        readout="sum",
        readout_from_every_layer=True,
        gin=routed_to(
            "gin_conv",
            reserved=("output_dim",),
            intermediate_dim=None,
            activation="relu",
            eps=0.0,
            train_eps=False,
            use_batch_norm=True,
        ),
    ),
)
def gin(p):
    """A graph isomorphism network: `num_layers` `gin_conv`s, a read-out of every layer, a linear classifier.

    The paper's graph classifier: 5 "GNN layers (including the input
    layer)" -- the input features and 4 GIN layers -- each with a 2-layer
    MLP of width 64 with batch normalisation, then the sum read-outs of all
    5 levels concatenated and classified by a linear layer (the paper sums
    one linear score per level, which is the same function), dropout 0.5
    before it. `train_eps=False, eps=0` is GIN-0, `train_eps=True` GIN-eps.

    Args:
        node_feature_dim: int. Input features per node. Defaults to `16`.
        hidden_dim: int. Width of the node states (and, unless
            `gin.intermediate_dim` is set, of each MLP). Defaults to `64`.
        num_layers: int. Number of `gin_conv` layers. Defaults to `4`.
        task: str. `"graph"` or `"node"`. Defaults to `"graph"`.
        num_classes: int. Classes of the head; `0` drops it (`pooled_output`).
            Defaults to `2`.
        output_layer: str. `"dense"` (a linear classifier) or `"conv"`
            (node task: a last `gin_conv` to the classes). Defaults to `"dense"`.
        use_input_projection: bool. A dense input layer to `hidden_dim`.
            Defaults to `False`.
        activation: str. Activation after each layer. Defaults to `"relu"`.
        dropout: float. Dropout on the input of every layer and of the head.
            Defaults to `0.0`.
        readout: str. `graph_readout` pooling. Defaults to `"sum"`.
        readout_from_every_layer: bool. Concatenate the read-outs of the
            input and of every layer (the paper's). Defaults to `True`.
        gin: dict. Arguments of every `gin_conv` (`intermediate_dim`,
            `activation`, `eps`, `train_eps`, `use_batch_norm`).

    Returns:
        A plan with the graph inputs of the `gcn` family, the output
        `logits` (or `pooled_output`) and the features `conv_<i>`,
        `node_states` and `pooled_output`.

    Notes:
        The reference code also normalises and activates each layer's output
        (batch norm, ReLU) outside the MLP; here the activation follows each
        layer and batch normalisation sits inside the MLP only.

    Reference:
        - [Xu et al., 2019. How Powerful are Graph Neural Networks?](https://arxiv.org/abs/1810.00826), section 7
    """
    hidden_dim = check_positive_int("hidden_dim", p["hidden_dim"])

    def conv_layer(plan, name, output_dim=None):
        return plan.block(name, "gin_conv", output_dim=output_dim or hidden_dim, **p["gin"])

    return build_graph_network(p, hidden_dim, conv_layer)
