"""A model's forward pass compiled once per input shape, with shape buckets: `compile_forward(model, ...)`.

This is the only backend-specific module of inference (blocks stay
`keras.ops`-only). One program per input shape (after bucketing), kept in a
bounded LRU:

* JAX: one `jax.jit` of the stateless forward, compiled ahead of time per
  shape; the weights are arguments read at every call (not constants baked
  into the program), through a `keras.StatelessScope`; variables the forward
  assigns (e.g. a seed generator's state) are written back, as eager calls do;
* TensorFlow: `tf.function(model(x, training=False), jit_compile=True)` with
  a fixed input signature per (bucketed) shape: XLA was the faster on the
  project's CPU (`JIT_COMPILE_TENSORFLOW`; False switches to one plain
  `tf.function` traced with `None` axes, which serves every shape unpadded);
* PyTorch: under `torch.inference_mode()`, a `torch.jit.trace` of the forward
  per shape (the model's variables stay parameters of the traced module, so
  later `set_weights`/`assign` are seen); the trace runs without Keras'
  per-layer Python overhead. A trace that fails, or whose output differs from
  the eager call it was traced from (e.g. data-dependent control flow or
  random sampling at inference), is replaced by eager `inference_mode` calls
  for that shape, with a warning.

Shapes: `batch_buckets` pads axis 0 of every input with zero rows up to the
next bucket and slices the outputs back; larger batches run in chunks of the
largest bucket. `sequence_buckets` pads axis 1 of the inputs whose axis 1 is
dynamic (token ids, padding mask) with zeros/False up to the next bucket and
slices the outputs whose axis 1 is dynamic back; it is exact, hence allowed,
only for causal LMs (families in `CAUSAL_LM_FAMILIES`) and models with a
`padding_mask` input.
"""

import collections
import numbers
import warnings

import keras
import numpy as np

from dlzoo.generation.causal_lm import CAUSAL_LM_FAMILIES
from dlzoo.validation import check_positive_int

PADDING_MASK_INPUT = "padding_mask"
# Measured on the project's (shared) 2-core CPU, width-256 Llama shape, seq 128, interleaved rounds
# (guides/performance.md, "Fast inference"): XLA 0.65x / 0.89x the time of `predict_on_batch` at batch 1 / 32,
# a plain tf.function traced once with `None` axes 0.79x / 1.17x. False: that plain tf.function, which serves
# every shape (nothing is padded).
JIT_COMPILE_TENSORFLOW = False


def _check_buckets(name, value):
    """`None`, or the sorted distinct sizes of a non-empty list/tuple of positive integers."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            f"`{name}` must be None or a list/tuple of positive integers. Received: {name}={value!r} "
            f"of type {type(value).__name__}."
        )
    if not value:
        raise ValueError(f"`{name}` must hold at least one size, or be None. Received: {name}={value!r}.")
    for size in value:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"Every entry of `{name}` must be a positive integer. Received: {name}={value!r}.")
        if size < 1:
            raise ValueError(f"Every entry of `{name}` must be a positive integer. Received: {name}={value!r}.")
    return tuple(sorted({int(size) for size in value}))


def _symbolic(model, attribute):
    """The functional model's `input`/`output` structure of KerasTensors, or None (subclassed model)."""
    try:
        value = getattr(model, attribute)
    except (AttributeError, ValueError):
        return None
    leaves = keras.tree.flatten(value) if value is not None else []
    return value if leaves and all(isinstance(t, keras.KerasTensor) for t in leaves) else None


def _next_bucket(size, buckets):
    for bucket in buckets:
        if bucket >= size:
            return bucket
    return None


def _pad_axis(x, axis, target):
    """`x` padded with zeros (False for bool) along `axis` up to length `target`."""
    missing = target - x.shape[axis]
    if missing == 0:
        return x
    shape = list(x.shape)
    shape[axis] = missing
    return keras.ops.concatenate([x, keras.ops.zeros(shape, dtype=x.dtype)], axis=axis)


