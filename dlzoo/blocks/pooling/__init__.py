"""Pooling blocks: a sequence of hidden states -> one vector."""

from dlzoo.blocks.pooling.first_token_pooler import FirstTokenPooler
from dlzoo.blocks.pooling.sequence_pooling import SequencePooling

__all__ = ["FirstTokenPooler", "SequencePooling"]
