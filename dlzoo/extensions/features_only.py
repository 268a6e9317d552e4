"""Features only: a model that returns the outputs of chosen intermediate layers."""

import fnmatch

import keras

from dlzoo.extensions import Extension
from dlzoo.extensions._common import graph_tensors, others
from dlzoo.registry import register_extension

NAME = "features_only"


def _check_selection(value):
    if value is None:
        return None
    items = [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)) or not items or not all(
        isinstance(i, (str, int)) and not isinstance(i, bool) for i in items
    ):
        raise TypeError(
            "`layers` must be a block index, a layer name (wildcards allowed) or a non-empty list of them. "
            f"Received: layers={value!r}."
        )
    return list(items)


@register_extension(NAME, paper=None, conflicts_with=others(NAME))
class FeaturesOnly(Extension):
    """Return intermediate outputs of chosen layers as a dict (a multi-output model).

    The model keeps its inputs; its output becomes `{layer name: output}`
    for each chosen top-level layer (Keras returns dict outputs sorted by key). Integers index the
    model's blocks: its top-level layers whose name matches `block_pattern`
    (`transformer_layer_0`, `transformer_layer_1`, ...; negative indices
    count from the end). Strings are top-level layer names or wildcard
    patterns (`"final_norm"`, `"transformer_layer_*"`). Layers the chosen
    outputs do not depend on (a final norm, a head) are dropped from the
    model, like timm's `features_only`. A layer called twice (a tied
    embedding) gives its first call's output.

    Args:
        layers: int, str or list of them. Defaults to `None`: every block.
        block_pattern: str. Wildcard pattern of the layers integers count.
            Defaults to `"transformer_layer_*"`.

    Example:

    >>> model = dlzoo.build("gpt-tiny", extensions=[
    ...     {"name": "features_only", "layers": [0, -1]}])

    Reference:
        - No paper: the multi-scale feature extraction interface of timm
          (`features_only=True, out_indices=...`).
    """

    def __init__(self, layers=None, block_pattern="transformer_layer_*"):
        self.layers = _check_selection(layers)
        if not isinstance(block_pattern, str) or not block_pattern:
            raise TypeError(f"`block_pattern` must be a non-empty string. Received: block_pattern={block_pattern!r}.")
        self.block_pattern = block_pattern

    def apply_model(self, model):
        top = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        blocks = [name for name in top if fnmatch.fnmatchcase(name, self.block_pattern)]
        chosen = []
        for item in self.layers if self.layers is not None else list(range(len(blocks))):
            if isinstance(item, int):
                if not -len(blocks) <= item < len(blocks):
                    raise ValueError(
                        f"Extension {NAME!r}: block index {item} is out of range; model {model.name!r} has "
                        f"{len(blocks)} blocks matching block_pattern={self.block_pattern!r}. Received: layers={self.layers!r}."
                    )
                names = [blocks[item]]
            else:
                names = [n for n in top if n == item or fnmatch.fnmatchcase(n, item)]
                if not names:
                    raise ValueError(
                        f"Extension {NAME!r}: no top-level layer of model {model.name!r} matches {item!r}. "
                        f"Received: layers={self.layers!r}. Layers: {', '.join(top)}."
                    )
            chosen.extend(n for n in names if n not in chosen)
        tensors = graph_tensors(model)
        outputs = {}
        for name in chosen:
            if name not in tensors:
                raise ValueError(f"Extension {NAME!r}: layer {name!r} is not part of model {model.name!r}'s graph.")
            outputs[name] = tensors[name][0]
        return model.input, outputs
