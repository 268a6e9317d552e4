"""Position encodings: rotary, learned, sinusoidal, ALiBi, diffusion timesteps."""

from dlzoo.blocks.position.alibi_bias import ALiBiBias
from dlzoo.blocks.position.learned_position_embedding import LearnedPositionEmbedding
from dlzoo.blocks.position.rotary_embedding import RotaryEmbedding
from dlzoo.blocks.position.sinusoidal_position_embedding import SinusoidalPositionEmbedding
from dlzoo.blocks.position.timestep_embedding import TimestepEmbedding

__all__ = [
    "ALiBiBias",
    "LearnedPositionEmbedding",
    "RotaryEmbedding",
    "SinusoidalPositionEmbedding",
    "TimestepEmbedding",
]
