from dlzoo.blocks.feedforward.mlp import MLP
from dlzoo.blocks.feedforward.gated_linear_unit import GatedLinearUnit, GeGLU, SwiGLU, glu_inner_dim
from dlzoo.blocks.feedforward.mixture_of_experts import MixtureOfExperts

__all__ = ["MLP", "GatedLinearUnit", "glu_inner_dim", "SwiGLU", "GeGLU", "MixtureOfExperts"]
