"""Helpers shared by the feed-forward blocks (activation names, initializers, widths).

Private: not a block, nothing here is registered.
"""

import keras

from dlzoo.registry import signature_parameters
from dlzoo.validation import check_choice

# Keras activation names that do not take a plain `f(x)` of the same shape
# (`glu` halves the last axis, `threshold` needs extra arguments) or are not
# activations at all.
_EXCLUDED = {"get", "serialize", "deserialize", "glu", "threshold"}

# Names dlzoo adds on top of Keras's own.
_EXTRA = {
    "gelu_approximate": lambda x: keras.activations.gelu(x, approximate=True),
}


def _keras_activation_names():
    names = []
    for name in dir(keras.activations):
        if name.startswith("_") or name in _EXCLUDED:
            continue
        fn = getattr(keras.activations, name)
        if not callable(fn):
            continue
        required = [p for p in signature_parameters(fn) if p.default is p.empty]
        if len(required) == 1:
            names.append(name)
    return names


KERAS_ACTIVATIONS = tuple(sorted(_keras_activation_names()))  # what keras.layers.Activation accepts by name
ACTIVATIONS = tuple(sorted(set(KERAS_ACTIVATIONS) | set(_EXTRA)))


def check_activation(name, value):
    """Check that `value` is a supported activation name (string)."""
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be the name of an activation (a string), e.g. 'gelu' or 'silu'. "
            f"Received: {name}={value!r} of type {type(value).__name__}."
        )
    return check_choice(name, value, ACTIVATIONS)


def get_activation(value):
    """The callable for a checked activation name.

    `"gelu"` is the exact (erf) GELU, `"gelu_approximate"` the tanh form.
    """
    if value in _EXTRA:
        return _EXTRA[value]
    return keras.activations.get(value)


def check_initializer(name, value):
    """Check an initializer and return a JSON-friendly form of it.

    Strings and config dicts are kept as given; `Initializer` objects are
    serialized, so `get_config()` stays plain data.
    """
    if isinstance(value, keras.initializers.Initializer):
        return keras.initializers.serialize(value)
    if not isinstance(value, (str, dict)):
        raise TypeError(
            f"`{name}` must be an initializer name, config dict or `keras.initializers.Initializer`. "
            f"Received: {name}={value!r} of type {type(value).__name__}."
        )
    try:
        keras.initializers.get(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"`{name}` is not a known initializer ({e}). Received: {name}={value!r}.") from None
    return value


def make_initializer(value):
    """A fresh initializer instance (so unseeded initializers draw new values)."""
    return keras.initializers.get(value)


def last_dim(input_shape, block):
    """The (known) size of the last axis of `input_shape`."""
    dim = input_shape[-1]
    if dim is None:
        raise ValueError(
            f"{block} needs a known last (hidden) dimension. Received: input_shape={tuple(input_shape)}."
        )
    return int(dim)


def project_shape(input_shape, output_dim):
    """`input_shape` with its last axis replaced by `output_dim`."""
    return tuple(input_shape[:-1]) + (output_dim or input_shape[-1],)


def output_width(input_dim, output_dim):
    return int(output_dim) if output_dim is not None else int(input_dim)


__all__ = [
    "ACTIVATIONS",
    "check_activation",
    "get_activation",
    "check_initializer",
    "make_initializer",
    "last_dim",
    "project_shape",
    "output_width",
]
