"""Compatibility code, kept apart so the rest of dlzoo reads cleanly.

* `keras_internals`: the only place dlzoo touches private Keras attributes.
* `legacy`: loads configs, presets and `.keras` files written by dlzoo 0.1
  (before one parameter vocabulary and one transformer stack).
"""
