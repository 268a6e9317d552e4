"""Vision blocks: layers for image models (channels-last feature maps)."""

from dlzoo.blocks.vision.patch_embedding import PatchEmbedding
from dlzoo.blocks.vision.class_token import ClassToken
from dlzoo.blocks.vision.patch_position_embedding import PatchPositionEmbedding
from dlzoo.blocks.vision.convnext_block import ConvNeXtBlock

__all__ = ["ClassToken", "ConvNeXtBlock", "PatchEmbedding", "PatchPositionEmbedding"]
