"""One step function of Keras layers, compiled once per backend and input shapes (shared by the generation loops).

`StepProgram(function, layers)` wraps `function(*tensors) -> tensors` (a
pure function of its arguments and of the weights of `layers`), the same way
the LM decoding loop is compiled (`dlzoo.generation.compiled`):

* JAX: one `jax.jit` whose arguments are the weights (read through a
  `keras.StatelessScope`) and the tensors, so the weights are not constants
  baked into the program;
* TensorFlow: `tf.function(jit_compile=True)` (XLA);
* PyTorch: under `torch.inference_mode()`, a `torch.jit.trace` per input
  shapes of a module whose parameters are the layers' weights: calls then pay
  no Keras per-layer overhead;
* any other backend: the function itself.

`num_traces` counts the traces made so far (the Python function runs once per
trace on every backend), so a test can check that a loop does not retrace.
"""

import warnings

import keras


class StepProgram:
    """`function(*tensors)` compiled for the current backend (see the module docstring).

    Args:
        function: callable of tensors (nested tuples allowed) returning tensors.
        layers: the Keras layers whose weights `function` reads.
    """

    def __init__(self, function, layers):
        self.function = function
        self.layers = [layer for layer in layers if layer is not None]
        self.num_traces = 0
        backend = keras.backend.backend()
        maker = {"jax": self._jax, "tensorflow": self._tensorflow, "torch": self._torch}.get(backend)
        self._run = maker() if maker is not None else self._counted

    def __call__(self, *arguments):
        return self._run(*keras.tree.map_structure(keras.ops.convert_to_tensor, arguments))

    def _counted(self, *arguments):
        self.num_traces += 1
        return self.function(*arguments)

    def _jax(self):
        import jax

        variables = [variable for layer in self.layers for variable in layer.variables]

        def stateless(values, *arguments):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return self._counted(*arguments)

        jitted = jax.jit(stateless)

        def run(*arguments):
            return jitted([variable.value for variable in variables], *arguments)

        return run

    def _tensorflow(self):
        import tensorflow as tf

        return tf.function(self._counted, jit_compile=True)

    def _torch(self):
        import torch

        program = self

        class LayersStep(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = torch.nn.ModuleList(program.layers)

            def forward(self, *arguments):
                return program.function(*arguments)

        module = LayersStep()
        traced = {}  # input shapes and dtypes -> traced module

        def run(*arguments):
            flat = keras.tree.flatten(arguments)
            key = tuple((tuple(t.shape), str(t.dtype)) for t in flat)
            with torch.inference_mode():
                if key not in traced:
                    with warnings.catch_warnings():
                        # Shape checks and Python constants become constants of the trace, which is per shape.
                        warnings.simplefilter("ignore", torch.jit.TracerWarning)
                        traced[key] = torch.jit.trace(module, arguments, check_trace=False, strict=False)
                    self.num_traces += 1
                return traced[key](*arguments)

        return run


__all__ = ["StepProgram"]
