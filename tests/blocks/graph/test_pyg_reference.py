"""The graph blocks against PyTorch Geometric (torch-geometric 2.x): our weights copied into `GCNConv`,
`GATConv` and `GINConv`, outputs compared on random graphs (float32, <= 1e-5), and parameter counts
compared with PyG's for the same configuration. Torch suite only (PyG runs on torch)."""

import keras
import numpy as np
import pytest

from dlzoo.blocks import GATConv, GCNConv, GINConv

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch Geometric reference: torch suite only")

torch = pytest.importorskip("torch")
pyg = pytest.importorskip("torch_geometric.nn")


def random_graphs():
    """Three random graphs: duplicate edges, input self-loops, isolated nodes; F = 5 features."""
    rng = np.random.default_rng(0)
    for num_nodes, num_edges in ((7, 20), (12, 5), (30, 150)):
        x = rng.standard_normal((num_nodes, 5)).astype("float32")
        edges = rng.integers(0, num_nodes, (num_edges, 2)).astype("int32")
        edges[0, 1] = edges[0, 0]
        edges[1] = edges[2]
        yield x, edges


def _t(array):
    return torch.tensor(np.asarray(array), dtype=torch.float32)


def _pyg_edges(edges):
    return torch.tensor(edges.T.astype("int64"))  # PyG: (2, E), row 0 = source, flow source -> target


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_gcn_conv_matches_pyg():
    for x, edges in random_graphs():
        for use_self_loops in (True, False):
            ours = GCNConv(4, use_self_loops=use_self_loops, bias_initializer="random_normal")
            out = _numpy(ours(x, edges))
            ref = pyg.GCNConv(5, 4, add_self_loops=use_self_loops)
            with torch.no_grad():
                ref.lin.weight.copy_(_t(_numpy(ours.kernel).T))
                ref.bias.copy_(_t(_numpy(ours.bias)))
                expected = ref(torch.tensor(x), _pyg_edges(edges)).numpy()
            np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0, err_msg=f"self-loops={use_self_loops}")
            assert ours.count_params() == sum(p.numel() for p in ref.parameters())


def test_gat_conv_matches_pyg():
    for x, edges in random_graphs():
        for concat_heads in (True, False):
            ours = GATConv(3, 4, concat_heads=concat_heads, negative_slope=0.2, bias_initializer="random_normal")
            out = _numpy(ours(x, edges))
            ref = pyg.GATConv(5, 4, heads=3, concat=concat_heads, negative_slope=0.2)
            with torch.no_grad():
                ref.lin.weight.copy_(_t(_numpy(ours.kernel).T))
                ref.att_src.copy_(_t(_numpy(ours.attention_source))[None])
                ref.att_dst.copy_(_t(_numpy(ours.attention_target))[None])
                ref.bias.copy_(_t(_numpy(ours.bias)))
                expected = ref(torch.tensor(x), _pyg_edges(edges)).numpy()
            np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0, err_msg=f"concat={concat_heads}")
            assert ours.count_params() == sum(p.numel() for p in ref.parameters())


def test_gin_conv_matches_pyg():
    for x, edges in random_graphs():
        ours = GINConv(4, intermediate_dim=6, eps=0.25, train_eps=True, bias_initializer="random_normal")
        out = _numpy(ours(x, edges))
        mlp = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4))
        ref = pyg.GINConv(mlp, eps=0.25, train_eps=True)
        with torch.no_grad():
            for linear, dense in ((mlp[0], ours.inner_dense), (mlp[2], ours.outer_dense)):
                linear.weight.copy_(_t(_numpy(dense.kernel).T))
                linear.bias.copy_(_t(_numpy(dense.bias)))
            expected = ref(torch.tensor(x), _pyg_edges(edges)).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)
        assert ours.count_params() == sum(p.numel() for p in ref.parameters())


def test_a_graph_with_100k_edges_needs_no_dense_adjacency():
    # 20,000 nodes: a dense adjacency would hold 4e8 entries; the edge list holds 2e5.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20_000, 8)).astype("float32")
    edges = rng.integers(0, 20_000, (100_000, 2)).astype("int32")
    ours = GATConv(2, 4)
    out = _numpy(ours(x, edges))
    ref = pyg.GATConv(8, 4, heads=2)
    with torch.no_grad():
        ref.lin.weight.copy_(_t(_numpy(ours.kernel).T))
        ref.att_src.copy_(_t(_numpy(ours.attention_source))[None])
        ref.att_dst.copy_(_t(_numpy(ours.attention_target))[None])
        expected = ref(torch.tensor(x), _pyg_edges(edges)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)
