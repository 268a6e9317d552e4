"""dlzoo 0.1 import path of `dlzoo.lcm.pipeline`."""

from dlzoo.lcm.pipeline import LCMPipeline

__all__ = ["LCMPipeline"]
