"""Attention blocks. Mask helpers live in `dlzoo.blocks.attention.masks`."""

from dlzoo.blocks.attention import masks
from dlzoo.blocks.attention.grouped_query_attention import GroupedQueryAttention

__all__ = ["GroupedQueryAttention"]