def _flat_names(inputs):
    """A name for each leaf of `inputs` in `keras.tree.flatten` order: dict keys, else positions."""
    if isinstance(inputs, dict):
        return keras.tree.flatten({key: key for key in inputs})
    return list(range(len(keras.tree.flatten(inputs))))


def _structure_key(inputs):
    if isinstance(inputs, dict):
        return tuple(inputs)
    if isinstance(inputs, (list, tuple)):
        return (type(inputs).__name__, len(inputs))
    return None


# ---------------------------------------------------------------- per-backend programs
def _jax_program(model, variables, structure, flat, declared, jit_compile):
    import jax

    assigned = []  # positions in `variables` of the variables the forward assigns (found while tracing)

    def stateless(values, flat):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            before = dict(scope.state_mapping)
            outputs = model(keras.tree.pack_sequence_as(structure, flat), training=False)
        assigned[:] = [i for i, v in enumerate(variables) if scope.state_mapping[id(v)] is not before[id(v)]]
        return outputs, [scope.state_mapping[id(variables[i])] for i in assigned]

    compiled = jax.jit(stateless).lower([v.value for v in variables], flat).compile()

    def run(flat):
        outputs, updates = compiled([v.value for v in variables], flat)
        for i, value in zip(assigned, updates):
            variables[i].assign(value)
        return outputs

    return run, "jax.jit"


def _relaxed_shape(shape, declared):
    """`shape` with axis 0 and every axis the model declares dynamic (or does not declare) set to None."""
    if declared is None or len(declared) != len(shape):
        return [None] * len(shape)
    return [None] + [None if d is None else int(s) for s, d in zip(shape[1:], declared[1:])]


def _tensorflow_program(model, variables, structure, flat, declared, jit_compile):
    import tensorflow as tf

    def forward(*flat):
        return model(keras.tree.pack_sequence_as(structure, list(flat)), training=False)

    if jit_compile:  # XLA compiles per concrete shape: one program per (bucketed) shape
        signature = [tf.TensorSpec(x.shape, x.dtype) for x in flat]
    else:
        signature = [tf.TensorSpec(_relaxed_shape(x.shape, d), x.dtype) for x, d in zip(flat, declared)]
    # autograph=False as in Keras' own predict step: Keras layers need no conversion (and it writes temp files).
    function = tf.function(forward, input_signature=signature, jit_compile=jit_compile, autograph=False)
    function.get_concrete_function()  # trace now, so `num_programs` counts real traces

    def run(flat):
        return function(*flat)

    return run, f"tf.function(jit_compile={jit_compile})"


def _torch_program(model, variables, structure, flat, declared, jit_compile):
    import torch

    def eager(flat):
        with torch.inference_mode():
            return model(keras.tree.pack_sequence_as(structure, list(flat)), training=False)

    output_structure = []

    class Forward(torch.nn.Module):
        """The model's forward on flat tensors; the model is a submodule, so its weights are parameters."""

        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([model])

        def forward(self, *flat):
            outputs = model(keras.tree.pack_sequence_as(structure, list(flat)), training=False)
            output_structure[:] = [outputs]
            return tuple(keras.tree.flatten(outputs))

    reason = None
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # Shape checks and Python constants become constants of the trace, which is per shape.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(Forward(), tuple(flat), check_trace=False)
            expected = keras.tree.flatten(model(keras.tree.pack_sequence_as(structure, list(flat)), training=False))
            got = traced(*flat)
        for want, have in zip(expected, got):
            if want.shape != have.shape or not (
                torch.allclose(want, have, rtol=1e-4, atol=1e-5, equal_nan=True)
                if want.is_floating_point() else torch.equal(want, have)
            ):
                reason = "the traced forward differs from the eager call it was traced from"
                break
    except Exception as error:  # noqa: BLE001 - any tracing failure falls back to eager inference
        reason = f"tracing failed ({type(error).__name__}: {error})"
    if reason is not None:
        warnings.warn(
            f"compile_forward: {reason}; input shapes {[tuple(x.shape) for x in flat]} run eagerly under "
            f"torch.inference_mode() instead.",
            stacklevel=4,
        )
        return eager, "eager torch.inference_mode"
    structure_out = output_structure[0]

    def run(flat):
        with torch.inference_mode():
            return keras.tree.pack_sequence_as(structure_out, list(traced(*flat)))

    return run, "torch.jit.trace"


