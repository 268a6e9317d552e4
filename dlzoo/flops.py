"""Closed-form FLOP formulas the blocks' `flops_for` methods share, and the counting convention.

Convention (the one PyTorch's `torch.utils.flop_counter.FlopCounterMode`
and most papers use):

* FLOPs = 2 x multiply-adds of the matrix products and convolutions a
  forward pass computes: dense and einsum projections, the attention
  scores `q k^T` and the weighted values `p v`, tied output heads,
  convolutions (grouped and depthwise included), the expert products of a
  mixture of experts (every expert, as the block computes them densely).
* Not counted: everything elementwise or a reduction (bias additions,
  normalizations, activations, softmax, residual additions, scaling, masks,
  rotary rotations, pooling, dropout) and table look-ups (embeddings). These
  are memory-bound and typically a few percent of the total; counting them
  would make the figure depend on how each backend fuses them.
* Attention counts every score of the `(q_len, k_len)` matrix, masked or
  not (a causal mask does not halve it), as the fused kernels compute them.
* Training FLOPs = 3 x forward FLOPs (the backward pass computes two
  products per forward product: one for the input gradient, one for the
  weight gradient; Kaplan et al. 2020, arXiv:2001.08361, "C = 6N" per
  token). `TRAINING_MULTIPLIER` is that 3.

Pure Python: no Keras import.
"""

import math
from typing import Sequence

TRAINING_MULTIPLIER = 3


def rows(shape: Sequence[int]) -> int:
    """Number of vectors in a tensor of `shape`: the product of every dimension but the last."""
    return math.prod(int(d) for d in tuple(shape)[:-1])


def matmul_flops(rows_: int, inner: int, columns: int) -> int:
    """FLOPs of a `(rows, inner) @ (inner, columns)` product: `2 * rows * inner * columns`."""
    return 2 * int(rows_) * int(inner) * int(columns)


def dense_flops(input_shape: Sequence[int], units: int) -> int:
    """FLOPs of a dense projection of the last axis of `input_shape` to `units` (bias not counted)."""
    return matmul_flops(rows(input_shape), int(tuple(input_shape)[-1]), units)


def conv_flops(output_shape: Sequence[int], kernel_size: Sequence[int], input_channels_per_group: int) -> int:
    """FLOPs of a convolution: each output element is a dot product of `prod(kernel) * in_channels/groups` terms.

    Args:
        output_shape: the convolution's output shape (every dimension known).
        kernel_size: the spatial kernel size, e.g. `(3, 3)`.
        input_channels_per_group: input channels each output channel reads
            (`in_channels // groups`; 1 for a depthwise convolution).
    """
    return 2 * math.prod(int(d) for d in output_shape) * math.prod(int(k) for k in kernel_size) * int(input_channels_per_group)


def attention_flops(batch: int, num_heads: int, query_length: int, key_length: int, head_dim: int) -> int:
    """FLOPs of scaled dot-product attention: scores `q k^T` and weighted values `p v`, each `2*b*n*t*s*h`."""
    return 2 * matmul_flops(int(batch) * int(num_heads) * int(query_length), int(head_dim), int(key_length))


__all__ = ["TRAINING_MULTIPLIER", "attention_flops", "conv_flops", "dense_flops", "matmul_flops", "rows"]
