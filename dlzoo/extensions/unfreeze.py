"""Unfreeze the layers (or weights) of a model whose paths match wildcard patterns."""

from dlzoo.extensions._common import check_patterns, iter_layers, matches
from dlzoo.extensions.base import Extension
from dlzoo.extensions.freeze import select_weights
from dlzoo.registry import register_extension

NAME = "unfreeze"


@register_extension(NAME, paper=None, repeatable=True)
class Unfreeze(Extension):
    """Make the weights of the layers matching `patterns` trainable again.

    The inverse of `freeze`, with the same patterns (layer paths and names,
    weight paths, `fnmatch` wildcards). Typical use, after `lora` or a
    `freeze` of everything (`"*"`): re-open the biases (`"*/bias"`) or the
    last block (`"transformer_layer_1"`). Layers switched off as a whole
    (`layer.trainable = False`) are switched back on when they match.

    Args:
        patterns: str or list of str. Wildcard patterns of layer or weight
            paths. A pattern that matches nothing raises `ValueError`.

    Example:

    >>> model = dlzoo.build("gpt-tiny", extensions=[
    ...     {"name": "freeze", "patterns": "*"},
    ...     {"name": "unfreeze", "patterns": "final_norm"}])

    Reference:
        - No paper: gradual unfreezing as in Howard and Ruder, 2018 (arXiv:1801.06146), by name.
    """

    def __init__(self, patterns):
        self.patterns = check_patterns("patterns", patterns)
        self.last_report = None

    def apply_model(self, model):
        for path, layer, _ in iter_layers(model):
            if matches(path, self.patterns) and not layer.trainable:
                layer.trainable = True
        weights, layers = select_weights(model, self.patterns, NAME)
        for weight in weights:
            weight.trainable = True
        self.last_report = {"unfrozen": [w.path for w in weights], "layers": layers}
        return model

    def count_params(self, config, base_count):
        return base_count  # only trainability changes
