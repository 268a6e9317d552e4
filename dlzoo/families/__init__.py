"""Model families: one file each, a plan function registered with its parameters.

A family is `@register_model(name, paper=..., params={...})` on a function
`family(p) -> Plan`: `params` declares every parameter once, with its
default (a `Section` for a group of one block's arguments), and the function
turns resolved parameters into the blocks of the model and their wiring. See
`guides/adding_a_model.md`. Importing this package registers every built-in
family.
"""

from dlzoo.families import base_lcm, bert, encoder_decoder, gpt, image_classifier, llama, two_tower_lcm  # noqa: F401
from dlzoo.families import dit  # noqa: F401
from dlzoo.families import vit  # noqa: F401
from dlzoo.families import convnext  # noqa: F401
from dlzoo.families import resnet  # noqa: F401
from dlzoo.families import efficientnet  # noqa: F401
from dlzoo.families import egnn  # noqa: F401
from dlzoo.families import decision_transformer  # noqa: F401
from dlzoo.families import patchtst  # noqa: F401
from dlzoo.families import dlinear  # noqa: F401
from dlzoo.families import gcn, gat, gin  # noqa: F401

__all__ = []
