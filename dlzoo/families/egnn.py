"""The `egnn` family: E(n)-equivariant graph neural networks (Satorras et al., 2021)."""

from dlzoo.parameters import routed_to
from dlzoo.plan import Plan
from dlzoo.registry import register_model
from dlzoo.validation import check_choice, check_int, check_positive_int

TASKS = ("node", "graph")


def _inputs(plan, p):
    """The graph batch (see `dlzoo/blocks/graph/message_passing.py`): one row per node, edge or graph."""
    inputs = {
        "node_features": plan.input("node_features", (p["node_feature_dim"],), "float32"),
        "coordinates": plan.input("coordinates", (p["coordinate_dim"],), "float32"),
        "edge_index": plan.input("edge_index", (2,), "int32"),
    }
    if p["edge_feature_dim"]:
        inputs["edge_features"] = plan.input("edge_features", (p["edge_feature_dim"],), "float32")
    if p["task"] == "graph":
        inputs["node_graph_ids"] = plan.input("node_graph_ids", (), "int32")
        inputs["graph_sizes"] = plan.input("graph_sizes", (), "int32")
    return inputs


def _equivariant_layers(plan, h, inputs, p):
    """`num_layers` EGNN layers; each layer's node states are a level feature."""
    x = inputs["coordinates"]
    edges = {"edge_index": inputs["edge_index"]}
    if "edge_features" in inputs:
        edges["edge_features"] = inputs["edge_features"]
    for i in range(p["num_layers"]):
        name = f"egnn_layer_{i}"
        h, x = plan.block(name, "egnn_layer", hidden_dim=p["hidden_dim"], **p["egnn"])(
            h, coordinates=x, **edges, num_outputs=2
        )
        plan.add_feature(name, h, level=True, channels=p["hidden_dim"])
    return h, x


def _graph_head(plan, h, inputs, p):
    """The QM9 read-out of the paper: node MLP, a sum (or `readout`) over each graph, graph MLP."""
    activation, width = p["egnn"]["activation"], p["hidden_dim"]
    h = plan.block("node_decoder_1", "dense", units=width, activation=activation)(h)
    h = plan.block("node_decoder_2", "dense", units=width)(h)
    pooled = plan.block("readout", "graph_readout", pooling=p["readout"])(
        h, node_graph_ids=inputs["node_graph_ids"], graph_sizes=inputs["graph_sizes"]
    )
    plan.add_feature("pooled_output", pooled)
    pooled = plan.block("graph_decoder_1", "dense", units=width, activation=activation)(pooled)
    return plan.block("graph_outputs", "dense", units=p["num_outputs"])(pooled)


@register_model(
    "egnn",
    paper="arXiv:2102.09844",
    params=dict(
        node_feature_dim=15,
        coordinate_dim=3,
        edge_feature_dim=0,
        hidden_dim=128,
        num_layers=4,
        task="graph",
        num_outputs=1,
        readout="sum",
        egnn=routed_to(
            "egnn_layer",
            reserved=("hidden_dim", "output_dim"),
            activation="silu",
            use_residual=True,
            use_attention=False,
            update_coordinates=True,
            coordinate_aggregation="mean",
            use_normalized_differences=False,
            use_tanh=False,
        ),
    ),
)
def egnn(p):
    """An E(n)-equivariant graph neural network: invariant node features and equivariant coordinates.

    A dense input embedding maps the node features to `hidden_dim`; then
    `num_layers` `egnn_layer`s update the node features `h` (invariant to
    rotations, reflections and translations of the coordinates) and the
    coordinates `x` (equivariant: they rotate, reflect and translate with
    the input); everything is equivariant to a relabelling of the nodes.

    * `task="node"` (the reference `EGNN` module): a dense output embedding
      gives `num_outputs` values per node.
    * `task="graph"` (the paper's QM9 model): a node MLP (dense, activation,
      dense), a `graph_readout` (`readout`, a sum in the paper) of each
      graph's nodes, and a graph MLP (dense, activation, dense) to
      `num_outputs` values per graph, e.g. one molecular property.

    Args:
        node_feature_dim: int. Input features per node (15 for the paper's
            QM9 atoms: 5 atom types times 3 powers of the charge). Defaults
            to `15`.
        coordinate_dim: int. Dimension `n` of the coordinates. Defaults to `3`.
        edge_feature_dim: int. Features per edge `a_ij` (0: no
            `edge_features` input). Defaults to `0`.
        hidden_dim: int. Width of the embedding, the messages and the MLPs.
            Defaults to `128`.
        num_layers: int. Number of EGNN layers. Defaults to `4`.
        task: str. `"node"` or `"graph"`. Defaults to `"graph"`.
        num_outputs: int. Values per node or per graph (regression targets,
            or logits). Defaults to `1`.
        readout: str. `graph_readout` pooling of the graph task: `"sum"`,
            `"mean"` or `"max"`. Defaults to `"sum"`.
        egnn: dict. Arguments of every `egnn_layer` (`activation`, also used
            by the embedding MLPs, `use_residual`, `use_attention`,
            `update_coordinates`, `coordinate_aggregation`,
            `use_normalized_differences`, `use_tanh`).

    Returns:
        A plan with the inputs `node_features (num_nodes, node_feature_dim)`,
        `coordinates (num_nodes, coordinate_dim)`, `edge_index (num_edges, 2)`
        (int32 rows `(source, target)`), `edge_features (num_edges,
        edge_feature_dim)` when `edge_feature_dim > 0`, and for the graph task
        `node_graph_ids (num_nodes,)` and `graph_sizes (num_graphs,)` (int32;
        `dlzoo.graphs.pack_graphs` makes them). The outputs are a dict:
        `node_outputs (num_nodes, num_outputs)` or `graph_outputs
        (num_graphs, num_outputs)`, and `coordinates (num_nodes,
        coordinate_dim)`, the last layer's coordinates, when
        `egnn.update_coordinates` is true. Features: `egnn_layer_<i>` (node
        states, levels), `node_states` (the last layer's), and
        `pooled_output` for the heads (`classification_head`,
        `regression_head`): the read-out graph vectors for the graph task,
        the node states for the node task (one prediction per node).

    Reference:
        - [Satorras et al., 2021. E(n) Equivariant Graph Neural Networks](https://arxiv.org/abs/2102.09844)
        - Reference code: github.com/vgsatorras/egnn (`models/egnn_clean`, `qm9/models.py`)
    """
    check_positive_int("node_feature_dim", p["node_feature_dim"])
    check_positive_int("coordinate_dim", p["coordinate_dim"])
    check_int("edge_feature_dim", p["edge_feature_dim"], min_value=0)
    check_positive_int("num_layers", p["num_layers"])
    check_choice("task", p["task"], TASKS)
    plan = Plan()
    inputs = _inputs(plan, p)
    h = plan.block("embedding_in", "dense", units=p["hidden_dim"])(inputs["node_features"])
    h, x = _equivariant_layers(plan, h, inputs, p)
    plan.add_feature("node_states", h)
    if p["task"] == "graph":
        outputs = {"graph_outputs": _graph_head(plan, h, inputs, p)}
    else:
        plan.add_feature("pooled_output", h)
        outputs = {"node_outputs": plan.block("node_outputs", "dense", units=p["num_outputs"])(h)}
    if p["egnn"].get("update_coordinates", True):
        outputs["coordinates"] = x
    plan.set_outputs(outputs)
    return plan
