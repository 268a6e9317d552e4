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


class uninitialized_variables:
    """Context manager: variables created inside get shapes and paths but no values (nothing is allocated).

    Keras defers a variable's initialization inside a `keras.StatelessScope`
    and queues it on a global list (`global_state` "uninitialized_variables")
    that the next initializing scope would fill; this scope does not
    initialize, and on exit the queue is put back as it was, so the variables
    made inside stay empty for good (read only their `path` and `shape`).
    Python's and NumPy's global random states (from which Keras draws the
    default seeds of initializers and seed generators) are restored too, so
    building a model afterwards gives the same weights as without this scope.
    dlzoo uses it to read a 7B model's layout without allocating 28 GB.
    """

    def __enter__(self):
        import random

        import keras  # lazy: this module is imported without Keras elsewhere
        import numpy as np
        from keras.src.backend.common import global_state

        self._random_states = (random.getstate(), np.random.get_state())
        self._state = global_state
        self._queued = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
        self._scope = keras.StatelessScope(initialize_variables=False)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        import random

        import numpy as np

        self._scope.__exit__(*exc)
        self._state.set_global_attribute("uninitialized_variables", self._queued)
        random.setstate(self._random_states[0])
        np.random.set_state(self._random_states[1])


class zero_initialized_variables:
    """Context manager: variables created inside are zeros, and each one's own initializer is recorded.

    Every backend's `keras.Variable` runs its initializer through
    `Variable._initialize_with_initializer(initializer)`; inside this scope
    that method is given `Zeros()` instead, and `initializers` receives
    `{id(variable): (variable, initializer)}`. The method is put back on
    exit, also when the block raises. Not thread-safe.

    Args:
        initializers: dict to fill.
    """

    _method = "_initialize_with_initializer"

    def __init__(self, initializers):
        self.initializers = initializers

    def __enter__(self):
        import keras  # lazy: this module is imported without Keras elsewhere

        variable_class = keras.Variable
        self._class = variable_class
        self._own = self._method in variable_class.__dict__
        original = getattr(variable_class, self._method)
        zeros = keras.initializers.Zeros()
        initializers = self.initializers

        def initialize_with_zeros(variable, initializer):
            initializers[id(variable)] = (variable, initializer)
            original(variable, zeros)

        self._original = original
        setattr(variable_class, self._method, initialize_with_zeros)
        return initializers

    def __exit__(self, *exc):
        if self._own:
            setattr(self._class, self._method, self._original)
        else:
            delattr(self._class, self._method)



class one_garbage_collection:
    """Context manager: one `gc.collect()` on exit instead of one per variable Keras deletes inside.

    Keras' `Layer.__delattr__` runs a full `gc.collect()` after removing each
    tracked variable (so device buffers are freed at once); quantizing a
    model replaces every kernel that way, and a full collection costs about
    0.5 s in a process holding many objects (8 s of the 8 s `quantize` of a
    tiny Llama). Inside this scope `gc.collect` does nothing; on exit
    (also when the block raises) it is put back and run once. Not
    thread-safe: another thread's `gc.collect` inside the scope is skipped.
    """

    def __enter__(self):
        import gc

        self._collect = gc.collect
        gc.collect = lambda generation=2: 0
        return self

    def __exit__(self, *exc):
        import gc

        gc.collect = self._collect
        gc.collect()
