"""Blocks specific to Meta's Large Concept Model (arXiv:2412.08821).

The PreNet/PostNet map sentence embeddings to and from the model width; the
denoiser and the noising layer are the Two-Tower diffusion LCM's. The
families that use them are `dlzoo.families.base_lcm` and
`dlzoo.families.two_tower_lcm`; generation and losses are in `dlzoo.lcm`.
"""

from dlzoo.blocks.lcm.concept_prenet import ConceptPreNet
from dlzoo.blocks.lcm.concept_postnet import ConceptPostNet
from dlzoo.blocks.lcm.diffusion_noising import DiffusionNoising
from dlzoo.blocks.lcm.lcm_denoiser import LCMDenoiser, prepend_zero_key

__all__ = ["ConceptPostNet", "ConceptPreNet", "DiffusionNoising", "LCMDenoiser", "prepend_zero_key"]
