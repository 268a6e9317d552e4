"""Text generation for the decoder LM families (`gpt`, `llama`): `generate(model, prompt_ids, ...)`.

See `generate` and guides/generation.md.
"""

from dlzoo.generation.causal_lm import CAUSAL_LM_FAMILIES, CausalLM
from dlzoo.generation.generate import generate

__all__ = ["CAUSAL_LM_FAMILIES", "CausalLM", "generate"]
