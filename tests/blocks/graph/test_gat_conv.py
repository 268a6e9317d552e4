"""`gat_conv`: the harness, the paper's attention (equations 1-6) node by node in NumPy (float64), and the
argument checks. The comparison with PyTorch Geometric's GATConv is in `test_pyg_reference.py`."""

import keras
import numpy as np

from dlzoo.blocks import GATConv
from dlzoo.testing import TestCase


def np_gat(x, edges, kernel, att_source, att_target, bias, concat_heads=True, slope=0.2, use_self_loops=True):
    """For each node i: softmax over its incoming edges j -> i of LeakyReLU(a_src.z_j + a_dst.z_i), then sum of z_j."""
    x = np.asarray(x, "float64")
    heads, width = att_source.shape
    z = (x @ kernel).reshape(len(x), heads, width)
    edge_list = [tuple(e) for e in edges if not (use_self_loops and e[0] == e[1])]
    if use_self_loops:
        edge_list += [(i, i) for i in range(len(x))]
    out = np.zeros((len(x), heads, width))
    for i in range(len(x)):
        sources = [j for j, t in edge_list if t == i]
        if not sources:
            continue
        logits = np.stack([(z[j] * att_source).sum(-1) + (z[i] * att_target).sum(-1) for j in sources])  # (k, h)
        logits = np.where(logits > 0, logits, slope * logits)
        alpha = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
        out[i] = np.einsum("kh,khc->hc", alpha, z[sources])
    out = out.reshape(len(x), -1) if concat_heads else out.mean(1)
    return out + bias


class GATConvTest(TestCase):
    def test_block_basics(self):
        rng = np.random.default_rng(0)
        data = {
            "node_features": rng.standard_normal((6, 5)).astype("float32"),
            "edge_index": rng.integers(0, 6, (6, 2)).astype("int32"),  # as many edges as nodes (harness fit)
        }
        self.run_block_test(
            GATConv,
            init_kwargs={"num_heads": 2, "head_dim": 3, "attention_dropout": 0.1},
            input_data=data,
            expected_output_shape=(6, 6),
            expected_num_trainable_weights=4,
            expected_num_seed_generators=1,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((8, 4)).astype("float32")
        edges = rng.integers(0, 8, (20, 2)).astype("int32")
        edges[:2, 1] = edges[:2, 0]  # input self-loops, replaced by the added ones
        for concat_heads in (True, False):
            layer = GATConv(3, 2, concat_heads=concat_heads, bias_initializer="random_normal")
            out = layer(x, edges)
            weights = [w.numpy() for w in (layer.kernel, layer.attention_source, layer.attention_target, layer.bias)]
            self.assertAllClose(out, np_gat(x, edges, *weights, concat_heads=concat_heads), atol=1e-5)
        # Without self-loops, on a graph where every node has an incoming edge.
        ring = np.stack([np.arange(8), (np.arange(8) + 1) % 8], 1).astype("int32")
        ring = np.concatenate([ring, edges[2:]])
        layer = GATConv(2, 3, use_self_loops=False, negative_slope=0.1)
        out = layer(x, ring)
        weights = [w.numpy() for w in (layer.kernel, layer.attention_source, layer.attention_target, layer.bias)]
        self.assertAllClose(out, np_gat(x, ring, *weights, slope=0.1, use_self_loops=False), atol=1e-5)

    def test_softmax_is_stable_for_large_logits(self):
        x = np.full((3, 2), 1e4, "float32")
        out = GATConv(1, 2, kernel_initializer="ones")(x, np.array([[0, 1], [2, 1]], "int32"))
        self.assertTrue(np.all(np.isfinite(keras.ops.convert_to_numpy(out))))

    def test_count_params_for(self):
        self.assertEqual(GATConv(8, 8).count_params_for((None, 10)), 10 * 64 + 2 * 64 + 64)
        self.assertEqual(GATConv(3, 4, concat_heads=False).count_params_for((None, 5)), 5 * 12 + 24 + 4)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "num_heads", "0"):
            GATConv(0, 4)
        with self.assertRaisesNamed(ValueError, "attention_dropout", "1.5"):
            GATConv(2, 4, attention_dropout=1.5)
