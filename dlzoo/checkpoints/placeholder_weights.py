"""Weights created as zeros while a checkpoint is about to overwrite them.

Building a model runs every weight's initializer; for a model whose weights
all come from a checkpoint that work is thrown away, and it is not free in
memory: Keras' truncated-normal initializer on PyTorch draws four candidates
per value, a transient of several times the largest weight. Under
`zero_initialized_variables` each Keras variable is created filled with zeros
(one allocation, the weight itself) and its own initializer is kept, so
`initialize_unloaded` can give every variable the checkpoint did not fill
(an extension's new weights, a dropout layer's seed state) the value it
would have had.

`zero_initialized_variables` wraps the one private Keras method through
which every backend's variable runs its initializer
(`dlzoo.compat.keras_internals`, the only module that reads Keras
internals); `tests/checkpoints/test_placeholder_weights.py` checks that the
wrapping takes effect on each backend. Not thread-safe: build one model at
a time inside it.
"""

from typing import Dict, Iterable, Tuple

import keras

from dlzoo.compat.keras_internals import zero_initialized_variables


def initialize_unloaded(initializers: Dict[int, Tuple[keras.Variable, object]], loaded: Iterable[str]) -> list:
    """Give each recorded variable whose path is not in `loaded` its own initializer's value.

    Args:
        initializers: dict filled by `zero_initialized_variables`.
        loaded: the paths of the variables a checkpoint assigned.

    Returns:
        list: the paths of the variables initialized here.
    """
    loaded = set(loaded)
    initialized = []
    for variable, initializer in initializers.values():
        if variable.path not in loaded:
            variable.assign(initializer(variable.shape, dtype=variable.dtype))
            initialized.append(variable.path)
    return initialized


__all__ = ["initialize_unloaded", "zero_initialized_variables"]
