"""The decoding loop compiled once per backend: `jax.jit`, `tf.function`, or eager torch under `inference_mode`.

This is the only backend-specific code of generation (blocks stay
`keras.ops`-only). Programs are cached per model and `LoopSettings`; JAX and
TensorFlow trace again only for a new batch size or buffer length.

* JAX: the weights are arguments of one `jax.jit` function (read through a
  `keras.StatelessScope`), not constants baked into the program, and the loop
  is a `lax.while_loop`;
* TensorFlow: one `tf.function` (the loop is a `tf.while_loop`);
* PyTorch: the same code eagerly, under `torch.inference_mode()` (no autograd
  bookkeeping).
"""

import functools
import weakref

import keras

from dlzoo.generation.decode_loop import decode

_PROGRAMS = weakref.WeakKeyDictionary()  # model -> {LoopSettings: callable}


def _jax_program(lm, settings):
    import jax

    variables = lm.variables

    def stateless(values, *arguments):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return decode(lm, settings, *arguments)

    jitted = jax.jit(stateless)

    def run(*arguments):
        return jitted([variable.value for variable in variables], *arguments)

    return run


def _tensorflow_program(lm, settings):
    import tensorflow as tf

    return tf.function(functools.partial(decode, lm, settings))


def _torch_program(lm, settings):
    import torch

    def run(*arguments):
        with torch.inference_mode():
            return decode(lm, settings, *arguments)

    return run


_MAKERS = {"jax": _jax_program, "tensorflow": _tensorflow_program, "torch": _torch_program}


def decoding_program(model, lm, settings):
    """The compiled `decode(lm, settings, ...)` for `model` on the current backend (made once, then reused)."""
    programs = _PROGRAMS.setdefault(model, {})
    program = programs.get(settings)
    if program is None:
        backend = keras.backend.backend()
        maker = _MAKERS.get(backend)
        program = maker(lm, settings) if maker is not None else functools.partial(decode, lm, settings)
        programs[settings] = program
    return program


__all__ = ["decoding_program"]
