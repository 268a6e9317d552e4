"""Freeze the layers (or weights) of a model whose paths match wildcard patterns."""

from dlzoo.extensions._common import check_patterns, iter_layers, matches
from dlzoo.extensions.base import Extension
from dlzoo.registry import register_extension

NAME = "freeze"


def select_weights(model, patterns, extension):
    """Weights of `model` selected by `patterns`, and the layer paths that matched.

    A pattern selects every weight of each layer whose path (or name)
    matches it, sub-layers included, and each weight whose own path matches
    it (`"*/bias"`). Raises `ValueError` naming the extension when a pattern
    selects nothing.
    """
    layers = list(iter_layers(model))
    selected, matched_layers = {}, []
    for pattern in patterns:
        hit = False
        for path, layer, _ in layers:
            if matches(path, [pattern]):
                hit = True
                matched_layers.append(path)
                for weight in layer.weights:
                    selected[id(weight)] = weight
        for weight in model.weights:
            if matches(weight.path, [pattern]):
                hit = True
                selected[id(weight)] = weight
        if not hit:
            tops = ", ".join(path for path, _, parent in layers if parent is None)
            raise ValueError(
                f"Extension {extension!r}: pattern {pattern!r} matches no layer or weight of model {model.name!r}. "
                f"Layer paths look like 'decoder/transformer_layer_0/self_attention/query'; top-level layers: {tops}."
            )
    order = {id(w): i for i, w in enumerate(model.weights)}
    return sorted(selected.values(), key=lambda w: order.get(id(w), len(order))), matched_layers


def trainability_report(model):
    """What is frozen: `{"frozen": [...], "trainable": [...]}` weight paths, and their parameter counts."""
    frozen = [w for w in model.weights if not (model.trainable and w.trainable)]
    trainable = [w for w in model.weights if model.trainable and w.trainable]

    def size(ws):
        total = 0
        for w in ws:
            n = 1
            for d in w.shape:
                n *= int(d)
            total += n
        return total

    return {
        "frozen": [w.path for w in frozen],
        "trainable": [w.path for w in trainable],
        "frozen_params": size(frozen),
        "trainable_params": size(trainable),
    }


@register_extension(NAME, paper=None, repeatable=True)
class Freeze(Extension):
    """Make the weights of the layers matching `patterns` non-trainable.

    Layer paths join layer names with `/`
    (`"decoder/transformer_layer_0/self_attention/query"`); patterns are
    `fnmatch` wildcards matched against each layer's path, and every tail of
    it that starts at a `/` (so `"query"` and `"transformer_layer_0/*"`
    work), and likewise against each weight's path (`"token_embedding"`, `"transformer_layer_[01]"`,
    `"*/bias"`, `"query"`). A matched layer freezes all its weights, sub-layers
    included. Other layers are untouched; combine with `unfreeze` (applied
    after) to re-open parts. `trainability_report(model)` lists what is
    frozen, and `last_report` on the extension instance what this
    application froze. As for every extension, the config records it, so
    a saved and reloaded model is frozen the same way.

    Args:
        patterns: str or list of str. Wildcard patterns of layer or weight
            paths. A pattern that matches nothing raises `ValueError`.

    Example:

    >>> model = dlzoo.build("gpt-tiny", extensions=[
    ...     {"name": "freeze", "patterns": ["token_embedding", "transformer_layer_0"]}])

    Reference:
        - No paper: the usual `layer.trainable = False` transfer-learning recipe, by name.
    """

    def __init__(self, patterns):
        self.patterns = check_patterns("patterns", patterns)
        self.last_report = None

    def apply_model(self, model):
        weights, layers = select_weights(model, self.patterns, NAME)
        for weight in weights:
            weight.trainable = False
        self.last_report = {"frozen": [w.path for w in weights], "layers": layers}
        return model

    def count_params(self, config, base_count):
        return base_count  # only trainability changes
