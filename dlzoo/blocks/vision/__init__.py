"""Vision blocks: layers for image models (channels-last feature maps)."""

from dlzoo.blocks.vision.patch_embedding import PatchEmbedding
from dlzoo.blocks.vision.convnext_block import ConvNeXtBlock

__all__ = ["ConvNeXtBlock", "PatchEmbedding"]
