"""The shared block/model test harness, run on whichever backend is active.

Modelled on the checks of `keras.src.testing.TestCase.run_layer_test` (which is
private, so not imported): one call runs every generic check a block must pass.
"""

import json
import os
import tempfile
import unittest
from typing import Any, Dict, Optional, Sequence

import numpy as np

import keras

from dlzoo.compat.keras_internals import seed_generators
from dlzoo.registry import init_arguments, signature_parameters

_BASE_CONFIG_KEYS = {"name", "trainable", "dtype"}


def make_input(spec: Any, seed: int = 0) -> Any:
    """Deterministic NumPy data for an input spec.

    Args:
        spec: A shape tuple (float32 standard normal), a dict
            `{"shape": ..., "dtype": "int32", "max": N}` (integers in
            `[0, max)`), `{"shape": ..., "dtype": "bool"}` (random mask with
            the first position kept), or a dict/list of such specs.
        seed: int. Seed of the NumPy generator.
    """
    rng = np.random.default_rng(seed)
    return _make(spec, rng)


def _make(spec, rng):
    if isinstance(spec, tuple):
        return rng.standard_normal(spec).astype("float32")
    if isinstance(spec, dict) and "shape" in spec:
        shape = tuple(spec["shape"])
        dtype = spec.get("dtype", "float32")
        if dtype == "bool":
            mask = rng.random(shape) > 0.3
            mask[..., 0] = True
            return mask
        if "int" in dtype:
            return rng.integers(0, spec.get("max", 10), size=shape).astype(dtype)
        return (rng.standard_normal(shape) * spec.get("scale", 1.0)).astype(dtype)
    if isinstance(spec, dict):
        return {k: _make(v, rng) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_make(v, rng) for v in spec]
    raise TypeError(f"Unsupported input spec: {spec!r}")


def _to_numpy(x):
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_numpy(v) for v in x)
    return keras.ops.convert_to_numpy(x)


def _first(x):
    """The primary output of a block: first of a tuple/list, or a dict's first value."""
    if isinstance(x, dict):
        return next(iter(x.values()))
    if isinstance(x, (list, tuple)):
        return x[0]
    return x


