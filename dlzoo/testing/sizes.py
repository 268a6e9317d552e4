"""Which zoo models are test sizes: `*-tiny` configs small enough to build, train and export in seconds.

`convnext-tiny` is the published 28.6M-parameter ConvNeXt-T, a real size of
the ladder whose name happens to end in `-tiny`: it is counted, never built,
by the tests.
"""

from typing import List, Optional

#: Largest parameter count of a test-size model.
TEST_SIZE_LIMIT = 5_000_000  # bert-tiny (Google's BERT-Tiny, 4.4M with its vocabulary) is one


def tiny_models(names: Optional[List[str]] = None, limit: int = TEST_SIZE_LIMIT) -> List[str]:
    """The `*-tiny` zoo models (of `names`, default every zoo model) with at most `limit` parameters."""
    import dlzoo  # lazy: counting imports the block code

    from dlzoo import configs

    candidates = configs.config_names() if names is None else names
    return [n for n in candidates if n.endswith("-tiny") and dlzoo.count_params(n) <= limit]
