"""The only module that reads private Keras attributes (Keras has no public API for these).

Each function names the attribute it relies on, so a Keras upgrade that moves
it breaks here, in one place, with a test (`tests/compat/test_keras_internals.py`).
"""


def sublayers(layer):
    """The layers `layer` tracks directly, in tracking order (unbuilt sub-layers included).

    Keras keeps them for its own traversal (`Layer._flatten_layers`); there is
    no public equivalent for a `Layer` (only `Model.layers`, top level only).
    """
    return list(layer._flatten_layers(include_self=False, recursive=False))


def seed_generators(layer):
    """Every `keras.random.SeedGenerator` a layer and its sub-layers track (`Layer._seed_generators`)."""
    found = []
    for sub in layer._flatten_layers(include_self=True, recursive=True):
        found.extend(getattr(sub, "_seed_generators", []) or [])
    return found


def base_kernel(layer):
    """The stored kernel variable of a LoRA-enabled `Dense`/`EinsumDense` (`layer._kernel`).

    With LoRA enabled, Keras' public `layer.kernel` is the merged value
    `W + (alpha / rank) A B`, computed on every read; merging and unmerging
    need the variable `W` itself.
    """
    return layer._kernel


class unlocked:
    """Context manager: let a built layer track new state (Keras locks `layer._tracker` after `build`).

    Keras' own `enable_lora` does the same to add the adapter weights; dlzoo
    uses it to add the LoRA-dropout seed generator next to them.
    """

    def __init__(self, layer):
        self.tracker = layer._tracker

    def __enter__(self):
        self.tracker.unlock()
        return self

    def __exit__(self, *exc):
        self.tracker.lock()
