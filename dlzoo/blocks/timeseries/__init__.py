"""Time-series blocks: instance normalization, patching, channel independence, decomposition (forecasting)."""

from dlzoo.blocks.timeseries.channel_independence import ChannelIndependence
from dlzoo.blocks.timeseries.reversible_instance_norm import ReversibleInstanceNorm
from dlzoo.blocks.timeseries.series_decomposition import SeriesDecomposition
from dlzoo.blocks.timeseries.series_patching import SeriesPatching
from dlzoo.blocks.timeseries.temporal_linear import TemporalLinear

__all__ = ["ChannelIndependence", "ReversibleInstanceNorm", "SeriesDecomposition", "SeriesPatching", "TemporalLinear"]
