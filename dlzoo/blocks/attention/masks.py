"""Boolean attention-mask helpers (`True` = attend), written with `keras.ops`.

Shape conventions shared by every attention block in dlzoo:

* a padding mask is `(batch, k_len)`: `True` marks a real key, `False` padding;
* an attention mask is `(batch or 1, q_len, k_len)`: entry `[b, i, j]` says
  whether query `i` may look at key `j`.

The builders below return attention masks with a leading axis of size 1, so
they can be passed as `attention_mask=` directly or combined with
`merge_masks`. Lengths and offsets may be Python ints or scalar integer
tensors (e.g. a KV-cache write index inside a compiled decoding loop).
"""

from keras import ops


def _lower_triangular(q_len, k_len, offset):
    """`[b, i, j] = j <= i + offset`; `offset` is a scalar or one per sample."""
    rows = ops.expand_dims(ops.arange(q_len, dtype="int32"), 1)  # (q_len, 1)
    cols = ops.expand_dims(ops.arange(k_len, dtype="int32"), 0)  # (1, k_len)
    offset = ops.cast(offset, "int32")
    if len(ops.shape(offset)) == 0:
        return ops.expand_dims(cols <= rows + offset, 0)  # (1, q_len, k_len)
    if len(ops.shape(offset)) != 1:
        raise ValueError(
            "A mask offset must be a scalar or a vector with one value per sample. "
            f"Received: shape={tuple(ops.shape(offset))}."
        )
    offset = ops.reshape(offset, (-1, 1, 1))
    return ops.expand_dims(cols, 0) <= ops.expand_dims(rows, 0) + offset


def causal_mask(q_len, k_len, offset=0):
    """Causal mask: query `i` sees keys `0 .. i + offset`.

    With `offset=0` and `q_len == k_len` this is the usual lower-triangular
    mask (diagonal included). During KV-cached decoding the queries are the
    positions `offset .. offset + q_len - 1` of a cache of length `k_len`, so
    `offset` is the cache write index; the unfilled slots beyond the newest
    query are masked as a side effect.

    Args:
        q_len: int or scalar int tensor. Number of queries.
        k_len: int or scalar int tensor. Number of keys.
        offset: int or scalar int tensor. Position of query 0 among the keys.
            Defaults to `0`.

    Returns:
        Bool tensor `(1, q_len, k_len)`.
    """
    return _lower_triangular(q_len, k_len, offset)


def diagonal_mask(n):
    """Diagonal-only mask: position `i` sees only key `i`.

    Used by the Two-Tower LCM denoiser's self-attention, which then acts as a
    per-position map.

    Args:
        n: int or scalar int tensor. Sequence length.

    Returns:
        Bool tensor `(1, n, n)`.
    """
    index = ops.arange(n, dtype="int32")
    return ops.expand_dims(ops.expand_dims(index, 1) == ops.expand_dims(index, 0), 0)


def shifted_causal_mask(q_len, k_len, shift):
    """Causal mask shifted right: query `i` sees keys `0 .. i + shift`.

    The Two-Tower LCM cross-attention pattern (`ShiftedCausalAttentionMask`):
    with a zero key prepended to the context, `shift=0` lets query `i` see the
    zero key and context positions `< i`; in fine-tuning `shift` is each
    sample's source length. A negative shift can leave early rows with no
    key at all (attention blocks output zeros for such rows).

    For a scalar shift this equals `causal_mask(q_len, k_len, offset=shift)`;
    a vector shift gives one mask per sample.

    Args:
        q_len: int or scalar int tensor. Number of queries.
        k_len: int or scalar int tensor. Number of keys.
        shift: int, scalar int tensor, or int tensor `(batch,)`.

    Returns:
        Bool tensor `(1, q_len, k_len)` for a scalar shift, else
        `(batch, q_len, k_len)`.
    """
    return _lower_triangular(q_len, k_len, shift)


def merge_masks(padding_mask=None, attention_mask=None):
    """Combine a key padding mask with attention masks by logical AND.

    Args:
        padding_mask: Optional bool tensor `(batch, k_len)`.
        attention_mask: Optional bool tensor `(batch or 1, q_len, k_len)`, or a
            list/tuple of such tensors (all are combined).

    Returns:
        `None` when no mask is given; otherwise a bool tensor broadcastable to
        `(batch, q_len, k_len)`: `(batch, 1, k_len)` for a padding mask alone,
        `(batch or 1, q_len, k_len)` when an attention mask is present.
    """
    masks = []
    if padding_mask is not None:
        padding_mask = ops.cast(padding_mask, "bool")
        if len(padding_mask.shape) != 2:
            raise ValueError(
                "`padding_mask` must have shape (batch, k_len). "
                f"Received: padding_mask.shape={tuple(padding_mask.shape)}."
            )
        masks.append(ops.expand_dims(padding_mask, 1))
    if attention_mask is not None:
        if not isinstance(attention_mask, (list, tuple)):
            attention_mask = [attention_mask]
        for mask in attention_mask:
            if mask is None:
                continue
            mask = ops.cast(mask, "bool")
            if len(mask.shape) != 3:
                raise ValueError(
                    "`attention_mask` must have shape (batch or 1, q_len, k_len). "
                    f"Received: attention_mask.shape={tuple(mask.shape)}."
                )
            masks.append(mask)
    if not masks:
        return None
    merged = masks[0]
    for mask in masks[1:]:
        merged = ops.logical_and(merged, mask)
    return merged