def _shape_of(x):
    if isinstance(x, dict):
        return {k: _shape_of(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return tuple(_shape_of(v) for v in x)
    return tuple(x.shape)


def _split_inputs(input_data):
    """(positional input, tensor keyword inputs) from the harness input data."""
    if isinstance(input_data, dict):
        keys = list(input_data)
        return input_data[keys[0]], {k: input_data[k] for k in keys[1:]}, keys[0]
    return input_data, {}, None


def _symbolic(x):
    if isinstance(x, dict):
        return {k: _symbolic(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_symbolic(v) for v in x)
    return keras.KerasTensor(x.shape, dtype=str(x.dtype))


def _inputs_like(x, name):
    if isinstance(x, (list, tuple)):
        return [keras.Input(shape=v.shape[1:], batch_size=v.shape[0], dtype=str(v.dtype), name=f"{name}_{i}") for i, v in enumerate(x)]
    return keras.Input(shape=x.shape[1:], batch_size=x.shape[0], dtype=str(x.dtype), name=name)


def wrap_in_model(layer, input_data, call_kwargs=None):
    """A functional `keras.Model` whose only layer is `layer`, fed `input_data`."""
    call_kwargs = dict(call_kwargs or {})
    positional, tensor_kwargs, _ = _split_inputs(input_data)
    model_inputs = {}
    pos_in = _inputs_like(positional, "inputs")
    if isinstance(pos_in, list):
        for i, t in enumerate(pos_in):
            model_inputs[f"inputs_{i}"] = t
    else:
        model_inputs["inputs"] = pos_in
    kw_in = {}
    for k, v in tensor_kwargs.items():
        kw_in[k] = _inputs_like(v, k)
        model_inputs[k] = kw_in[k]
    outputs = layer(pos_in, **kw_in, **call_kwargs)
    return keras.Model(model_inputs, outputs), model_inputs


def model_feed(input_data):
    positional, tensor_kwargs, _ = _split_inputs(input_data)
    feed = {}
    if isinstance(positional, (list, tuple)):
        for i, v in enumerate(positional):
            feed[f"inputs_{i}"] = v
    else:
        feed["inputs"] = positional
    feed.update(tensor_kwargs)
    return feed


class TestCase(unittest.TestCase):
    """Base test case with the shared checks every dlzoo block goes through."""

    def setUp(self):
        keras.config.set_dtype_policy("float32")
        keras.utils.set_random_seed(1337)

    def tearDown(self):
        keras.config.set_dtype_policy("float32")

    # ------------------------------------------------------------------ helpers
    def assertAllClose(self, actual, expected, atol=1e-6, rtol=1e-6, msg=None):
        np.testing.assert_allclose(
            np.asarray(_to_numpy(actual), dtype="float64"),
            np.asarray(_to_numpy(expected), dtype="float64"),
            atol=atol,
            rtol=rtol,
            err_msg=msg or "",
        )

    def assertRaisesNamed(self, exc_type, *fragments):
        """assertRaises whose message must contain every fragment (e.g. the argument name)."""
        case = self

        class _Ctx:
            def __enter__(self):
                self._cm = case.assertRaises(exc_type)
                self._cm.__enter__()
                return self._cm

            def __exit__(self, *exc):
                result = self._cm.__exit__(*exc)
                message = str(self._cm.exception)
                for fragment in fragments:
                    case.assertIn(fragment, message)
                return result

        return _Ctx()

    # ------------------------------------------------------------ the harness
    def run_block_test(
        self,
        cls,
        init_kwargs: Dict[str, Any],
        input_shape: Any = None,
        input_data: Any = None,
        expected_output_shape: Any = None,
        expected_output_dtype: Optional[str] = None,
        expected_num_trainable_weights: Optional[int] = None,
        expected_num_non_trainable_weights: Optional[int] = None,
        expected_num_seed_generators: Optional[int] = None,
        expected_output: Any = None,
        expected_output_atol: float = 1e-5,
        call_kwargs: Optional[Dict[str, Any]] = None,
        run_training_check: bool = True,
        run_precision_check: bool = True,
        run_saving_check: bool = True,
        run_symbolic_check: bool = True,
        weights_without_gradient: Sequence[str] = (),
    ):
        """Run the generic checks on one block configuration.

        Args:
            cls: The block class.
            init_kwargs: dict. Constructor arguments.
            input_shape: Input spec (see `make_input`); used when
                `input_data` is not given.
            input_data: NumPy data or a dict of call-argument -> data (the
                first key is the positional input; the rest are passed as
                keyword tensors).
            expected_output_shape: tuple (or nested) of the primary output.
            expected_output_dtype: str. Defaults to `"float32"`.
            expected_num_trainable_weights: int. Checked after `build`.
            expected_num_non_trainable_weights: int. Checked after `build`.
            expected_num_seed_generators: int. Checked after `build`.
            expected_output: golden values for the eager call.
            expected_output_atol: float. Tolerance for `expected_output`.
            call_kwargs: dict. Non-tensor call arguments.
            run_training_check: bool. One `fit` step, gradients reach weights.
            run_precision_check: bool. `mixed_bfloat16` check.
            run_saving_check: bool. `.keras` save/load round trip.
            run_symbolic_check: bool. `KerasTensor` call vs `compute_output_shape`.
            weights_without_gradient: names (substrings of weight paths) that
                legitimately get no gradient on the first step (e.g. the
                sub-layers behind a zero-initialised AdaLN-Zero gate).
        """
        if input_data is None:
            if input_shape is None:
                raise ValueError("run_block_test needs `input_shape` or `input_data`.")
            input_data = make_input(input_shape)
        call_kwargs = dict(call_kwargs or {})
        positional, tensor_kwargs, _ = _split_inputs(input_data)

        # 1. config round trip
        layer = cls(**init_kwargs)
        self._check_config_round_trip(cls, layer)

        # 2. build creates all weights
        layer = cls(**init_kwargs)
        if not tensor_kwargs and hasattr(layer, "build"):
            layer.build(_shape_of(positional))
            self.assertTrue(layer.built, f"{cls.__name__}.build() did not set `built`.")
            n_weights_after_build = len(layer.weights)
        else:
            n_weights_after_build = None

        # 3. eager call
        output = layer(positional, **tensor_kwargs, **call_kwargs)
        if n_weights_after_build is not None:
            self.assertEqual(
                n_weights_after_build,
                len(layer.weights),
                f"{cls.__name__}: build() created {n_weights_after_build} weights but the "
                f"first call created more ({len(layer.weights)}). Create every weight in build().",
            )
        if expected_num_trainable_weights is not None:
            self.assertEqual(len(layer.trainable_weights), expected_num_trainable_weights)
        if expected_num_non_trainable_weights is not None:
            self.assertEqual(len(layer.non_trainable_weights), expected_num_non_trainable_weights)
        if expected_num_seed_generators is not None:
            self.assertEqual(len(_seed_generators(layer)), expected_num_seed_generators)
        if hasattr(layer, "count_params_for"):
            kw_shapes = {f"{k}_shape": _shape_of(v) for k, v in tensor_kwargs.items()}
            self.assertEqual(
                layer.count_params_for(_shape_of(positional), **kw_shapes),
                layer.count_params(),
                f"{cls.__name__}.count_params_for() disagrees with the built layer.",
            )
        primary = _first(output)
        if expected_output_shape is not None:
            self.assertEqual(tuple(primary.shape), tuple(expected_output_shape))
        self.assertEqual(
            keras.backend.standardize_dtype(primary.dtype), expected_output_dtype or "float32"
        )
        values = keras.ops.convert_to_numpy(primary)
        if np.issubdtype(values.dtype, np.floating):
            self.assertTrue(np.all(np.isfinite(values)), f"{cls.__name__} produced NaN/Inf.")
        if expected_output is not None:
            self.assertAllClose(primary, expected_output, atol=expected_output_atol, rtol=0)

        # 4. symbolic call agrees with compute_output_shape
        if run_symbolic_check:
            sym_layer = cls(**init_kwargs)
            sym_out = sym_layer(_symbolic(positional), **_symbolic(tensor_kwargs), **call_kwargs)
            self.assertEqual(tuple(_first(sym_out).shape), tuple(primary.shape))
            if not tensor_kwargs and _overrides(cls, "compute_output_shape"):
                accepted = {p.name for p in signature_parameters(sym_layer.compute_output_shape)}
                extra = {k: v for k, v in call_kwargs.items() if k in accepted}
                shape = sym_layer.compute_output_shape(_shape_of(positional), **extra)
                shape = _first(shape) if isinstance(shape, (list, dict)) or (
                    isinstance(shape, tuple) and shape and isinstance(shape[0], tuple)
                ) else shape
                self.assertEqual(tuple(shape), tuple(primary.shape))

        # 5. one training step: every trainable weight moves
        if run_training_check and layer.trainable_weights:
            self._check_training_step(cls, init_kwargs, input_data, call_kwargs, weights_without_gradient)

        # 6. mixed precision
        if run_precision_check:
            self._check_mixed_precision(cls, init_kwargs, positional, tensor_kwargs, call_kwargs)

        # 7. .keras save/load identical outputs
        if run_saving_check:
            self.run_saving_test(cls(**init_kwargs), input_data, call_kwargs)
        return layer

    def _check_config_round_trip(self, cls, layer):
        config = layer.get_config()
        text = json.dumps(config, sort_keys=True)  # must be plain JSON
        revived = cls.from_config(json.loads(text))
        self.assertEqual(json.dumps(revived.get_config(), sort_keys=True), text)
        serialized = keras.saving.serialize_keras_object(layer)
        again = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
        self.assertIsInstance(again, cls)
        self.assertEqual(json.dumps(again.get_config(), sort_keys=True), text)
        init_args = set(init_arguments(cls))
        config_keys = set(config) - _BASE_CONFIG_KEYS
        self.assertEqual(
            init_args,
            config_keys,
            f"{cls.__name__}: __init__ arguments and get_config() keys differ: "
            f"only in __init__: {sorted(init_args - config_keys)}, "
            f"only in config: {sorted(config_keys - init_args)}",
        )

    def _check_training_step(self, cls, init_kwargs, input_data, call_kwargs, weights_without_gradient):
        layer = cls(**init_kwargs)
        model, _ = wrap_in_model(layer, input_data, call_kwargs)
        feed = model_feed(input_data)
        out = model(feed)
        outputs = out if isinstance(out, (list, tuple)) else [out]
        if isinstance(out, dict):
            outputs = list(out.values())
        float_outputs = [o for o in outputs if "float" in keras.backend.standardize_dtype(o.dtype)]
        targets = [np.random.default_rng(1).standard_normal(o.shape).astype("float32") for o in float_outputs]
        before = {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights}
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1),
            loss=["mse"] * len(float_outputs) if len(outputs) > 1 else "mse",
            jit_compile="auto",
        )
        y = targets if len(outputs) > 1 else targets[0]
        history = model.fit(feed, y, batch_size=_batch_size(feed), epochs=1, verbose=0, shuffle=False)
        self.assertTrue(np.isfinite(history.history["loss"][0]), f"{cls.__name__}: non-finite loss.")
        frozen = []
        for w in model.trainable_weights:
            if any(s in w.path for s in weights_without_gradient):
                continue
            if np.array_equal(before[w.path], keras.ops.convert_to_numpy(w)):
                frozen.append(w.path)
        self.assertEqual(frozen, [], f"{cls.__name__}: no gradient reached these weights: {frozen}")

    def _check_mixed_precision(self, cls, init_kwargs, positional, tensor_kwargs, call_kwargs):
        kwargs = dict(init_kwargs)
        kwargs["dtype"] = "mixed_bfloat16"
        layer = cls(**kwargs)
        out = _first(layer(positional, **tensor_kwargs, **call_kwargs))
        dtype = keras.backend.standardize_dtype(out.dtype)
        if "float" in dtype:
            self.assertEqual(dtype, "bfloat16", f"{cls.__name__}: output not in the compute dtype.")
        for w in layer.weights:
            if "float" in keras.backend.standardize_dtype(w.dtype):
                self.assertEqual(
                    keras.backend.standardize_dtype(w.dtype), "float32", f"{cls.__name__}: {w.path} is not float32."
                )

    def run_saving_test(self, layer_or_model, input_data, call_kwargs=None, atol=0.0):
        """`.keras` save then load (safe_mode) gives identical outputs."""
        if isinstance(layer_or_model, keras.Model):
            model = layer_or_model
            feed = input_data
        else:
            model, _ = wrap_in_model(layer_or_model, input_data, call_kwargs)
            feed = model_feed(input_data)
        expected = _to_numpy(model(feed))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            restored = keras.saving.load_model(path, safe_mode=True)
        actual = _to_numpy(restored(feed))
        self.assertAllClose(_first(actual), _first(expected), atol=atol, rtol=0)
        return restored


def _batch_size(feed):
    first = next(iter(feed.values()))
    return int(first.shape[0])


def _overrides(cls, method):
    return getattr(cls, method) is not getattr(keras.layers.Layer, method)


def _seed_generators(layer):
    return seed_generators(layer)
