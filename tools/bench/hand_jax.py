"""The benchmark's Llama-style decoder written by hand in JAX (`jax.jit` + optax, no Keras).

Parameters are a plain pytree; the forward pass is `jax.numpy` with
`jax.nn.dot_product_attention(is_causal=True)` (which takes grouped KV heads
directly); the train step (loss, grad, `optax.adamw` update) is one
`jax.jit` with the parameters and optimizer state donated.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tools.bench.settings import ADAMW, Setting, rope_tables


def init_params(s: Setting, seed=0):
    """Glorot-uniform kernels, N(0, 0.02) embedding, unit norm scales (float32)."""
    rng = np.random.default_rng(seed)

    def dense(fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return jnp.asarray(rng.uniform(-limit, limit, (fan_in, fan_out)).astype("float32"))

    d, hd = s.hidden_dim, s.head_dim
    layers = []
    for _ in range(s.num_layers):
        layers.append(
            {
                "attention_norm": jnp.ones((d,), "float32"),
                "wq": dense(d, s.num_heads * hd),
                "wk": dense(d, s.num_key_value_heads * hd),
                "wv": dense(d, s.num_key_value_heads * hd),
                "wo": dense(s.num_heads * hd, d),
                "ffn_norm": jnp.ones((d,), "float32"),
                "gate": dense(d, s.intermediate_dim),
                "up": dense(d, s.intermediate_dim),
                "down": dense(s.intermediate_dim, d),
            }
        )
    return {
        "embed": jnp.asarray((rng.standard_normal((s.vocabulary_size, d)) * 0.02).astype("float32")),
        "layers": layers,
        "norm": jnp.ones((d,), "float32"),
        "head": dense(d, s.vocabulary_size),
    }


def rms_norm(x, weight, eps):
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + eps)
    return (y * weight).astype(x.dtype)


def apply_rope(x, cos, sin):
    """Rotate-half RoPE. x: (b, s, n, h); cos/sin: (s, h/2)."""
    half = x.shape[-1] // 2
    cos, sin = cos[:, None, :].astype(x.dtype), sin[:, None, :].astype(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def forward(params, ids, s: Setting, cos, sin, compute_dtype=jnp.float32):
    b, t = ids.shape
    n, k, hd = s.num_heads, s.num_key_value_heads, s.head_dim
    cast = lambda w: w.astype(compute_dtype)  # noqa: E731 (mixed precision on GPU; identity in float32)
    x = cast(params["embed"])[ids]
    cos, sin = cos[:t], sin[:t]
    for p in params["layers"]:
        h = rms_norm(x, cast(p["attention_norm"]), s.epsilon)
        q = (h @ cast(p["wq"])).reshape(b, t, n, hd)
        key = (h @ cast(p["wk"])).reshape(b, t, k, hd)
        value = (h @ cast(p["wv"])).reshape(b, t, k, hd)
        q, key = apply_rope(q, cos, sin), apply_rope(key, cos, sin)
        out = jax.nn.dot_product_attention(q, key, value, is_causal=True)  # (b, t, n, hd)
        x = x + out.reshape(b, t, n * hd) @ cast(p["wo"])
        h = rms_norm(x, cast(p["ffn_norm"]), s.epsilon)
        x = x + (jax.nn.silu(h @ cast(p["gate"])) * (h @ cast(p["up"]))) @ cast(p["down"])
    return rms_norm(x, cast(params["norm"]), s.epsilon) @ cast(params["head"])


def make_optimizer():
    return optax.adamw(
        learning_rate=ADAMW["learning_rate"],
        b1=ADAMW["beta_1"],
        b2=ADAMW["beta_2"],
        eps=ADAMW["epsilon"],
        weight_decay=ADAMW["weight_decay"],
    )


class JaxLlama:
    """Train / forward driver around the jitted functions."""

    def __init__(self, s: Setting, compute_dtype="float32"):
        self.s = s
        self.compute_dtype = jnp.dtype(compute_dtype)
        self.params = init_params(s)
        cos, sin = rope_tables(s)
        self.cos, self.sin = jnp.asarray(cos), jnp.asarray(sin)
        self.optimizer = make_optimizer()
        self.opt_state = None

    def num_params(self):
        return int(sum(x.size for x in jax.tree_util.tree_leaves(self.params)))

    def train_step_fn(self, ids, labels):
        s, optimizer, dtype = self.s, self.optimizer, self.compute_dtype
        if self.opt_state is None:
            self.opt_state = optimizer.init(self.params)

        def loss_fn(params, ids, labels, cos, sin):
            logits = forward(params, ids, s, cos, sin, dtype).astype(jnp.float32)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        def train_step(params, opt_state, ids, labels, cos, sin):
            loss, grads = jax.value_and_grad(loss_fn)(params, ids, labels, cos, sin)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        jitted = jax.jit(train_step, donate_argnums=(0, 1))
        ids, labels = jnp.asarray(ids), jnp.asarray(labels)

        def step():
            self.params, self.opt_state, loss = jitted(self.params, self.opt_state, ids, labels, self.cos, self.sin)
            return float(loss)  # blocks until the step is done

        return step

    def forward_fn(self, ids):
        s, dtype = self.s, self.compute_dtype
        jitted = jax.jit(lambda params, ids, cos, sin: forward(params, ids, s, cos, sin, dtype))
        ids = jnp.asarray(ids)

        def run():
            return jitted(self.params, ids, self.cos, self.sin).block_until_ready()

        return run
