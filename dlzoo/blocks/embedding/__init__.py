"""Embedding blocks: token tables (positions live in `dlzoo.blocks.position`)."""

from dlzoo.blocks.embedding.token_embedding import TokenEmbedding

__all__ = ["TokenEmbedding"]
