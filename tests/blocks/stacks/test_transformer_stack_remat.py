"""`TransformerStack(remat=True)`: the same outputs and gradients as without it, on every backend."""

import importlib

import keras
import numpy as np

import dlzoo
from dlzoo.blocks import TransformerStack
from dlzoo.testing import TestCase


def data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


LLAMA_LIKE = {
    "num_layers": 2,
    "num_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_dim": 24,
    "norm": "rms_norm",
    "feedforward": "swiglu",
    "attention_kwargs": {"use_rotary_embedding": True},
}
DENOISER_LIKE = {
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_dim": 16,
    "self_attention_mask": "diagonal",
    "use_cross_attention": True,
    "use_adaptive_norm": True,
}
PADDING = np.array([[True, True, True, True, True], [True, True, True, False, False]])


def loss_and_gradients(stack, inputs, **tensors):
    """Loss `sum(output * fixed weights)` and its gradients w.r.t. the inputs, tensors and trainable weights."""
    names = ["inputs"] + [n for n in ("context", "condition") if n in tensors]
    masks = {n: v for n, v in tensors.items() if n not in names}
    values = [inputs] + [tensors[n] for n in names[1:]]
    backend = keras.backend.backend()
    if backend == "jax":
        jax = importlib.import_module("jax")

        def loss_fn(trainable, values):
            out, _ = stack.stateless_call(
                trainable, [v.value for v in stack.non_trainable_variables], *values[:1],
                training=True, **masks, **dict(zip(names[1:], values[1:])),
            )
            return (out * np.linspace(-1, 1, out.size).reshape(out.shape).astype("float32")).sum()

        trainable = [v.value for v in stack.trainable_variables]
        loss, (weight_grads, input_grads) = jax.value_and_grad(loss_fn, argnums=(0, 1))(trainable, values)
        return np.asarray(loss), [np.asarray(g) for g in list(input_grads) + list(weight_grads)]
    if backend == "torch":
        torch = importlib.import_module("torch")
        leaves = [torch.tensor(v, requires_grad=True) for v in values]
        out = stack(leaves[0], training=True, **masks, **dict(zip(names[1:], leaves[1:])))
        weights = torch.tensor(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)).astype("float32"))
        loss = (out * weights).sum()
        sources = leaves + [v.value for v in stack.trainable_variables]
        grads = torch.autograd.grad(loss, sources)
        return loss.detach().numpy(), [g.detach().numpy() for g in grads]
    tf = importlib.import_module("tensorflow")
    leaves = [tf.constant(v) for v in values]
    with tf.GradientTape() as tape:
        tape.watch(leaves)
        out = stack(leaves[0], training=True, **masks, **dict(zip(names[1:], leaves[1:])))
        weights = np.linspace(-1, 1, int(np.prod(out.shape))).reshape(tuple(out.shape)).astype("float32")
        loss = tf.reduce_sum(out * weights)
    grads = tape.gradient(loss, leaves + [v.value for v in stack.trainable_variables])
    return loss.numpy(), [g.numpy() for g in grads]


class TransformerStackRematTest(TestCase):
    def assert_remat_matches(self, plain, inputs, **tensors):
        """A remat copy of the built `plain` stack gives the same loss and gradients (inputs first)."""
        remat = TransformerStack.from_config({**plain.get_config(), "remat": True})
        remat(inputs, **tensors)
        remat.set_weights(plain.get_weights())
        self.assertAllClose(remat(inputs, **tensors), plain(inputs, **tensors), atol=0, rtol=0)
        loss, grads = loss_and_gradients(plain, inputs, **tensors)
        remat_loss, remat_grads = loss_and_gradients(remat, inputs, **tensors)
        self.assertAllClose(remat_loss, loss, atol=1e-5, rtol=1e-5)
        self.assertEqual(len(remat_grads), len(grads))
        for remat_grad, grad in zip(remat_grads, grads):
            self.assertAllClose(remat_grad, grad, atol=1e-5, rtol=1e-5)
        return grads

    def test_outputs_and_gradients_match_without_remat(self):
        stack = TransformerStack(**LLAMA_LIKE)
        stack(data(2, 5, 16), padding_mask=PADDING)
        grads = self.assert_remat_matches(stack, data(2, 5, 16), padding_mask=PADDING)
        for grad in grads:
            self.assertGreater(np.abs(grad).max(), 0.0)

    def test_gradients_reach_context_and_condition(self):
        tensors = {"context": data(2, 3, 8, seed=1), "condition": data(2, 6, seed=2)}
        stack = TransformerStack(**DENOISER_LIKE)
        stack(data(2, 4, 8), **tensors)
        # AdaLN-Zero starts at zero, which would hide the context and condition gradients: randomize every weight.
        rng = np.random.default_rng(3)
        stack.set_weights([0.3 * rng.standard_normal(w.shape).astype("float32") for w in stack.get_weights()])
        grads = self.assert_remat_matches(stack, data(2, 4, 8), **tensors)
        for grad in grads[:3]:  # inputs, context, condition
            self.assertGreater(np.abs(grad).max(), 0.0)

    def test_config_round_trip(self):
        stack = TransformerStack(**LLAMA_LIKE, remat=True)
        self.assertTrue(stack.get_config()["remat"])
        self.assertTrue(TransformerStack.from_config(stack.get_config()).remat)
        self.assertFalse(TransformerStack(**LLAMA_LIKE).get_config()["remat"])

    def test_rejects_dropout_and_non_bool(self):
        with self.assertRaisesNamed(ValueError, "dropout", "0.1"):
            TransformerStack(**LLAMA_LIKE, remat=True, dropout=0.1)
        with self.assertRaisesNamed(ValueError, "drop_path_rate", "0.2"):
            TransformerStack(**LLAMA_LIKE, remat=True, drop_path_rate=0.2)
        with self.assertRaises((TypeError, ValueError)):
            TransformerStack(**LLAMA_LIKE, remat="yes")

    def test_memory_estimate_keeps_layer_inputs_only(self):
        shape = (2, 64, 16)
        plain = TransformerStack(**LLAMA_LIKE).activation_elements_for(shape)
        remat = TransformerStack(**LLAMA_LIKE, remat=True).activation_elements_for(shape)
        per_layer = plain / 2
        self.assertEqual(remat, 2 * 2 * 64 * 16 + per_layer)

    def test_family_with_remat_trains_one_step(self):
        model = dlzoo.build("llama-tiny", remat=True)
        stack = [layer for layer in model._flatten_layers() if isinstance(layer, TransformerStack)]
        self.assertTrue(stack and all(layer.remat for layer in stack))
        tokens = np.random.default_rng(0).integers(0, 32, size=(2, 8)).astype("int32")
        feed = {"token_ids": tokens, "padding_mask": np.ones((2, 8), dtype=bool)}
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        before = [np.array(w) for w in model.get_weights()]
        history = model.fit(feed, tokens, batch_size=2, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        changed = [not np.array_equal(a, np.array(b)) for a, b in zip(before, model.get_weights())]
        self.assertTrue(any(changed))
