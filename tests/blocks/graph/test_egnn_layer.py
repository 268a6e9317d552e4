"""EGNNLayer: the harness, a float64 NumPy reference of equations (3)-(6), and E(n) equivariance."""

import keras
import numpy as np

from dlzoo.blocks.graph import EGNNLayer
from dlzoo.testing import TestCase
from dlzoo.testing.geometry import random_orthogonal_matrix, relabel_nodes

# A graph with 6 nodes and 6 edges (the harness' fit step needs every input to have the same first size):
# a directed ring plus one chord; node 5 receives two messages, node 0 one.
RING = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0]], "int32")
CHORD = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [2, 5]], "int32")


def _silu(z):
    return z / (1.0 + np.exp(-z))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _weights(layer):
    """The layer's dense weights as float64 NumPy, by sub-layer name."""
    found = {}
    for sub in ("edge_mlp_1", "edge_mlp_2", "attention_gate", "coordinate_mlp_1", "coordinate_mlp_2", "node_mlp_1", "node_mlp_2"):
        if hasattr(layer, sub):
            dense = getattr(layer, sub)
            bias = None if dense.bias is None else np.asarray(keras.ops.convert_to_numpy(dense.bias), "float64")
            found[sub] = (np.asarray(keras.ops.convert_to_numpy(dense.kernel), "float64"), bias)
    return found


def egnn_reference(h, x, edge_index, w, edge_features=None, attention=False, residual=True, update=True,
                   aggregation="mean", normalize=False, tanh=False, epsilon=1e-8):
    """Satorras et al. (2021), equations (3)-(6), node by node in float64 (SiLU MLPs as in egnn_clean)."""
    h, x = h.astype("float64"), x.astype("float64")

    def dense(name, z, act=None):
        kernel, bias = w[name]
        out = z @ kernel + (0.0 if bias is None else bias)
        return act(out) if act else out

    n = len(h)
    messages = {}
    for k, (j, i) in enumerate(edge_index):  # edge j -> i: source j, target i
        inputs = [h[i], h[j], [np.sum((x[i] - x[j]) ** 2)]]
        if edge_features is not None:
            inputs.append(edge_features[k])
        m = dense("edge_mlp_2", dense("edge_mlp_1", np.concatenate(inputs), _silu), _silu)  # eq. (3)
        if attention:
            m = m * dense("attention_gate", m, _sigmoid)
        messages[k] = (i, j, m)
    new_x = x.copy()
    new_h = []
    for i in range(n):
        incoming = [(j, m) for (t, j, m) in messages.values() if t == i]
        if update and incoming:
            step = np.zeros(x.shape[1])
            for j, m in incoming:
                direction = x[i] - x[j]
                if normalize:
                    direction = direction / (np.linalg.norm(direction) + epsilon)
                phi = dense("coordinate_mlp_2", dense("coordinate_mlp_1", m, _silu))
                step += direction * (np.tanh(phi) if tanh else phi)
            new_x[i] = x[i] + (step / len(incoming) if aggregation == "mean" else step)  # eq. (4)
        m_i = sum((m for _, m in incoming), np.zeros(w["edge_mlp_2"][0].shape[1]))  # eq. (5)
        out = dense("node_mlp_2", dense("node_mlp_1", np.concatenate([h[i], m_i]), _silu))  # eq. (6)
        new_h.append(h[i] + out if residual else out)
    return np.stack(new_h), new_x


