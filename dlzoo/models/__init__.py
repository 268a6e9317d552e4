"""Model assemblers: one module per family, registered with `@dlzoo.register_model`.

Importing this package imports every family module (and sub-package, such
as `lcm`), which registers its assembler; a new family needs no edit here.
An assembler is a function whose keyword arguments (with defaults) are the
model's parameters; it returns `(inputs, outputs)` of a functional graph of
registered blocks. See `dlzoo.builder` for the full contract.
"""

import importlib
import pkgutil
import warnings

from dlzoo.models import first_token_pooler, token_embedding  # noqa: F401  (register the layers)
from dlzoo.models.first_token_pooler import FirstTokenPooler
from dlzoo.models.token_embedding import TokenEmbedding

_LOADED = False


def load_builtin_models():
    """Import every family module once (each registers its assembler)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = f"{__name__}.{info.name}"
        try:
            importlib.import_module(module)
        except Exception as exc:  # keep the zoo usable if one family is broken
            warnings.warn(f"dlzoo: could not import model module {module}: {exc!r}", stacklevel=2)


load_builtin_models()

__all__ = ["FirstTokenPooler", "TokenEmbedding", "load_builtin_models"]
