"""Model analysis for a run: parameters per block, estimated training memory, FLOPs per example.

* parameters per block: every top-level layer of the functional model (and,
  one level down, the sub-layers of composite blocks such as stacks), with
  its class and registered block name;
* memory: `dlzoo.estimate_memory` for the run's batch size and optimizer
  (weights, gradients, optimizer state, activations);
* FLOPs per example: one forward pass on one example, counted by the
  backend's own tool: XLA's cost analysis (jax), `torch.utils.flop_counter`
  (torch; matrix multiplications and convolutions only) or the TensorFlow
  profiler (tensorflow). `None` when the tool is missing or fails;
* analytic, per block (`dlzoo.analysis.analyze`, the figures of `dlzoo
  analyze`): parameters, exact forward FLOPs for one example at the data's
  sequence length, activation memory and shares; the same on every
  backend (the tools above differ: XLA also counts elementwise work, the
  torch counter misses CPU flash attention).
"""

from typing import Any, Dict, List, Optional

import numpy as np

import dlzoo
from dlzoo.compat.keras_internals import sublayers


def _first_example(x):
    if isinstance(x, dict):
        return {k: np.asarray(v)[:1] for k, v in x.items()}
    return np.asarray(x)[:1]


def _layer_row(layer) -> Dict[str, Any]:
    cls = type(layer)
    return {
        "name": layer.name,
        "class": cls.__name__,
        "block": getattr(cls, "registered_name", None),
        "parameters": int(layer.count_params()) if layer.built else 0,
    }


def params_per_block(model) -> List[Dict[str, Any]]:
    rows = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        row = _layer_row(layer)
        children = sublayers(layer)
        if children and row["parameters"]:
            row["children"] = [_layer_row(c) for c in children if c.count_params() or getattr(type(c), "registered_name", None)]
        rows.append(row)
    return rows


def flops_per_example(model, x) -> Dict[str, Any]:
    """`{"flops": int or None, "method": str}` for a forward pass on one example."""
    import keras  # lazy: keras

    backend = keras.backend.backend()
    sample = _first_example(x)
    try:
        if backend == "jax":
            import jax  # lazy: backend (jax)

            def forward(trainable, non_trainable, inputs):
                outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
                return outputs

            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            compiled = jax.jit(forward).lower(trainable, non_trainable, sample).compile()
            cost = compiled.cost_analysis()
            if isinstance(cost, (list, tuple)):
                cost = cost[0] if cost else {}
            flops = cost.get("flops") if cost else None
            return {"flops": None if flops is None else int(flops), "method": "xla cost analysis (jax)"}
        if backend == "torch":
            from torch.utils.flop_counter import FlopCounterMode  # lazy: backend (torch)

            with FlopCounterMode(display=False) as counter:
                model(sample, training=False)
            return {"flops": int(counter.get_total_flops()), "method": "torch.utils.flop_counter (matmul/conv only)"}
        if backend == "tensorflow":
            import tensorflow as tf  # lazy: backend (tensorflow)
            from tensorflow.python.framework.convert_to_constants import (  # lazy: backend (tensorflow)
                convert_variables_to_constants_v2,
            )

            spec = keras.tree.map_structure(lambda a: tf.TensorSpec(a.shape, a.dtype), sample)
            concrete = tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(spec)
            frozen = convert_variables_to_constants_v2(concrete)
            options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
            options["output"] = "none"
            info = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options)
            return {"flops": int(info.total_float_ops), "method": "tensorflow profiler (float_operation)"}
    except Exception as exc:
        return {"flops": None, "method": f"not computable here ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"}
    return {"flops": None, "method": f"no FLOP counter for backend {backend!r}"}


def _sequence_length(sample) -> Optional[int]:
    """Length of the data's sequences: the second axis of the first input (`None` for a vector input)."""
    first = next(iter(sample.values())) if isinstance(sample, dict) else sample
    shape = np.shape(first)
    return int(shape[1]) if len(shape) >= 2 else None


def analytic_blocks(model_config: Dict[str, Any], sample) -> Dict[str, Any]:
    """`dlzoo.analysis.analyze` for one example of the run's data; `{"error": ...}` where it cannot count."""
    from dlzoo import analysis as model_analysis  # lazy: keras

    try:
        report = model_analysis.analyze(model_config, batch_size=1, sequence_length=_sequence_length(sample))
    except (ValueError, TypeError) as exc:  # an older-form family, a model-changing extension
        return {"error": str(exc).splitlines()[0][:300]}
    return {"sequence_length": report["sequence_length"], "rows": report["rows"], "total": report["total"]}


def analyze(model, model_config: Dict[str, Any], x, batch_size: int = 32, optimizer: Any = "adamw") -> Dict[str, Any]:
    """Parameters (total, trainable, per block), memory estimate and FLOPs per example of a built model."""
    from dlzoo.inspection import OPTIMIZER_SLOTS  # lazy: keras

    name = optimizer if isinstance(optimizer, str) else (optimizer or {}).get("name", "adamw")
    name = name.lower() if isinstance(name, str) else "adamw"
    if name not in OPTIMIZER_SLOTS:
        name = "adamw"
    trainable = int(sum(int(np.prod(v.shape)) for v in model.trainable_variables))
    memory = None
    try:
        memory = dlzoo.estimate_memory(model_config, optimizer=name, batch_size=int(batch_size))
    except Exception as exc:  # an assembler without a memory formula
        memory = {"error": repr(exc)}
    flops = flops_per_example(model, x)
    return {
        "parameters": int(model.count_params()),
        "trainable_parameters": trainable,
        "blocks": params_per_block(model),
        "memory": memory,
        "flops_per_example": flops["flops"],
        "flops_method": flops["method"],
        "analytic": analytic_blocks(model_config, _first_example(x)),
    }
