from dlzoo.blocks.normalization.rms_norm import RMSNorm
from dlzoo.blocks.normalization.layer_norm import LayerNorm
from dlzoo.blocks.normalization.ada_ln_zero import AdaLNZero, modulate

__all__ = ["RMSNorm", "LayerNorm", "AdaLNZero", "modulate"]
