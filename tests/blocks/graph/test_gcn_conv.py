"""`gcn_conv`: the harness, the paper's dense formula D^-1/2 (A + I) D^-1/2 X W + b in NumPy (float64),
and the argument checks. The comparison with PyTorch Geometric's GCNConv is in `test_pyg_reference.py`."""

import numpy as np

from dlzoo.blocks import GCNConv
from dlzoo.testing import TestCase


def random_graph(rng, num_nodes, num_edges, width):
    x = rng.standard_normal((num_nodes, width)).astype("float32")
    edges = rng.integers(0, num_nodes, (num_edges, 2)).astype("int32")
    return x, edges


def np_gcn(x, edges, kernel, bias, use_self_loops=True):
    """Kipf & Welling equation 8 with a dense adjacency A[target, source] (repeated edges counted)."""
    n = x.shape[0]
    adjacency = np.zeros((n, n))
    for source, target in edges:
        if use_self_loops and source == target:
            continue  # the input's self-loops are replaced by the one added loop
        adjacency[target, source] += 1
    if use_self_loops:
        adjacency += np.eye(n)
    degree = adjacency.sum(axis=1)
    inv_sqrt = np.where(degree > 0, 1 / np.sqrt(np.where(degree > 0, degree, 1)), 0)
    normalised = inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]
    return normalised @ (np.asarray(x, "float64") @ np.asarray(kernel, "float64")) + bias


class GCNConvTest(TestCase):
    def test_block_basics(self):
        # The harness fits with arrays of one length: as many edges as nodes.
        x, edges = random_graph(np.random.default_rng(0), 6, 6, 5)
        self.run_block_test(
            GCNConv,
            init_kwargs={"output_dim": 3},
            input_data={"node_features": x, "edge_index": edges},
            expected_output_shape=(6, 3),
            expected_num_trainable_weights=2,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(1)
        x, edges = random_graph(rng, 9, 25, 4)
        edges[:3, 1] = edges[:3, 0]  # some self-loops in the input
        for use_self_loops in (True, False):
            layer = GCNConv(3, use_self_loops=use_self_loops, bias_initializer="random_normal")
            out = layer(x, edges)
            expected = np_gcn(x, edges, layer.kernel.numpy(), layer.bias.numpy(), use_self_loops)
            self.assertAllClose(out, expected, atol=1e-5, msg=f"use_self_loops={use_self_loops}")

    def test_isolated_node_keeps_its_own_state(self):
        # With a self-loop only, deg = 1: the node's output is x W + b.
        x = np.random.default_rng(2).standard_normal((3, 4)).astype("float32")
        layer = GCNConv(2, use_bias=False)
        out = layer(x, np.array([[0, 1], [1, 0]], "int32"))
        self.assertAllClose(out[2], x[2] @ layer.kernel.numpy(), atol=1e-6)

    def test_count_params_for(self):
        self.assertEqual(GCNConv(7).count_params_for((None, 5)), 5 * 7 + 7)
        self.assertEqual(GCNConv(7, use_bias=False).count_params_for((None, 5)), 35)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "output_dim", "0"):
            GCNConv(0)
        with self.assertRaisesNamed(TypeError, "use_self_loops", "'yes'"):
            GCNConv(4, use_self_loops="yes")
