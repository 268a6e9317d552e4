from dlzoo.blocks.normalization.rms_norm import RMSNorm
