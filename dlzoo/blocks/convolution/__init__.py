"""Convolution blocks: conv-norm-activation units, residual and inverted-residual blocks (channels-last)."""

from dlzoo.blocks.convolution.conv_norm_act import ConvNormAct
from dlzoo.blocks.convolution.mbconv_block import MBConvBlock
from dlzoo.blocks.convolution.resnet_basic_block import ResNetBasicBlock
from dlzoo.blocks.convolution.resnet_bottleneck_block import ResNetBottleneckBlock
from dlzoo.blocks.convolution.squeeze_excitation import SqueezeExcitation

__all__ = ["ConvNormAct", "MBConvBlock", "ResNetBasicBlock", "ResNetBottleneckBlock", "SqueezeExcitation"]
