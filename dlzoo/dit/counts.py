"""DiT parameter counts: what dlzoo holds, and what the reference code reports."""

from dlzoo.inspection import config_of, count_params


def position_table_size(source, **params) -> int:
    """Values of DiT's fixed 2-D sin-cos position table: `(H / p) * (W / p) * hidden_dim`.

    The table is not a weight in dlzoo (it is computed in the call), so
    `dlzoo.count_params` does not count it.

    Args:
        source: a zoo name (`"dit-xl-2"`), a config dict or a built DiT.
        **params: parameter overrides.
    """
    p = config_of(source, **params)["params"]
    height, width, _ = p["image_shape"]
    return (height // p["patch_size"]) * (width // p["patch_size"]) * p["hidden_dim"]


def reference_parameter_count(source, **params) -> int:
    """The count the reference code (facebookresearch/DiT) reports: the weights plus the position table.

    The reference stores the fixed table as an `nn.Parameter` with
    `requires_grad=False`, so `sum(p.numel() for p in model.parameters())`
    includes it: 675,129,632 for DiT-XL/2, of which 674,834,720
    (`dlzoo.count_params("dit-xl-2")`) are trainable.

    Args:
        source: a zoo name, a config dict or a built DiT.
        **params: parameter overrides.
    """
    return count_params(source, **params) + position_table_size(source, **params)
