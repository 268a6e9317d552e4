"""`gin_conv`: the harness, the paper's update MLP((1 + eps) h_v + sum of neighbours) in NumPy (float64),
a learned eps, and the argument checks. The comparison with PyTorch Geometric's GINConv is in
`test_pyg_reference.py`."""

import numpy as np

from dlzoo.blocks import GINConv
from dlzoo.testing import TestCase


def np_gin(x, edges, eps, w1, b1, w2, b2):
    x = np.asarray(x, "float64")
    aggregated = (1 + eps) * x
    for source, target in edges:
        aggregated[target] += x[source]
    return np.maximum(aggregated @ w1 + b1, 0) @ w2 + b2


class GINConvTest(TestCase):
    def test_block_basics(self):
        rng = np.random.default_rng(0)
        data = {
            "node_features": rng.standard_normal((6, 5)).astype("float32"),
            "edge_index": rng.integers(0, 6, (6, 2)).astype("int32"),
        }
        self.run_block_test(
            GINConv,
            init_kwargs={"output_dim": 3, "intermediate_dim": 4, "train_eps": True, "use_batch_norm": True},
            input_data=data,
            expected_output_shape=(6, 3),
            expected_num_trainable_weights=7,  # eps, 2 x (kernel, bias), gamma, beta
            expected_num_non_trainable_weights=2,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((7, 4)).astype("float32")
        edges = rng.integers(0, 7, (15, 2)).astype("int32")
        for eps, train_eps in ((0.0, False), (0.3, True), (-0.2, False)):
            layer = GINConv(3, intermediate_dim=5, eps=eps, train_eps=train_eps, bias_initializer="random_normal")
            out = layer(x, edges)
            dense = [w.numpy() for w in (*layer.inner_dense.weights, *layer.outer_dense.weights)]
            self.assertAllClose(out, np_gin(x, edges, eps, *dense), atol=1e-5, msg=f"eps={eps}")

    def test_train_eps_learns_eps(self):
        layer = GINConv(2, eps=0.5, train_eps=True)
        layer(np.ones((2, 3), "float32"), np.array([[0, 1]], "int32"))
        self.assertEqual([w.path.split("/")[-1] for w in layer.trainable_weights][0], "eps")
        self.assertAllClose(layer.epsilon_weight, 0.5)
        self.assertEqual(len(GINConv(2).trainable_weights), 0)

    def test_count_params_for(self):
        self.assertEqual(GINConv(64, train_eps=True).count_params_for((None, 7)), 8 * 64 + 65 * 64 + 1)
        self.assertEqual(GINConv(3, 5, use_batch_norm=True).count_params_for((None, 4)), 5 * 5 + 6 * 3 + 20)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "activation", "'relux'"):
            GINConv(4, activation="relux")
        with self.assertRaisesNamed(TypeError, "eps", "'a'"):
            GINConv(4, eps="a")
