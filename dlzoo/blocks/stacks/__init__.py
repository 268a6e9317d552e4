from dlzoo.blocks.stacks.transformer_layer import TransformerLayer
from dlzoo.blocks.stacks.transformer_stack import TransformerStack

__all__ = ["TransformerLayer", "TransformerStack"]
