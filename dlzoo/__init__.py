"""dlzoo: a Keras 3 model zoo and composition toolkit.

State-of-the-art techniques as backend-agnostic, serializable Keras blocks;
named base models assembled from blocks by `dlzoo.build(name, **params)`.

Importing dlzoo imports Keras and registers the built-in blocks. Everything
heavier (the builder's model families, export, serving, experiments,
keras-hub) is imported on first use of the attribute that needs it.
"""

import importlib

__version__ = "0.1.0"

from dlzoo.registry import (  # noqa: E402
    describe_block,
    get_block,
    list_blocks,
    register_block,
    register_component,
    register_extension,
    register_model,
)
from dlzoo import blocks  # noqa: E402,F401

# Public name -> module that defines it (loaded lazily, PEP 562).
_LAZY = {
    "build": "dlzoo.builder",
    "load": "dlzoo.builder",
    "list_models": "dlzoo.builder",
    "describe": "dlzoo.builder",
    "count_params": "dlzoo.builder",
    "estimate_memory": "dlzoo.builder",
    "diff": "dlzoo.builder",
    "list_extensions": "dlzoo.builder",
    "apply_extension": "dlzoo.builder",
    "ZooModel": "dlzoo.zoo_model",
    "export": "dlzoo.export",
    "to_app": "dlzoo.serving",
    "extensions": "dlzoo.extensions",
    "models": "dlzoo.models",
    "lcm": "dlzoo.models.lcm",
    "testing": "dlzoo.testing",
}


def __getattr__(name):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dlzoo' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
