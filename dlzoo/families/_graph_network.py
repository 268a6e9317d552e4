"""What the gcn, gat and gin families share: the graph inputs, the stack of message-passing layers and the heads.

Private: a helper of the family files, not a family. The graph batch follows
the convention of `dlzoo/blocks/graph/message_passing.py` (one row per node,
edge or graph; `dlzoo.graphs.pack_graphs` builds it).
"""

from dlzoo.blocks.feedforward._common import KERAS_ACTIVATIONS
from dlzoo.plan import Plan
from dlzoo.validation import check_bool, check_choice, check_int, check_positive_int, check_rate

TASKS = ("node", "graph")
OUTPUT_LAYERS = ("conv", "dense")


def graph_network_params(**defaults):
    """The parameters every message-passing family takes, with this family's defaults."""
    params = dict(
        node_feature_dim=16,
        num_layers=2,
        task="node",
        num_classes=2,
        output_layer="conv",
        use_input_projection=False,
        activation="relu",
        dropout=0.0,
        readout="sum",
        readout_from_every_layer=False,
    )
    params.update(defaults)
    return params


def check_graph_network_params(p):
    """The rules that span blocks (each block checks its own arguments)."""
    check_positive_int("node_feature_dim", p["node_feature_dim"])
    check_positive_int("num_layers", p["num_layers"])
    check_choice("task", p["task"], TASKS)
    check_int("num_classes", p["num_classes"], min_value=0)
    check_choice("output_layer", p["output_layer"], OUTPUT_LAYERS)
    check_bool("use_input_projection", p["use_input_projection"])
    check_rate("dropout", p["dropout"])
    check_choice("activation", p["activation"], KERAS_ACTIVATIONS)  # a Keras `activation` layer between the convs
    check_bool("readout_from_every_layer", p["readout_from_every_layer"])
    if p["task"] == "graph" and p["output_layer"] == "conv" and p["num_classes"]:
        raise ValueError(
            "A graph-level task classifies the read-out graph vectors with a dense layer: "
            "`output_layer` must be 'dense' with task='graph'. "
            f"Received: task={p['task']!r}, output_layer={p['output_layer']!r}."
        )


def _output_conv(p):
    return p["task"] == "node" and bool(p["num_classes"]) and p["output_layer"] == "conv"


def graph_inputs(plan, p):
    """Declare the graph batch inputs: node features and edges, plus graph ids and sizes for a graph task."""
    inputs = {
        "node_features": plan.input("node_features", (p["node_feature_dim"],), "float32"),
        "edge_index": plan.input("edge_index", (2,), "int32"),
    }
    if p["task"] == "graph":
        inputs["node_graph_ids"] = plan.input("node_graph_ids", (), "int32")
        inputs["graph_sizes"] = plan.input("graph_sizes", (), "int32")
    return inputs


def _dropout(plan, name, h, rate):
    return plan.block(name, "dropout", rate=rate)(h) if rate else h


def build_graph_network(p, hidden_width, conv_layer):
    """The plan of a message-passing network.

    Args:
        p: resolved family parameters (see `graph_network_params`).
        hidden_width: int. Width of the node states after each hidden layer.
        conv_layer: `conv_layer(plan, name, output_dim=None)` adds one
            message-passing block and returns its handle; `output_dim=None`
            asks for a hidden layer (`hidden_width` outputs), an int for the
            output layer (`num_classes` outputs).

    Layout: [dropout ->] input projection (optional) -> `num_layers` x
    ([dropout ->] conv -> activation) -> head. For `task="node"` with
    `output_layer="conv"` and `num_classes > 0` the last of the `num_layers`
    convolutions is the classifier (the GCN and GAT papers' form); otherwise
    every convolution is hidden and a dense layer classifies the node states
    (`task="node"`) or the read-out graph vectors (`task="graph"`).
    """
    check_graph_network_params(p)
    plan = Plan()
    inputs = graph_inputs(plan, p)
    edges = inputs["edge_index"]
    h = inputs["node_features"]
    if p["use_input_projection"]:
        h = plan.block("input_projection", "dense", units=hidden_width, activation=p["activation"])(h)
    states = [h]
    output_conv = _output_conv(p)
    for i in range(p["num_layers"] - (1 if output_conv else 0)):
        h = _dropout(plan, f"dropout_{i}", h, p["dropout"])
        h = conv_layer(plan, f"conv_{i}")(h, edge_index=edges)
        h = plan.block(f"activation_{i}", "activation", activation=p["activation"])(h)
        plan.add_feature(f"conv_{i}", h, level=True, channels=hidden_width)
        states.append(h)
    plan.add_feature("node_states", h)
    if p["task"] == "node":
        pooled = h
    else:
        read = states if p["readout_from_every_layer"] else [h]
        pooled_per_layer = [
            plan.block(f"readout_{i}", "graph_readout", pooling=p["readout"])(
                s, node_graph_ids=inputs["node_graph_ids"], graph_sizes=inputs["graph_sizes"]
            )
            for i, s in enumerate(read)
        ]
        pooled = pooled_per_layer[0]
        if len(pooled_per_layer) > 1:
            pooled = plan.block("readout_concat", "concatenate", axis=-1)(pooled_per_layer)
    plan.add_feature("pooled_output", pooled)
    num_classes = p["num_classes"]
    if not num_classes:
        plan.set_outputs(pooled, name="pooled_output")
        return plan
    head_input = _dropout(plan, "head_dropout", pooled, p["dropout"])
    if output_conv:
        logits = conv_layer(plan, "logits", output_dim=num_classes)(head_input, edge_index=edges)
    else:
        logits = plan.block("logits", "dense", units=num_classes)(head_input)
    plan.set_outputs(logits, name="logits")
    return plan
