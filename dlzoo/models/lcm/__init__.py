"""Meta's Large Concept Model (arXiv:2412.08821): Base-LCM and the Two-Tower diffusion LCM.

Importing this package registers the model assemblers `base_lcm` and
`two_tower_lcm` (zoo names `lcm-base*`, `lcm-two-tower*`), the LCM-specific
blocks (`concept_prenet`, `concept_postnet`, `lcm_denoiser`,
`diffusion_noising`) and the losses. Also reachable as `dlzoo.lcm`:

>>> model = dlzoo.build("lcm-base-tiny")                      # doctest: +SKIP
>>> model.compile(optimizer="adamw", loss=dlzoo.lcm.NextConceptMSE())  # doctest: +SKIP

See `guides/lcm.md` for the architecture, the parameter counts and every
deliberate deviation from the reference code.
"""

from dlzoo.models.lcm.concept_postnet import ConceptPostNet
from dlzoo.models.lcm.concept_prenet import ConceptPreNet
from dlzoo.models.lcm.diffusion_noising import DiffusionNoising
from dlzoo.models.lcm.lcm_denoiser import LCMDenoiser, prepend_zero_key
from dlzoo.models.lcm.losses import DiffusionMSE, NextConceptMSE, lcm_targets
from dlzoo.models.lcm.base_lcm import base_lcm, count_base_lcm
from dlzoo.models.lcm.two_tower_lcm import count_two_tower_lcm, two_tower_lcm
from dlzoo.models.lcm.generation import GenerationResult, generate, loss_for, model_family, predict_next_concepts
from dlzoo.models.lcm.pipeline import LCMPipeline

__all__ = [
    "ConceptPostNet",
    "ConceptPreNet",
    "DiffusionMSE",
    "DiffusionNoising",
    "GenerationResult",
    "LCMDenoiser",
    "LCMPipeline",
    "NextConceptMSE",
    "base_lcm",
    "count_base_lcm",
    "count_two_tower_lcm",
    "generate",
    "lcm_targets",
    "loss_for",
    "model_family",
    "predict_next_concepts",
    "prepend_zero_key",
    "two_tower_lcm",
]
