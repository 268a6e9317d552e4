"""What is registered: blocks, families and extensions (built-in and from plugins), by name.

Importing this module registers everything built in and loads the installed
plugins, so its answers are complete. The named models (zoo configs) are
listed by `dlzoo.configs.list_models`, which reads files only.
"""

from typing import Any, Dict, List, Optional

import dlzoo.blocks  # noqa: F401  (registers the built-in blocks)
import dlzoo.extensions  # noqa: F401  (registers the built-in extensions)
import dlzoo.families  # noqa: F401  (registers the built-in families)
from dlzoo import plugins
from dlzoo.configs import list_models
from dlzoo.registry import EXTENSIONS, MODELS, describe_block, docstring_summary, get_block, list_blocks

plugins.load_plugins()


def list_extensions(pattern: Optional[str] = None) -> List[str]:
    """Names of registered extensions, optionally filtered by a wildcard pattern."""
    return EXTENSIONS.names(pattern)


def list_families(pattern: Optional[str] = None) -> List[str]:
    """Names of registered model families (the `model:` of zoo configs)."""
    return MODELS.names(pattern)


def describe_family(name: str) -> Dict[str, Any]:
    """A family's paper and summary."""
    entry = MODELS.get(name)
    return {"name": name, "paper": entry.paper, "summary": docstring_summary(entry.obj)}


__all__ = ["list_models", "describe_block", "describe_family", "get_block", "list_blocks", "list_extensions", "list_families"]
