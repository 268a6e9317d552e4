"""Graph data: checks of graph arrays, packing many graphs into one disjoint batch, a `PyDataset` of batches.

The layers that consume these batches are the blocks in `dlzoo.blocks.graph`
(the input convention is described in `dlzoo/blocks/graph/message_passing.py`).
"""

from dlzoo.graphs.batching import GraphBatches, pack_graphs
from dlzoo.graphs.validation import check_coordinates, check_edge_index, check_node_features

__all__ = ["GraphBatches", "pack_graphs", "check_coordinates", "check_edge_index", "check_node_features"]
