"""`graph_readout`: the harness, and sum/mean/max per graph against a NumPy loop over the graphs (float64)."""

import numpy as np

from dlzoo.blocks import GraphReadout
from dlzoo.blocks.graph.graph_readout import READOUTS
from dlzoo.testing import TestCase


def np_readout(h, graph_ids, num_graphs, pooling):
    """Each graph's node rows reduced one graph at a time; a graph with no node gives zeros."""
    h = np.asarray(h, "float64")
    out = np.zeros((num_graphs, h.shape[1]))
    for g in range(num_graphs):
        rows = h[graph_ids == g]
        if len(rows):
            out[g] = {"sum": rows.sum, "mean": rows.mean, "max": rows.max}[pooling](axis=0)
    return out


class GraphReadoutTest(TestCase):
    def test_block_basics(self):
        # The harness fits with arrays, which must all have the same length: 4 nodes in 4 graphs, one empty.
        data = {
            "node_states": np.random.default_rng(0).standard_normal((4, 3)).astype("float32"),
            "node_graph_ids": np.array([0, 0, 1, 3], "int32"),
            "graph_sizes": np.array([2, 1, 0, 1], "int32"),
        }
        for pooling in READOUTS:
            self.run_block_test(
                GraphReadout,
                init_kwargs={"pooling": pooling},
                input_data=data,
                expected_output_shape=(4, 3),
                expected_num_trainable_weights=0,
            )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(1)
        ids = np.array([0, 0, 0, 2, 2, 3, 3, 3, 3], "int32")  # graph 1 is empty
        sizes = np.bincount(ids, minlength=4).astype("int32")
        h = rng.standard_normal((len(ids), 5)).astype("float32") - 3.0  # all negative: max must not read 0
        for pooling in READOUTS:
            out = GraphReadout(pooling)(h, ids, sizes)
            self.assertAllClose(out, np_readout(h, ids, 4, pooling), atol=1e-5, msg=pooling)

    def test_graph_count_comes_from_the_shape_of_graph_sizes(self):
        # Trailing graphs with no node still get a row (max(ids) + 1 would miss them).
        out = GraphReadout("sum")(np.ones((3, 2), "float32"), np.array([0, 0, 1], "int32"), np.zeros((5,), "int32"))
        self.assertAllClose(out, [[2, 2], [1, 1], [0, 0], [0, 0], [0, 0]])

    def test_rejects_an_unknown_pooling(self):
        with self.assertRaisesNamed(ValueError, "pooling", "'avg'"):
            GraphReadout("avg")
