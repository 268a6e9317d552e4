"""The public block list. Importing this package registers every built-in block.

Each role's sub-package re-exports its blocks explicitly; this module
re-exports them all, so `dlzoo.blocks.RMSNorm` works and the conformance test
can check that the registry and the exports agree.
"""

from dlzoo.blocks.core import *  # noqa: F401,F403
from dlzoo.blocks.normalization import *  # noqa: F401,F403
from dlzoo.blocks.position import *  # noqa: F401,F403
from dlzoo.blocks.attention import *  # noqa: F401,F403
from dlzoo.blocks.feedforward import *  # noqa: F401,F403
from dlzoo.blocks.residual import *  # noqa: F401,F403
from dlzoo.blocks.stacks import *  # noqa: F401,F403
from dlzoo.blocks.vision import *  # noqa: F401,F403
from dlzoo.blocks.convolution import *  # noqa: F401,F403
from dlzoo.blocks.diffusion import *  # noqa: F401,F403
from dlzoo.blocks.embedding import *  # noqa: F401,F403
from dlzoo.blocks.pooling import *  # noqa: F401,F403
from dlzoo.blocks.graph import *  # noqa: F401,F403
from dlzoo.blocks.lcm import *  # noqa: F401,F403
from dlzoo.blocks.timeseries import *  # noqa: F401,F403
from dlzoo.blocks.sequence import *  # noqa: F401,F403
