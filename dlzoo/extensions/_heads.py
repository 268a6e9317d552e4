"""What the task heads share: the features they read from a model's plan (private)."""

from dlzoo.blocks.pooling.sequence_pooling import POOLINGS
from dlzoo.plan import Tensor


def pooled_features(plan, extension: str, pooling: str, prefix: str) -> Tensor:
    """`(batch, width)` features for a head.

    A sequence model's hidden states (its `sequence_output` feature) are
    pooled with a `sequence_pooling` block named `f"{prefix}_pooling"`,
    using the model's `padding_mask`; BERT's own pooled output is used for
    `pooling="cls"`. A model whose plan offers only `pooled_output` (an
    image classifier) gives that, whatever `pooling` says.
    """
    if "pooled_output" in plan.features and (pooling == "cls" or "sequence_output" not in plan.features):
        return plan.feature("pooled_output").tensor
    if "sequence_output" not in plan.features:
        raise ValueError(
            f"Extension {extension!r} needs a model that offers `sequence_output` or `pooled_output` features. "
            f"Received: a model with features {sorted(plan.features) or 'none'}."
        )
    hidden = plan.feature("sequence_output").tensor
    layer = plan.block(f"{prefix}_pooling", "sequence_pooling", pooling=pooling)
    if pooling == "cls" or "padding_mask" not in plan.inputs:
        return layer(hidden)
    return layer(hidden, padding_mask=Tensor("padding_mask"))


__all__ = ["POOLINGS", "pooled_features"]
