"""dlzoo 0.1 import paths, kept working: the families now live in `dlzoo.families`, their blocks in `dlzoo.blocks`."""

from dlzoo.blocks.embedding.token_embedding import TokenEmbedding
from dlzoo.blocks.pooling.first_token_pooler import FirstTokenPooler

__all__ = ["FirstTokenPooler", "TokenEmbedding"]
