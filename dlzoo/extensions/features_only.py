"""Features only: a model that returns named intermediate features of its plan."""

import fnmatch

from dlzoo.extensions._common import others
from dlzoo.extensions.base import Extension
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
            "`layers` must be a level index, a feature name (wildcards allowed) or a non-empty list of them. "
            f"Received: layers={value!r}."
        )
    return list(items)


@register_extension(NAME, paper=None, conflicts_with=others(NAME))
class FeaturesOnly(Extension):
    """Return chosen intermediate features as a dict (a multi-output model), like timm's `features_only`.

    A family's plan names the features it offers: each Transformer layer's
    output (`transformer_layer_0`, ...), each stage of an image model
    (`stage_0`, ..., with its channels and stride in `model.feature_info`),
    and summaries such as `embeddings` and `sequence_output`; any block's
    output can be asked for by the block's name too (`"token_embedding"`).
    Integers index the levels (layers or stages, negative from the end);
    strings are feature or block names, or wildcard patterns
    (`"transformer_layer_*"`). The output becomes `{name: tensor}`; blocks
    the chosen features do not depend on (a head, a final norm) are no
    longer part of the model.

    Args:
        layers: int, str or list of them. Defaults to `None`: every level.
        block_pattern: str. Wildcard pattern of the levels that integers
            count. Defaults to `"*"` (every level).

    Example:

    >>> model = dlzoo.build("gpt-tiny", extensions=[
    ...     {"name": "features_only", "layers": [0, -1]}])

    Reference:
        - No paper: the multi-scale feature extraction interface of timm
          (`features_only=True, out_indices=...`).
    """

    def __init__(self, layers=None, block_pattern="*"):
        self.layers = _check_selection(layers)
        if not isinstance(block_pattern, str) or not block_pattern:
            raise TypeError(f"`block_pattern` must be a non-empty string. Received: block_pattern={block_pattern!r}.")
        self.block_pattern = block_pattern

    def _chosen(self, plan, model_name):
        names = list(plan.features) + [n.name for n in plan.used_nodes() if n.name not in plan.features]
        levels = [f.name for f in plan.level_features() if fnmatch.fnmatchcase(f.name, self.block_pattern)]
        chosen = []
        for item in self.layers if self.layers is not None else list(range(len(levels))):
            if isinstance(item, int):
                if not -len(levels) <= item < len(levels):
                    raise ValueError(
                        f"Extension {NAME!r}: level index {item} is out of range; model {model_name!r} has "
                        f"{len(levels)} levels matching block_pattern={self.block_pattern!r}. Received: layers={self.layers!r}."
                    )
                found = [levels[item]]
            else:
                found = [n for n in names if n == item or fnmatch.fnmatchcase(n, item)]
                if not found:
                    raise ValueError(
                        f"Extension {NAME!r}: no feature of model {model_name!r} matches {item!r}. "
                        f"Received: layers={self.layers!r}. Features: {', '.join(names)}."
                    )
            chosen.extend(n for n in found if n not in chosen)
        return chosen

    def apply_plan(self, plan, config):
        chosen = self._chosen(plan, config["name"])
        plan.set_outputs({name: self._tensor(plan, name) for name in chosen})
        _drop_unused_final_norms(plan)
        return plan

    @staticmethod
    def _tensor(plan, name):
        if name in plan.features:
            return plan.expose_feature(name)
        first = next(c for c in plan.calls if c.node == name)
        return first.outputs if not isinstance(first.outputs, tuple) else first.outputs[0]


def _drop_unused_final_norms(plan):
    """A stack whose own output is no longer read (only its layers' outputs are) needs no final norm."""
    read = {t.name for t in plan.output_tensors()}
    for index in plan.used_calls():
        call = plan.calls[index]
        read.update(t.name for t in plan.tensors_read_by(call))
    for node in plan.used_nodes():
        call = next(c for c in plan.calls if c.node == node.name)
        if node.arguments.get("return_hidden_states") and call.outputs[0].name not in read:
            node.arguments["use_final_norm"] = False
