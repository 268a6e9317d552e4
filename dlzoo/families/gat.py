"""The `gat` family: graph attention networks (Veličković et al., 2018)."""

from dlzoo.families._graph_network import build_graph_network, graph_network_params
from dlzoo.parameters import routed_to
from dlzoo.registry import register_model
from dlzoo.validation import check_positive_int


@register_model(
    "gat",
    paper="arXiv:1710.10903",
    params=graph_network_params(
        num_heads=8,
        head_dim=8,
        output_num_heads=1,
        activation="elu",
        gat=routed_to(
            "gat_conv",
            reserved=("num_heads", "head_dim", "concat_heads"),
            negative_slope=0.2,
            attention_dropout=0.0,
            use_self_loops=True,
            use_bias=True,
        ),
    ),
)
def gat(p):
    """A graph attention network: `num_layers` `gat_conv`s with an activation and dropout between.

    Hidden layers concatenate `num_heads` heads of `head_dim` features; an
    output `gat_conv` (node task, `output_layer="conv"`) averages
    `output_num_heads` heads of `num_classes` features. The paper's Cora
    model: two layers, 8 heads x 8 features, ELU, one output head, dropout
    0.6 on every layer's input and on the attention coefficients.

    Args:
        node_feature_dim: int. Input features per node. Defaults to `16`.
        num_heads: int. Heads of every hidden layer. Defaults to `8`.
        head_dim: int. Features per head of the hidden layers (the node
            states are `num_heads * head_dim` wide). Defaults to `8`.
        output_num_heads: int. Heads of the output `gat_conv`, averaged.
            Defaults to `1`.
        num_layers: int. Number of `gat_conv` layers (the output layer
            included when it is a convolution). Defaults to `2`.
        task: str. `"node"` or `"graph"`. Defaults to `"node"`.
        num_classes: int. Classes of the head; `0` drops it (`pooled_output`).
            Defaults to `2`.
        output_layer: str. `"conv"` (node task: a `gat_conv` to the
            classes) or `"dense"`. Defaults to `"conv"`.
        use_input_projection: bool. A dense input layer to the hidden width.
            Defaults to `False`.
        activation: str. Activation after each hidden layer. Defaults to `"elu"`.
        dropout: float. Dropout on the input of every layer and of the head.
            Defaults to `0.0`.
        readout: str. `graph_readout` pooling (graph task). Defaults to `"sum"`.
        readout_from_every_layer: bool. Graph task: concatenate the read-outs
            of the input and of every layer. Defaults to `False`.
        gat: dict. Arguments of every `gat_conv` (`negative_slope`,
            `attention_dropout`, `use_self_loops`, `use_bias`).

    Returns:
        A plan with the graph inputs of the `gcn` family, the output
        `logits` (or `pooled_output`) and the features `conv_<i>`,
        `node_states` and `pooled_output`.

    Reference:
        - [Veličković et al., 2018. Graph Attention Networks](https://arxiv.org/abs/1710.10903)
    """
    num_heads = check_positive_int("num_heads", p["num_heads"])
    head_dim = check_positive_int("head_dim", p["head_dim"])
    output_num_heads = check_positive_int("output_num_heads", p["output_num_heads"])

    def conv_layer(plan, name, output_dim=None):
        if output_dim is None:
            return plan.block(name, "gat_conv", num_heads=num_heads, head_dim=head_dim, concat_heads=True, **p["gat"])
        return plan.block(
            name, "gat_conv", num_heads=output_num_heads, head_dim=output_dim, concat_heads=False, **p["gat"]
        )

    return build_graph_network(p, num_heads * head_dim, conv_layer)
