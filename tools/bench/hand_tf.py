"""The benchmark's Llama-style decoder written by hand in TensorFlow (`tf.function`, no Keras).

`tf.Variable`s, `tf.einsum`/`tf.matmul` layers, grouped-query attention with
the query heads reshaped into `(kv_heads, group)` (no KV repeat), an explicit
causal softmax, AdamW written with `assign` ops, all in one `tf.function`
train step (graph mode, no XLA: `jit_compile=False`, as the issue asks).
"""

import numpy as np
import tensorflow as tf

from tools.bench.settings import ADAMW, Setting, rope_tables


def _glorot(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype("float32")


class TFLlama(tf.Module):
    def __init__(self, s: Setting, jit_compile=False, seed=0):
        super().__init__(name="hand_llama")
        self.s = s
        self.jit_compile = jit_compile
        rng = np.random.default_rng(seed)
        d, hd = s.hidden_dim, s.head_dim
        var = lambda a, name: tf.Variable(a, name=name)  # noqa: E731
        self.embed = var((rng.standard_normal((s.vocabulary_size, d)) * 0.02).astype("float32"), "embed")
        self.layers = []
        for i in range(s.num_layers):
            self.layers.append(
                {
                    "attention_norm": var(np.ones(d, "float32"), f"l{i}_attention_norm"),
                    "wq": var(_glorot(rng, d, s.num_heads * hd), f"l{i}_wq"),
                    "wk": var(_glorot(rng, d, s.num_key_value_heads * hd), f"l{i}_wk"),
                    "wv": var(_glorot(rng, d, s.num_key_value_heads * hd), f"l{i}_wv"),
                    "wo": var(_glorot(rng, s.num_heads * hd, d), f"l{i}_wo"),
                    "ffn_norm": var(np.ones(d, "float32"), f"l{i}_ffn_norm"),
                    "gate": var(_glorot(rng, d, s.intermediate_dim), f"l{i}_gate"),
                    "up": var(_glorot(rng, d, s.intermediate_dim), f"l{i}_up"),
                    "down": var(_glorot(rng, s.intermediate_dim, d), f"l{i}_down"),
                }
            )
        self.norm = var(np.ones(d, "float32"), "norm")
        self.head = var(_glorot(rng, d, s.vocabulary_size), "head")
        cos, sin = rope_tables(s)
        self.cos, self.sin = tf.constant(cos), tf.constant(sin)
        self.params = [self.embed] + [v for layer in self.layers for v in layer.values()] + [self.norm, self.head]
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.params]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.params]
        self.t = tf.Variable(0.0, trainable=False)

    def num_params(self):
        return int(sum(int(np.prod(v.shape)) for v in self.params))

    def _rms_norm(self, x, weight):
        return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + self.s.epsilon) * weight

    @staticmethod
    def _rope(x, cos, sin):
        # x: (b, t, heads, h); cos/sin: (t, h/2).
        half = x.shape[-1] // 2
        cos, sin = cos[:, None, :], sin[:, None, :]
        x1, x2 = x[..., :half], x[..., half:]
        return tf.concat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)

    def forward(self, ids):
        s = self.s
        b, t = tf.shape(ids)[0], ids.shape[1]
        n, k, hd = s.num_heads, s.num_key_value_heads, s.head_dim
        g = n // k
        cos, sin = self.cos[:t], self.sin[:t]
        causal = tf.linalg.band_part(tf.ones((t, t), tf.bool), -1, 0)
        x = tf.gather(self.embed, ids)
        for p in self.layers:
            h = self._rms_norm(x, p["attention_norm"])
            q = tf.reshape(tf.einsum("btd,de->bte", h, p["wq"]), (b, t, n, hd))
            key = tf.reshape(tf.einsum("btd,de->bte", h, p["wk"]), (b, t, k, hd))
            value = tf.reshape(tf.einsum("btd,de->bte", h, p["wv"]), (b, t, k, hd))
            q, key = self._rope(q, cos, sin), self._rope(key, cos, sin)
            q = tf.reshape(q, (b, t, k, g, hd))
            scores = tf.einsum("btkgh,bskh->bkgts", q, key) * (hd**-0.5)
            scores = tf.where(causal, scores, -1e9)
            probs = tf.nn.softmax(scores, axis=-1)
            out = tf.reshape(tf.einsum("bkgts,bskh->btkgh", probs, value), (b, t, n * hd))
            x = x + tf.einsum("bte,ed->btd", out, p["wo"])
            h = self._rms_norm(x, p["ffn_norm"])
            ff = tf.nn.silu(tf.einsum("btd,df->btf", h, p["gate"])) * tf.einsum("btd,df->btf", h, p["up"])
            x = x + tf.einsum("btf,fd->btd", ff, p["down"])
        return tf.einsum("btd,dv->btv", self._rms_norm(x, self.norm), self.head)

    def _adamw(self, grads):
        a = ADAMW
        self.t.assign_add(1.0)
        c1 = 1.0 - tf.pow(a["beta_1"], self.t)
        c2 = 1.0 - tf.pow(a["beta_2"], self.t)
        for var, m, v, grad in zip(self.params, self.m, self.v, grads):
            grad = tf.convert_to_tensor(grad)  # the embedding gradient arrives as IndexedSlices
            m.assign(a["beta_1"] * m + (1.0 - a["beta_1"]) * grad)
            v.assign(a["beta_2"] * v + (1.0 - a["beta_2"]) * tf.square(grad))
            var.assign(var * (1.0 - a["learning_rate"] * a["weight_decay"]))
            var.assign_sub(a["learning_rate"] * (m / c1) / (tf.sqrt(v / c2) + a["epsilon"]))

    def train_step_fn(self, ids, labels):
        ids, labels = tf.constant(ids), tf.constant(labels)

        @tf.function(jit_compile=self.jit_compile)
        def train_step(ids, labels):
            with tf.GradientTape() as tape:
                logits = self.forward(ids)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            self._adamw(tape.gradient(loss, self.params))
            return loss

        def step():
            return float(train_step(ids, labels).numpy())

        return step

    def forward_fn(self, ids):
        ids = tf.constant(ids)
        fn = tf.function(self.forward, jit_compile=self.jit_compile)

        def run():
            return fn(ids).numpy()

        return run