def _eager_program(model, variables, structure, flat, declared, jit_compile):
    def run(flat):
        return model(keras.tree.pack_sequence_as(structure, list(flat)), training=False)

    return run, "eager"


_MAKERS = {"jax": _jax_program, "tensorflow": _tensorflow_program, "torch": _torch_program}


# ---------------------------------------------------------------- the public object
class CompiledForward:
    """A model's inference forward pass, compiled once per (bucketed) input shape.

    Made by `dlzoo.compile_forward(model, ...)` (or `ZooModel.compile_forward`).
    Calling it equals `model(inputs, training=False)`.

    Args:
        model: a built `keras.Model` (a dlzoo `ZooModel` or any other).
        batch_buckets: None or list of int. Batch sizes to compile: each call's
            inputs are padded with zero rows up to the next bucket and the
            outputs sliced back; a larger batch runs in chunks of the largest
            bucket. None: one program per batch size seen. (TensorFlow with
            `JIT_COMPILE_TENSORFLOW = False`: one program for every shape;
            nothing is padded.)
        sequence_buckets: None or list of int. Sequence lengths to compile:
            axis 1 of every input whose axis 1 is dynamic is padded with
            zeros (False) up to the next bucket, and axis 1 of every output
            whose axis 1 is dynamic is sliced back. Allowed only where that
            is exact: causal LMs (`gpt`, `llama`) and models with a
            `padding_mask` input. A longer input is refused.
        max_programs: int. How many compiled programs to keep (least
            recently used ones are dropped), bounding memory.

    Attributes:
        num_programs: int. Programs compiled (traced) so far, evicted ones included.
        num_cached_programs: int. Programs held now (at most `max_programs`).
        mechanism: str. How the last program runs (`"jax.jit"`,
            `"tf.function(jit_compile=True)"`, `"torch.jit.trace"`, ...).

    Notes:
        The weights are read at every call, so `set_weights`/`assign` after
        compiling are seen. Replacing the variables themselves (e.g.
        `model.quantize(...)`) needs a new `compile_forward`. Padded rows
        and positions may hold any value (even NaN) inside the program;
        they are sliced away.

    Example:

    >>> model = dlzoo.build("gpt-tiny")
    >>> forward = dlzoo.compile_forward(model, batch_buckets=(1, 4))
    >>> ids = np.ones((3, 8), "int32")
    >>> logits = forward.predict({"token_ids": ids, "padding_mask": ids > 0})
    >>> logits.shape, forward.num_programs
    ((3, 8, 512), 1)
    """

    def __init__(self, model, *, batch_buckets=None, sequence_buckets=None, max_programs=8):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a built keras.Model. Received: model of type {type(model).__name__}.")
        self.model = model
        self.batch_buckets = _check_buckets("batch_buckets", batch_buckets)
        self.sequence_buckets = _check_buckets("sequence_buckets", sequence_buckets)
        self.max_programs = check_positive_int("max_programs", max_programs)
        self.backend = keras.backend.backend()
        self.num_programs = 0
        self.mechanism = None
        self._input_spec = _symbolic(model, "input")
        self._input_dtypes, self._input_shapes = {}, {}
        if self._input_spec is not None:
            spec = keras.tree.flatten(self._input_spec)
            self._input_dtypes = {name: t.dtype for name, t in zip(_flat_names(self._input_spec), spec)}
            self._input_shapes = {name: tuple(t.shape) for name, t in zip(_flat_names(self._input_spec), spec)}
        # Read once: a plain tf.function traced with `None` axes serves every shape (see JIT_COMPILE_TENSORFLOW).
        self._jit_compile = JIT_COMPILE_TENSORFLOW
        self._shape_free = self.backend == "tensorflow" and not self._jit_compile
        self._variables = list(model.variables)
        self._programs = collections.OrderedDict()
        self._sequence_inputs, self._sequence_outputs = (), ()
        if self.sequence_buckets is not None:
            self._sequence_inputs, self._sequence_outputs = self._sequence_axes()

    @property
    def num_cached_programs(self):
        return len(self._programs)

    # ------------------------------------------------------------ checks made once
    def _sequence_axes(self):
        """Positions (in the flat inputs / outputs) of the tensors whose axis 1 is padded / sliced."""
        received = f"Received: sequence_buckets={self.sequence_buckets!r}"
        output_spec = _symbolic(self.model, "output")
        if self._input_spec is None or output_spec is None:
            raise ValueError(
                "`sequence_buckets` needs a functional model, whose inputs and outputs declare which axes are "
                f"sequences; {self.model.name!r} is not one. {received}. Use sequence_buckets=None."
            )
        config = getattr(self.model, "zoo_config", None)
        family = config.get("model") if isinstance(config, dict) else None
        names = list(self._input_spec) if isinstance(self._input_spec, dict) else [
            t.name for t in keras.tree.flatten(self._input_spec)]
        if family not in CAUSAL_LM_FAMILIES and PADDING_MASK_INPUT not in names:
            raise ValueError(
                "`sequence_buckets` pads axis 1 of the inputs, which is exact only for causal LMs (families "
                f"{list(CAUSAL_LM_FAMILIES)}: right padding cannot change earlier positions) and for models with a "
                f"`{PADDING_MASK_INPUT}` input (the padding is masked out). Model {self.model.name!r} (family "
                f"{family!r}, inputs {names}) is neither. {received}. Use sequence_buckets=None."
            )
        padded = tuple(name for name, t in zip(_flat_names(self._input_spec), keras.tree.flatten(self._input_spec))
                       if len(t.shape) >= 2 and t.shape[1] is None)
        if not padded:
            raise ValueError(
                f"`sequence_buckets` pads a dynamic axis 1, but no input of {self.model.name!r} has one "
                f"(inputs {names}). {received}."
            )
        for layer in self.model.layers:
            limit = getattr(layer, "max_sequence_length", None) if layer.name == "position_embedding" else None
            if isinstance(limit, int) and self.sequence_buckets[-1] > limit:
                raise ValueError(
                    f"Every entry of `sequence_buckets` must be <= the model's max_sequence_length ({limit}, its "
                    f"learned positions). {received}."
                )
        sliced = tuple(i for i, t in enumerate(keras.tree.flatten(output_spec))
                       if len(t.shape) >= 2 and t.shape[1] is None)
        return padded, sliced

    # ------------------------------------------------------------ calls
    def __call__(self, inputs):
        """The model's outputs on `inputs` (backend tensors, the structure of `model(inputs)`)."""
        flat = keras.tree.flatten(inputs)
        if not flat:
            raise ValueError(f"`inputs` must hold at least one array. Received: inputs={inputs!r}.")
        names = _flat_names(inputs)
        flat = self._convert(names, flat)
        structure_key = _structure_key(inputs)
        length = None
        if self.sequence_buckets is not None:
            padded = [i for i, name in enumerate(names) if name in self._sequence_inputs]
            length = self._sequence_length([flat[i] for i in padded])
            target = _next_bucket(length, self.sequence_buckets)
            if target is None:
                raise ValueError(
                    f"The inputs' sequence length {length} exceeds the largest of `sequence_buckets`. Received: "
                    f"sequence_buckets={self.sequence_buckets!r}. Add a larger bucket."
                )
            if not self._shape_free:
                flat = [_pad_axis(x, 1, target) if i in padded else x for i, x in enumerate(flat)]
        if self.batch_buckets is None:
            outputs = self._run(inputs, names, structure_key, flat)
        else:
            outputs = self._run_bucketed(inputs, names, structure_key, flat)
        if length is not None and not self._shape_free:
            leaves = keras.tree.flatten(outputs)
            leaves = [y[:, :length] if i in self._sequence_outputs else y for i, y in enumerate(leaves)]
            outputs = keras.tree.pack_sequence_as(outputs, leaves)
        return outputs

    def predict(self, inputs):
        """The model's outputs on `inputs` as NumPy arrays (what serving needs)."""
        return keras.tree.map_structure(lambda y: np.asarray(keras.ops.convert_to_numpy(y)), self(inputs))

    def _convert(self, names, flat):
        """Backend tensors, in the dtypes of the model's inputs where it declares them."""
        dtypes = [self._input_dtypes.get(name) for name in names]
        return [keras.ops.convert_to_tensor(x, dtype=d) for x, d in zip(flat, dtypes)]

    def _sequence_length(self, padded):
        lengths = {int(x.shape[1]) for x in padded}
        if len(lengths) != 1:
            raise ValueError(
                f"With `sequence_buckets`, the inputs' axis 1 must have one length. Received lengths {sorted(lengths)} "
                f"(sequence_buckets={self.sequence_buckets!r})."
            )
        return lengths.pop()

    def _run_bucketed(self, inputs, names, structure_key, flat):
        batches = {int(x.shape[0]) if len(x.shape) else None for x in flat}
        if len(batches) != 1 or None in batches:
            raise ValueError(
                "`batch_buckets` pads axis 0 of every input, so every input must have the same size there. Received "
                f"input shapes {[tuple(x.shape) for x in flat]} (batch_buckets={self.batch_buckets!r}). Use "
                "batch_buckets=None for models whose inputs have no shared batch axis (e.g. graphs)."
            )
        batch = batches.pop()
        largest = self.batch_buckets[-1]
        if batch > largest:
            parts = [self._run_bucketed(inputs, names, structure_key, [x[start:start + largest] for x in flat])
                     for start in range(0, batch, largest)]
            leaves = [keras.ops.concatenate(group, axis=0) for group in zip(*(keras.tree.flatten(p) for p in parts))]
            return keras.tree.pack_sequence_as(parts[0], leaves)
        target = _next_bucket(batch, self.batch_buckets)
        if target == batch or self._shape_free:
            return self._run(inputs, names, structure_key, flat)
        outputs = self._run(inputs, names, structure_key, [_pad_axis(x, 0, target) for x in flat])
        return keras.tree.map_structure(lambda y: y[:batch], outputs)

    def _run(self, inputs, names, structure_key, flat):
        if self._shape_free:
            key = (structure_key, tuple((len(x.shape), str(x.dtype)) for x in flat))
        else:
            key = (structure_key, tuple((tuple(x.shape), str(x.dtype)) for x in flat))
        program = self._programs.get(key)
        if program is None:
            maker = _MAKERS.get(self.backend, _eager_program)
            skeleton = keras.tree.map_structure(lambda _: 0, inputs)  # the structure, without the arrays
            declared = [self._input_shapes.get(name) for name in names]
            program, self.mechanism = maker(self.model, self._variables, skeleton, flat, declared, self._jit_compile)
            self.num_programs += 1
            self._programs[key] = program
            while len(self._programs) > self.max_programs:
                self._programs.popitem(last=False)
        else:
            self._programs.move_to_end(key)
        return program(flat)

    def __repr__(self):
        return (
            f"<CompiledForward of {self.model.name!r} on {self.backend} ({self.mechanism or 'nothing compiled yet'}): "
            f"{self.num_programs} programs compiled, {self.num_cached_programs} held "
            f"(max_programs={self.max_programs}), "
            f"batch_buckets={self.batch_buckets}, sequence_buckets={self.sequence_buckets}>"
        )


def compile_forward(model, *, batch_buckets=None, sequence_buckets=None, max_programs=8):
    """The fast inference path of a built model: its forward pass compiled per (bucketed) input shape.

    `compile_forward(model)(inputs)` equals `model(inputs, training=False)`;
    `.predict(inputs)` gives NumPy arrays. See `CompiledForward` for the
    arguments and guides/performance.md ("Fast inference") for the
    per-backend mechanism and the bucketing rules.
    """
    return CompiledForward(model, batch_buckets=batch_buckets, sequence_buckets=sequence_buckets,
                           max_programs=max_programs)


__all__ = ["JIT_COMPILE_TENSORFLOW", "CompiledForward", "compile_forward"]