def _graph(seed, nodes=6, features=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((nodes, features)).astype("float32"), rng.standard_normal((nodes, 3)).astype("float32")


def _randomize_coordinate_head(layer, seed=0):
    """Give phi_x's last layer (initialised at ~1e-3) order-one weights, so coordinate updates are not negligible."""
    kernel = layer.coordinate_mlp_2.kernel
    kernel.assign(np.random.default_rng(seed).standard_normal(kernel.shape).astype("float32") * 0.5)


class EGNNLayerTest(TestCase):
    def test_block_basics(self):
        h, x = _graph(0)
        edge_features = np.random.default_rng(1).standard_normal((6, 2)).astype("float32")
        self.run_block_test(
            EGNNLayer,
            init_kwargs={"hidden_dim": 8, "use_attention": True},
            input_data={"node_features": h, "coordinates": x, "edge_index": CHORD, "edge_features": edge_features},
            expected_output_shape=(6, 4),
            expected_num_trainable_weights=13,
        )

    def test_matches_numpy_reference(self):
        h, x = _graph(2)
        edge_features = np.random.default_rng(3).standard_normal((6, 2)).astype("float32")
        cases = [
            ({"use_attention": True}, {"attention": True}, None),
            ({"coordinate_aggregation": "sum", "use_normalized_differences": True, "use_tanh": True},
             {"aggregation": "sum", "normalize": True, "tanh": True}, edge_features),
            ({"use_residual": False, "output_dim": 5, "update_coordinates": False},
             {"residual": False, "update": False}, None),
        ]
        for init, options, edges_in in cases:
            layer = EGNNLayer(hidden_dim=8, **init)
            call = {} if edges_in is None else {"edge_features": edges_in}
            layer(h, x, CHORD, **call)
            if layer.update_coordinates:
                _randomize_coordinate_head(layer)
            got_h, got_x = layer(h, x, CHORD, **call)
            want_h, want_x = egnn_reference(h, x, CHORD, _weights(layer), edge_features=edges_in, **options)
            self.assertAllClose(got_h, want_h, atol=2e-5, rtol=1e-5, msg=str(init))
            self.assertAllClose(got_x, want_x, atol=2e-5, rtol=1e-5, msg=str(init))
            if not layer.update_coordinates:
                self.assertAllClose(got_x, x, atol=0, rtol=0)

    def test_nodes_without_incoming_edges_keep_coordinates_and_get_no_message(self):
        # Node 0 of RING has an incoming edge (5 -> 0); with CHORD it does not.
        h, x = _graph(4)
        layer = EGNNLayer(hidden_dim=8)
        layer(h, x, CHORD)
        _randomize_coordinate_head(layer)
        _, got_x = layer(h, x, CHORD)
        self.assertAllClose(got_x[0], x[0], atol=0, rtol=0)

    def test_equivariance_to_rotation_reflection_translation_and_permutation(self):
        rng = np.random.default_rng(5)
        h, x = _graph(6, nodes=7)
        edges = np.array([[j, i] for i in range(7) for j in range(7) if i != j and rng.random() < 0.6], "int32")
        layer = EGNNLayer(hidden_dim=16, use_attention=True)
        layer(h, x, edges)
        _randomize_coordinate_head(layer)
        out_h, out_x = (keras.ops.convert_to_numpy(t) for t in layer(h, x, edges))
        self.assertGreater(np.abs(out_x - x).max(), 0.1)  # coordinates really move
        q = random_orthogonal_matrix(3, rng, reflection=True)
        t = rng.standard_normal(3)
        perm = rng.permutation(7)
        moved_x = (x.astype("float64") @ q + t)[perm].astype("float32")
        new_h, new_x = layer(h[perm], moved_x, relabel_nodes(perm, edges, rng))
        # float32 inputs rounded once after the rotation: differences stay at the float32 resolution (~1e-6).
        self.assertAllClose(new_h, out_h[perm], atol=1e-5, rtol=0)  # h' invariant (up to the relabelling)
        self.assertAllClose(new_x, (out_x.astype("float64") @ q + t)[perm], atol=1e-5, rtol=0)  # x' equivariant

    def test_output_shape_and_counts_without_building(self):
        layer = EGNNLayer(hidden_dim=8, output_dim=6, use_residual=False, use_attention=True)
        self.assertEqual(
            layer.compute_output_shape((5, 4), coordinates_shape=(5, 3), edge_index_shape=(9, 2)), ((5, 6), (5, 3))
        )
        # phi_e (2*4+1+2 -> 8 -> 8), gate (8 -> 1), phi_x (8 -> 8 -> 1, no bias), phi_h (4+8 -> 8 -> 6).
        expected = (11 * 8 + 8) + (8 * 8 + 8) + (8 + 1) + (8 * 8 + 8 + 8) + (12 * 8 + 8) + (8 * 6 + 6)
        self.assertEqual(layer.count_params_for((5, 4), edge_features_shape=(9, 2)), expected)
        flops = 2 * 9 * (11 * 8 + 8 * 8 + 8 + 8 * 8 + 8) + 2 * 5 * (12 * 8 + 8 * 6)
        self.assertEqual(layer.flops_for((5, 4), edge_index_shape=(9, 2), edge_features_shape=(9, 2)), flops)
        self.assertFalse(layer.built)

    def test_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "coordinate_aggregation", "max"):
            EGNNLayer(hidden_dim=8, coordinate_aggregation="max")
        with self.assertRaisesNamed(ValueError, "hidden_dim", "0"):
            EGNNLayer(hidden_dim=0)
        with self.assertRaisesNamed(TypeError, "use_attention"):
            EGNNLayer(hidden_dim=8, use_attention="yes")
        with self.assertRaisesNamed(ValueError, "output_dim=5", "use_residual"):
            EGNNLayer(hidden_dim=8, output_dim=5).count_params_for((3, 4))
