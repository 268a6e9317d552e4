from dlzoo.blocks.residual.drop_path import DropPath
from dlzoo.blocks.residual.layer_scale import LayerScale

__all__ = ["DropPath", "LayerScale"]
