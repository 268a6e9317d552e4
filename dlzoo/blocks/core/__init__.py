"""Keras' own layers, registered by name so that plans and configs can use them like blocks.

`"dense"` is `keras.layers.Dense`, `"add"` is `keras.layers.Add`, and so on:
dlzoo does not write again what Keras has (STYLE.md). Each entry records the
layer's exact weight count for an input shape, so models that use them are
counted without allocating anything.
"""

from dlzoo.blocks.core import keras_layers  # noqa: F401  (registers the layers)

__all__ = []
