"""Graph blocks: message passing over an edge list (see `message_passing` for the input convention)."""

from dlzoo.blocks.graph.egnn_layer import EGNNLayer
from dlzoo.blocks.graph.graph_readout import GraphReadout

__all__ = ["EGNNLayer", "GraphReadout"]
