"""Blocks of diffusion models over images: patchify/unpatchify, label embedding, the DiT output layer.

The patch embedding itself is `dlzoo.blocks.PatchEmbedding` (a convolution
whose kernel equals its stride: patchify plus a linear map), and a DiT block
is `TransformerLayer(use_adaptive_norm=True)`; this package holds the rest of
DiT.
"""

from dlzoo.blocks.diffusion.class_embedding import ClassEmbedding
from dlzoo.blocks.diffusion.dit_final_layer import DiTFinalLayer
from dlzoo.blocks.diffusion.learned_sigma_split import LearnedSigmaSplit
from dlzoo.blocks.diffusion.sinusoidal_position_embedding_2d import SinusoidalPositionEmbedding2D
from dlzoo.blocks.diffusion.unpatchify import Unpatchify

__all__ = [
    "ClassEmbedding",
    "DiTFinalLayer",
    "LearnedSigmaSplit",
    "SinusoidalPositionEmbedding2D",
    "Unpatchify",
]
