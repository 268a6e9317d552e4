"""dlzoo 0.1 import path of `dlzoo.lcm` (e.g. `--text-pipeline dlzoo.models.lcm.pipeline:LCMPipeline.from_directory`)."""

from dlzoo.lcm import *  # noqa: F401,F403
from dlzoo.lcm import __all__  # noqa: F401
