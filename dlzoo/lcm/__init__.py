"""Meta's Large Concept Model (arXiv:2412.08821): Base-LCM and the Two-Tower diffusion LCM.

The families `base_lcm` and `two_tower_lcm` (zoo names `lcm-base*`,
`lcm-two-tower*`) live in `dlzoo.families`, the LCM-specific blocks
(`concept_prenet`, `concept_postnet`, `lcm_denoiser`, `diffusion_noising`)
in `dlzoo.blocks.lcm`; this package holds what uses them: the losses,
generation and the text pipeline, and re-exports the blocks:

>>> model = dlzoo.build("lcm-base-tiny")                      # doctest: +SKIP
>>> model.compile(optimizer="adamw", loss=dlzoo.lcm.NextConceptMSE())  # doctest: +SKIP

See `guides/lcm.md` for the architecture, the parameter counts and every
deliberate deviation from the reference code.
"""

from dlzoo.blocks.lcm import ConceptPostNet, ConceptPreNet, DiffusionNoising, LCMDenoiser, prepend_zero_key
from dlzoo.lcm.losses import DiffusionMSE, NextConceptMSE, lcm_targets
from dlzoo.lcm.generation import GenerationResult, generate, loss_for, model_family, predict_next_concepts
from dlzoo.lcm.pipeline import LCMPipeline

__all__ = [
    "ConceptPostNet",
    "ConceptPreNet",
    "DiffusionMSE",
    "DiffusionNoising",
    "GenerationResult",
    "LCMDenoiser",
    "LCMPipeline",
    "NextConceptMSE",
    "generate",
    "lcm_targets",
    "loss_for",
    "model_family",
    "predict_next_concepts",
    "prepend_zero_key",
]
