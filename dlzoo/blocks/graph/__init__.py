"""Graph blocks: message passing over an edge list (see `message_passing` for the input convention)."""

from dlzoo.blocks.graph.egnn_layer import EGNNLayer
from dlzoo.blocks.graph.gat_conv import GATConv
from dlzoo.blocks.graph.gcn_conv import GCNConv
from dlzoo.blocks.graph.gin_conv import GINConv
from dlzoo.blocks.graph.graph_readout import GraphReadout

__all__ = ["EGNNLayer", "GATConv", "GCNConv", "GINConv", "GraphReadout"]
