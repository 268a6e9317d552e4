"""dlzoo: a Keras 3 model zoo and composition toolkit.

State-of-the-art techniques as backend-agnostic, serializable Keras blocks;
named base models assembled from blocks by `dlzoo.build(name, **params)`.

`import dlzoo` is cheap: it imports neither Keras nor a backend. The
registration decorators are here; everything else (blocks, families,
building, counting, export, serving) is imported on first use of the
attribute that needs it (PEP 562), so the command line answers `--help` and
`dlzoo list` without Keras.
"""

import importlib

__version__ = "0.2.0"

from dlzoo.registry import (  # noqa: E402
    register_block,
    register_block_configuration,
    register_component,
    register_converter,
    register_extension,
    register_keras_layer,
    register_model,
)

# Public name -> module that defines it (loaded lazily, PEP 562).
_LAZY = {
    "build": "dlzoo.builder",
    "load": "dlzoo.builder",
    "from_pretrained": "dlzoo.builder",
    "apply_extension": "dlzoo.builder",
    "describe": "dlzoo.inspection",
    "count_params": "dlzoo.inspection",
    "count_flops": "dlzoo.inspection",
    "block_flops": "dlzoo.inspection",
    "estimate_memory": "dlzoo.inspection",
    "diff": "dlzoo.inspection",
    "distribute": "dlzoo.distribution.setup",
    "get_layout_map": "dlzoo.distribution.layout",
    "distribution": "dlzoo.distribution",
    "list_models": "dlzoo.catalog",
    "list_extensions": "dlzoo.catalog",
    "list_blocks": "dlzoo.catalog",
    "get_block": "dlzoo.catalog",
    "describe_block": "dlzoo.catalog",
    "ZooModel": "dlzoo.zoo_model",
    "Plan": "dlzoo.plan",
    "export": "dlzoo.export",
    "prune": "dlzoo.pruning",
    "generate": "dlzoo.generation",
    "generation": "dlzoo.generation",
    "compile_forward": "dlzoo.inference",
    "inference": "dlzoo.inference",
    "to_app": "dlzoo.serving",
    "checkpoints": "dlzoo.checkpoints",
    "blocks": "dlzoo.blocks",
    "extensions": "dlzoo.extensions",
    "families": "dlzoo.families",
    "models": "dlzoo.models",
    "lcm": "dlzoo.lcm",
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
