"""Choosing the next token from logits, in `keras.ops`: greedy, temperature, top-k, top-p, seeded draws.

Random draws are not made in the graph: the caller passes one uniform number
in `(0, 1]` per sequence and step (drawn with NumPy from the seed), and the
token is read off the cumulative distribution (inverse-CDF sampling). The
same seed therefore gives the same tokens on TensorFlow, PyTorch and JAX, up
to float rounding of the probabilities.
"""

from keras import ops

# Logit given to filtered-out tokens: exp() of it is 0 in float32, and unlike -inf it keeps softmax NaN-free.
FILTERED_LOGIT = -1e30


def greedy_tokens(logits):
    """The most likely token of each row: `(batch, vocabulary)` -> int32 `(batch,)`."""
    return ops.cast(ops.argmax(logits, axis=-1), "int32")


def keep_top_k(logits, k):
    """Logits of the `k` most likely tokens of each row; the others get `FILTERED_LOGIT` (ties at the k-th kept)."""
    kth = ops.top_k(logits, k, sorted=True)[0][:, -1:]
    return ops.where(ops.less(logits, kth), FILTERED_LOGIT, logits)


def keep_top_p(logits, top_p):
    """Nucleus filtering: keep the most likely tokens whose probabilities first reach `top_p` (at least one).

    A token is kept when the probability mass of the tokens ranked before it
    is below `top_p`. `top_p` may be a scalar tensor.
    """
    ranked = ops.flip(ops.sort(logits, axis=-1), axis=-1)  # (b, v), descending
    probabilities = ops.softmax(ranked, axis=-1)
    mass_before = ops.cumsum(probabilities, axis=-1) - probabilities
    kept = mass_before < ops.cast(top_p, logits.dtype)
    threshold = ops.min(ops.where(kept, ranked, ops.full_like(ranked, float("inf"))), axis=-1, keepdims=True)
    return ops.where(ops.less(logits, threshold), FILTERED_LOGIT, logits)


def inverse_cdf_tokens(logits, uniforms):
    """Draw one token per row from `softmax(logits)` with the given uniforms in `(0, 1]`.

    The token is the first whose cumulative probability reaches
    `uniform * total`; tokens of probability 0 are never drawn.
    """
    cumulative = ops.cumsum(ops.softmax(logits, axis=-1), axis=-1)  # (b, v)
    target = ops.expand_dims(ops.cast(uniforms, logits.dtype), -1) * cumulative[:, -1:]
    index = ops.sum(ops.cast(ops.less(cumulative, target), "int32"), axis=-1)
    return ops.minimum(index, ops.shape(logits)[-1] - 1)


def sampled_tokens(logits, uniforms, temperature, top_k=None, top_p=None):
    """Temperature, then top-k, then top-p filtering, then one inverse-CDF draw per row."""
    logits = logits / ops.cast(temperature, logits.dtype)
    if top_k is not None:
        logits = keep_top_k(logits, top_k)
    if top_p is not None:
        logits = keep_top_p(logits, top_p)
    return inverse_cdf_tokens(logits, uniforms)


__all__ = ["FILTERED_LOGIT", "greedy_tokens", "inverse_cdf_tokens", "keep_top_k", "keep_top_p", "sampled_tokens"]
