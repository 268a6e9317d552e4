"""Sequence-layout blocks: several token streams woven into one sequence, and back."""

from dlzoo.blocks.sequence.deinterleave_tokens import DeinterleaveTokens
from dlzoo.blocks.sequence.interleave_tokens import InterleaveTokens

__all__ = ["DeinterleaveTokens", "InterleaveTokens"]
