import math

import numpy as np

import keras

from dlzoo.blocks import MixtureOfExperts
from dlzoo.testing import TestCase

_erf = np.vectorize(math.erf)
ACTIVATIONS = {
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "relu": lambda x: np.maximum(x, 0.0),
}


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def layer_weights(layer):
    names = ("router_kernel", "gate_kernel", "inner_kernel", "output_kernel", "gate_bias", "inner_bias", "output_bias")
    return {n: np.asarray(keras.ops.convert_to_numpy(getattr(layer, n)), "float64") for n in names if hasattr(layer, n)}


def expert_reference(token, w, e, gated, activation):
    """One expert FFN on one token (Shazeer 2020 GLU or Vaswani 2017 FFN), float64."""
    act = ACTIVATIONS[activation]
    hidden = token @ w["inner_kernel"][e] + w.get("inner_bias", np.zeros((e + 1, 1)))[e]
    if gated:
        hidden = act(token @ w["gate_kernel"][e] + w.get("gate_bias", np.zeros((e + 1, 1)))[e]) * hidden
    else:
        hidden = act(hidden)
    return hidden @ w["output_kernel"][e] + w.get("output_bias", np.zeros((e + 1, 1)))[e]


def moe_reference(x, w, top_k, normalize=True, capacity_factor=None, gated=True, activation="silu"):
    """Top-k routing (Shazeer et al. 2017, Switch 2021), loop over tokens in order, float64.

    Returns the output and the Switch load-balancing loss E * sum_i f_i P_i.
    """
    d = x.shape[-1]
    tokens = x.reshape(-1, d).astype("float64")
    n, num_experts = len(tokens), w["router_kernel"].shape[1]
    probs = softmax(tokens @ w["router_kernel"])
    capacity = math.inf if capacity_factor is None else math.ceil(capacity_factor * n * top_k / num_experts)
    used = np.zeros(num_experts)
    assigned = np.zeros(num_experts)
    outputs = []
    for t, token in enumerate(tokens):
        chosen = np.argsort(-probs[t], kind="stable")[:top_k]
        gates = probs[t, chosen]
        if normalize and top_k > 1:
            gates = gates / gates.sum()
        out = 0.0
        for gate, e in zip(gates, chosen):
            assigned[e] += 1
            used[e] += 1
            if used[e] <= capacity:
                out = out + gate * expert_reference(token, w, e, gated, activation)
        outputs.append(out * np.ones(w["output_kernel"].shape[-1]))
    fraction = assigned / (n * top_k)
    aux = num_experts * np.sum(fraction * probs.mean(0))
    return np.stack(outputs).reshape(x.shape[:-1] + (-1,)), aux


def randomize_biases(layer, rng):
    for name in ("gate_bias", "inner_bias", "output_bias"):
        if hasattr(layer, name):
            var = getattr(layer, name)
            var.assign((rng.standard_normal(var.shape) * 0.3).astype("float32"))


def only_loss(layer):
    losses = layer.losses
    assert len(losses) == 1, losses
    return float(keras.ops.convert_to_numpy(losses[0]))


class MixtureOfExpertsTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            MixtureOfExperts,
            init_kwargs={"intermediate_dim": 16, "num_experts": 4, "top_k": 2},
            input_shape=(2, 8, 16),
            expected_output_shape=(2, 8, 16),
            expected_num_trainable_weights=4,
        )

    def test_block_basics_mlp_experts_capacity(self):
        self.run_block_test(
            MixtureOfExperts,
            init_kwargs={
                "intermediate_dim": 12,
                "num_experts": 3,
                "top_k": 1,
                "expert": "mlp",
                "activation": "relu",
                "use_bias": True,
                "output_dim": 6,
                "capacity_factor": 1.5,
                "router_jitter": 0.01,
                "dropout": 0.1,
            },
            input_shape=(2, 6, 8),
            expected_output_shape=(2, 6, 6),
            expected_num_trainable_weights=5,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 5, 8)).astype("float32")
        cases = [
            dict(top_k=2, expert="swiglu", use_bias=False),
            dict(top_k=2, expert="geglu", use_bias=True, normalize_top_k=False),
            dict(top_k=3, expert="mlp", use_bias=True, output_dim=4),
            dict(top_k=2, expert="swiglu", capacity_factor=0.75),
        ]
        for case in cases:
            with self.subTest(**case):
                layer = MixtureOfExperts(intermediate_dim=6, num_experts=4, **case)
                layer.build(x.shape)
                randomize_biases(layer, rng)
                w = layer_weights(layer)
                expected, aux = moe_reference(
                    x,
                    w,
                    case["top_k"],
                    normalize=case.get("normalize_top_k", True),
                    capacity_factor=case.get("capacity_factor"),
                    gated=case["expert"] != "mlp",
                    activation={"swiglu": "silu", "geglu": "gelu", "mlp": "gelu"}[case["expert"]],
                )
                self.assertAllClose(layer(x), expected, atol=2e-5, rtol=1e-5)
                self.assertAlmostEqual(only_loss(layer), 0.01 * aux, places=6)

    def test_capacity_drops_overflow_in_token_order(self):
        # Every token prefers expert 0; capacity = ceil(1.0 * 4 tokens * 1 / 2 experts) = 2,
        # so tokens 0 and 1 are processed and tokens 2 and 3 overflow (output zero).
        x = np.array([[[1.0, 0.5, -0.2, 0.3], [2.0, -1.0, 0.4, 0.1], [1.5, 0.2, 0.3, -0.7], [0.5, 1.0, -1.0, 0.2]]], "float32")
        layer = MixtureOfExperts(intermediate_dim=5, num_experts=2, top_k=1, capacity_factor=1.0)
        layer.build(x.shape)
        router = np.zeros((4, 2), "float32")
        router[0, 0] = 5.0
        layer.router_kernel.assign(router)
        out = np.asarray(keras.ops.convert_to_numpy(layer(x)))
        self.assertTrue(np.all(out[0, 2:] == 0.0))
        self.assertTrue(np.all(np.abs(out[0, :2]) > 0.0))
        w = layer_weights(layer)
        expected, _ = moe_reference(x, w, top_k=1, capacity_factor=1.0)
        self.assertAllClose(out, expected, atol=1e-5, rtol=1e-5)
        # Without a limit nothing is dropped.
        unlimited = MixtureOfExperts(intermediate_dim=5, num_experts=2, top_k=1)
        unlimited.build(x.shape)
        unlimited.set_weights(layer.get_weights())
        full = np.asarray(keras.ops.convert_to_numpy(unlimited(x)))
        self.assertAllClose(full[0, :2], out[0, :2])
        self.assertTrue(np.all(np.abs(full[0, 2:]) > 0.0))

    def test_capacity_counts_batch_first_and_all_top_k(self):
        # 2 x 2 tokens, both experts chosen by every token (top_k=2):
        # capacity = ceil(0.5 * 4 * 2 / 2) = 2 per expert -> the first batch row is kept whole,
        # the second row is dropped from both experts.
        x = np.random.default_rng(3).standard_normal((2, 2, 4)).astype("float32")
        layer = MixtureOfExperts(intermediate_dim=5, num_experts=2, top_k=2, capacity_factor=0.5)
        out = np.asarray(keras.ops.convert_to_numpy(layer(x)))
        self.assertTrue(np.all(out[1] == 0.0))
        self.assertTrue(np.all(np.abs(out[0]) > 0.0))

    def test_capacity_with_unknown_batch_size(self):
        x = np.random.default_rng(4).standard_normal((3, 4, 8)).astype("float32")
        layer = MixtureOfExperts(intermediate_dim=6, num_experts=4, top_k=2, capacity_factor=0.5)
        inputs = keras.Input((4, 8))  # batch size unknown when traced
        model = keras.Model(inputs, layer(inputs))
        expected, _ = moe_reference(x, layer_weights(layer), top_k=2, capacity_factor=0.5)
        self.assertAllClose(model.predict(x, batch_size=3, verbose=0), expected, atol=2e-5, rtol=1e-5)

    def test_top_k_1_is_switch(self):
        # Switch routing: one expert per token, gated by its (unnormalized) router probability.
        rng = np.random.default_rng(5)
        x = rng.standard_normal((3, 8)).astype("float32")
        layer = MixtureOfExperts(intermediate_dim=6, num_experts=4, top_k=1, expert="mlp", activation="relu")
        layer.build(x.shape)
        w = layer_weights(layer)
        probs = softmax(x.astype("float64") @ w["router_kernel"])
        best = probs.argmax(-1)
        expected = np.stack(
            [probs[t, best[t]] * expert_reference(x[t].astype("float64"), w, best[t], False, "relu") for t in range(3)]
        )
        self.assertTrue(np.all(probs.max(-1) < 1.0))
        self.assertAllClose(layer(x), expected, atol=2e-5, rtol=1e-5)

    def test_aux_loss(self):
        rng = np.random.default_rng(6)
        x = rng.standard_normal((2, 6, 8)).astype("float32")
        layer = MixtureOfExperts(intermediate_dim=6, num_experts=4, top_k=2, aux_loss_weight=0.5)
        layer.build(x.shape)
        layer.router_kernel.assign((rng.standard_normal((8, 4)) * 2).astype("float32"))
        _, aux = moe_reference(x, layer_weights(layer), top_k=2)
        layer(x)
        self.assertAlmostEqual(only_loss(layer), 0.5 * aux, places=6)
        layer(x)  # losses are reset on every call, not accumulated
        self.assertAlmostEqual(only_loss(layer), 0.5 * aux, places=6)
        # A uniform router gives sum_i f_i / E * E = 1 exactly, whatever the tie-breaking.
        layer.router_kernel.assign(np.zeros((8, 4), "float32"))
        layer(x)
        self.assertAlmostEqual(only_loss(layer), 0.5, places=6)
        no_loss = MixtureOfExperts(intermediate_dim=6, num_experts=4, aux_loss_weight=0.0)
        no_loss(x)
        self.assertEqual(no_loss.losses, [])

    def test_aux_loss_reaches_model(self):
        x = np.random.default_rng(7).standard_normal((2, 4, 8)).astype("float32")
        inputs = keras.Input((4, 8), batch_size=2)
        model = keras.Model(inputs, MixtureOfExperts(intermediate_dim=6, num_experts=4)(inputs))
        model(x)
        self.assertEqual(len(model.losses), 1)
        self.assertGreater(float(keras.ops.convert_to_numpy(model.losses[0])), 0.0)

    def test_router_jitter_only_in_training(self):
        x = np.random.default_rng(8).standard_normal((2, 4, 8)).astype("float32")
        layer = MixtureOfExperts(intermediate_dim=6, num_experts=4, router_jitter=0.5)
        plain = MixtureOfExperts(intermediate_dim=6, num_experts=4)
        layer.build(x.shape)
        plain.build(x.shape)
        plain.set_weights(layer.get_weights()[: len(plain.weights)])
        self.assertAllClose(layer(x, training=False), plain(x))
        diff = np.abs(keras.ops.convert_to_numpy(layer(x, training=True)) - keras.ops.convert_to_numpy(plain(x)))
        self.assertGreater(diff.max(), 1e-4)

    def test_count_params_for(self):
        for kwargs in ({}, {"expert": "mlp", "use_bias": True}, {"use_bias": True, "output_dim": 3}):
            layer = MixtureOfExperts(intermediate_dim=5, num_experts=3, **kwargs)
            layer.build((2, 7))
            self.assertEqual(layer.count_params_for((2, 7)), layer.count_params())
        # router 7*3 + 3 experts * (2*7*5 + 5*7)
        self.assertEqual(MixtureOfExperts(intermediate_dim=5, num_experts=3).count_params_for((None, 7)), 21 + 3 * 105)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "top_k", "num_experts", "top_k=5", "num_experts=4"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, top_k=5)
        with self.assertRaisesNamed(ValueError, "expert", "swiglue", "Did you mean", "swiglu"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, expert="swiglue")
        with self.assertRaisesNamed(ValueError, "activation", "Did you mean"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, expert="mlp", activation="rellu")
        with self.assertRaisesNamed(ValueError, "activation", "expert"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, expert="swiglu", activation="relu")
        with self.assertRaisesNamed(ValueError, "num_experts"):
            MixtureOfExperts(intermediate_dim=8, num_experts=0)
        with self.assertRaisesNamed(ValueError, "capacity_factor"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, capacity_factor=0.0)
        with self.assertRaisesNamed(ValueError, "aux_loss_weight"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, aux_loss_weight=-0.01)
        with self.assertRaisesNamed(ValueError, "router_jitter"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, router_jitter=1.0)
        with self.assertRaisesNamed(ValueError, "dropout"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, dropout=-0.1)
        with self.assertRaisesNamed(TypeError, "normalize_top_k"):
            MixtureOfExperts(intermediate_dim=8, num_experts=4, normalize_top_k="yes")
