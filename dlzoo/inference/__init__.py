"""Fast inference: `compile_forward(model, ...)`, a compiled forward pass with shape buckets.

See `dlzoo.inference.compiled_forward` and guides/performance.md ("Fast inference").
"""

from dlzoo.inference.compiled_forward import CompiledForward, compile_forward

__all__ = ["CompiledForward", "compile_forward"]
