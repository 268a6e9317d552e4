"""Training on many devices with Keras' distribution API: layout maps from the blocks, `distribute`, memory.

* `layout`: each block's sharding rules -> a `keras.distribution.LayoutMap`
  for any model (`get_layout_map`), listed by `dlzoo describe`;
* `setup`: `distribute(model_or_name, mesh=(data, model), strategy=...)`
  sets the distribution and builds the model under it (JAX);
* `memory`: per-device weights of a layout (`dlzoo.estimate_memory(..., mesh=...)`).

`guides/scaling.md` explains the strategies and the memory arithmetic.
"""

from dlzoo.distribution.layout import LAYOUT_RULES, STRATEGIES, get_layout_map, layout_table, variable_specs
from dlzoo.distribution.memory import per_device_weight_elements
from dlzoo.distribution.setup import device_mesh, distribute, make_distribution

__all__ = [
    "LAYOUT_RULES",
    "STRATEGIES",
    "device_mesh",
    "distribute",
    "get_layout_map",
    "layout_table",
    "make_distribution",
    "per_device_weight_elements",
    "variable_specs",
]
