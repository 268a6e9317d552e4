"""Structured pruning: remove whole attention heads and feed-forward channels, `dlzoo.prune(model, ...)`.

A transformer of the zoo (gpt, llama, bert, vit, ... : every family whose
layers take an `attention` section with `num_heads` and a `feedforward`
section with `intermediate_dim`) is scored, per layer, by the importance of
each query head, key/value head and feed-forward channel:

* `score="magnitude"`: the sum of |w| over every weight of the head or
  channel (its query/key/value columns, its rows of the output projection;
  the input and gate columns and the output row of a channel);
* `score="taylor"`: the first-order Taylor estimate of the loss change when
  the unit is removed (all its weights set to 0), |sum of w * dL/dw| over
  the same weights, with the gradient of the loss on a calibration batch
  (the group score of Molchanov et al., 2019, without the square, which
  does not change the ranking).

The most important units are kept, the same *number* in every layer (the
family parameters hold one `num_heads` and one `intermediate_dim` for all
layers), but each layer keeps its own selection. The result is a new
`ZooModel` built from a plain zoo config (`attention.num_heads`,
`attention.num_key_value_heads`, `attention.head_dim` set explicitly,
`feedforward.intermediate_dim`) whose weights are slices of the original
ones, so it saves, loads, exports and counts like any other model.

Grouped-query attention: query head `h` reads key/value head
`h // (num_heads / num_key_value_heads)`. With `gqa="queries"` (default)
every key/value head is kept and each group keeps the same number of its
query heads (`heads` a multiple of `num_key_value_heads`); with
`gqa="groups"` whole groups go (a key/value head with all its query heads;
`heads` a multiple of the group size). Multi-head attention is the case of
groups of one.

Reference:
    - Michel et al., "Are Sixteen Heads Really Better than One?", 2019 (https://arxiv.org/abs/1905.10650)
    - Molchanov et al., "Importance Estimation for Neural Network Pruning", 2019 (https://arxiv.org/abs/1906.10771)
"""

import copy
from typing import Any, Dict, List, Optional

import numpy as np

SCORES = ("magnitude", "taylor")
GQA_MODES = ("queries", "groups")


# --------------------------------------------------------------- the structure
def _attention_layers(weights: Dict[str, Any]) -> List[str]:
    """Path prefixes of the attention blocks: `<prefix>/query/kernel` of rank 3 next to an `attention_output`."""
    found = []
    for path, w in weights.items():
        if path.endswith("/query/kernel") and len(w.shape) == 3:
            prefix = path[: -len("/query/kernel")]
            if f"{prefix}/attention_output/kernel" in weights and f"{prefix}/key/kernel" in weights:
                found.append(prefix)
    return sorted(found)


def _feedforward_layers(weights: Dict[str, Any]) -> List[str]:
    """Path prefixes of the feed-forward blocks: `<prefix>/inner_proj/kernel` next to `<prefix>/output_proj/kernel`."""
    return sorted(p[: -len("/inner_proj/kernel")] for p in weights
                  if p.endswith("/inner_proj/kernel") and p[: -len("/inner_proj/kernel")] + "/output_proj/kernel" in weights)


# Which axis of which weight belongs to a query head, a key/value head or a channel.
QUERY_AXES = {"query/kernel": 1, "query/bias": 0, "attention_output/kernel": 0}
KEY_VALUE_AXES = {"key/kernel": 1, "key/bias": 0, "value/kernel": 1, "value/bias": 0}
CHANNEL_AXES = {"inner_proj/kernel": 1, "inner_proj/bias": 0, "gate_proj/kernel": 1, "gate_proj/bias": 0,
                "output_proj/kernel": 0}


def _unit_scores(arrays: Dict[str, np.ndarray], prefix: str, axes: Dict[str, int], size: int) -> np.ndarray:
    """Sum of the values (|w|, or w * dL/dw: signed) of each unit along its axis."""
    total = np.zeros(size)
    for name, axis in axes.items():
        value = arrays.get(f"{prefix}/{name}")
        if value is not None:
            total += np.moveaxis(value, axis, 0).reshape(size, -1).sum(axis=1)
    return total


def _top(scores: np.ndarray, count: int) -> List[int]:
    """Indices of the `count` largest |scores|, in increasing index order (ties: the lower index)."""
    scores = np.abs(scores)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return sorted(order[:count])


# --------------------------------------------------------------- the scores
def _importance(model, score: str, calibration, loss) -> Dict[str, np.ndarray]:
    """Per weight path: |w| (magnitude) or w * dL/dw (Taylor, on the calibration batch, signed), float64."""
    values = {w.path: np.asarray(w.numpy(), dtype="float64") for w in model.weights}
    if score == "magnitude":
        return {path: np.abs(value) for path, value in values.items()}
    gradients = loss_gradients(model, calibration, loss)
    return {path: value * gradients[path] if path in gradients else np.zeros_like(value) for path, value in values.items()}


def _logits(outputs):
    if isinstance(outputs, dict):
        return outputs["logits"] if "logits" in outputs else outputs[sorted(outputs)[0]]
    return outputs


def _calibration_loss(model, calibration, loss):
    """A function of the model's outputs giving the scalar loss, and the model inputs."""
    import keras  # lazy: keras

    if isinstance(calibration, (tuple, list)) and len(calibration) == 2:
        x, y = calibration
        loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return x, lambda outputs: loss(y, _logits(outputs))
    x = calibration
    if isinstance(x, dict) and "token_ids" in x:  # a language model: next-token prediction
        tokens = keras.ops.convert_to_tensor(x["token_ids"])
        loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return x, lambda outputs: loss(tokens[:, 1:], _logits(outputs)[:, :-1])
    raise ValueError(
        "`calibration` must be `(inputs, targets)`, or the inputs of a language model (a dict with `token_ids`: "
        f"next-token targets). Received: calibration of type {type(calibration).__name__}."
    )


def loss_gradients(model, calibration, loss=None) -> Dict[str, np.ndarray]:
    """`{weight path: dL/dw}` (float64) of the loss on one calibration batch (inference mode: no dropout)."""
    import keras  # lazy: keras

    x, loss_of = _calibration_loss(model, calibration, loss)
    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "jax":
        import jax  # lazy: backend (jax)

        def value(trainable, non_trainable):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return loss_of(outputs)

        grads = jax.grad(value)([v.value for v in variables], [v.value for v in model.non_trainable_variables])
    elif backend == "torch":
        for v in variables:
            v.value.grad = None
        loss_of(model(x, training=False)).backward()
        grads = [v.value.grad for v in variables]
    elif backend == "tensorflow":
        import tensorflow as tf  # lazy: backend (tensorflow)

        with tf.GradientTape() as tape:
            result = loss_of(model(x, training=False))
        grads = tape.gradient(result, variables)
    else:
        raise ValueError(f"Taylor scores need gradients; backend {backend!r} is not supported. Use score='magnitude'.")
    return {v.path: np.zeros(v.shape) if g is None else np.asarray(keras.ops.convert_to_numpy(g), dtype="float64")
            for v, g in zip(variables, grads)}


# --------------------------------------------------------------- selection
def _check_count(name, value, allowed_max, multiple_of=1, extra=""):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= allowed_max or value % multiple_of:
        rule = f"an integer in [1, {allowed_max}]" + (f", a multiple of {multiple_of}{extra}" if multiple_of > 1 else "")
        raise ValueError(f"`{name}` must be {rule}. Received: {name}={value!r}.")
    return value


def select_heads(importance, prefix: str, num_heads: int, num_kv: int, keep: int, gqa: str):
    """`(query heads kept, key/value heads kept)` of one attention block, each sorted."""
    group = num_heads // num_kv
    query = _unit_scores(importance, prefix, QUERY_AXES, num_heads)
    key_value = _unit_scores(importance, prefix, KEY_VALUE_AXES, num_kv)
    if gqa == "groups" or num_kv == num_heads:
        groups = key_value + query.reshape(num_kv, group).sum(axis=1)
        kept_groups = _top(groups, keep // group)
        return [g * group + j for g in kept_groups for j in range(group)], kept_groups
    per_group = keep // num_kv
    kept = [g * group + j for g in range(num_kv) for j in _top(query[g * group:(g + 1) * group], per_group)]
    return kept, list(range(num_kv))


def prune(model, heads: Optional[int] = None, feedforward: Optional[int] = None, score: str = "magnitude",
          calibration=None, loss=None, gqa: str = "queries"):
    """Remove whole attention heads and feed-forward channels; returns a smaller `ZooModel` with sliced weights.

    Args:
        model: a `ZooModel` (built by `dlzoo.build`) of a transformer family.
        heads: int. Query heads kept in every layer (`None`: all). With
            grouped-query attention see `gqa`.
        feedforward: int. Feed-forward channels (`intermediate_dim`) kept in
            every layer (`None`: all).
        score: `"magnitude"` (sum of |w| of the unit's weights) or
            `"taylor"` (|sum of w * dL/dw| on `calibration`: the first-order
            change of the loss when the unit is removed).
        calibration: for `score="taylor"`: `(inputs, targets)` (loss: sparse
            categorical cross-entropy on the logits, or `loss`), or a
            language model's inputs (a dict with `token_ids`: next-token loss).
        loss: optional `loss(targets, logits)` for the Taylor score.
        gqa: `"queries"` (keep every key/value head, the same number of
            query heads in each group) or `"groups"` (remove whole groups).

    Returns:
        A new `ZooModel`; `model.pruning_report` holds, per layer, the kept
        query heads, key/value heads and channels, and the counts before and
        after.

    Raises:
        ValueError: a count out of range or not a multiple of the groups, an
            unknown score or mode, a model with no prunable structure, or a
            Taylor score without calibration data.
    """
    from dlzoo.builder import build  # lazy: keras
    from dlzoo.zoo_model import ZooModel  # lazy: keras

    if not isinstance(model, ZooModel):
        raise TypeError(f"`model` must be a ZooModel built by dlzoo.build. Received: model={type(model).__name__}.")
    if score not in SCORES:
        raise ValueError(f"`score` must be one of {', '.join(SCORES)}. Received: score={score!r}.")
    if gqa not in GQA_MODES:
        raise ValueError(f"`gqa` must be one of {', '.join(GQA_MODES)}. Received: gqa={gqa!r}.")
    if score == "taylor" and calibration is None:
        raise ValueError("score='taylor' needs `calibration` data (a batch). Received: calibration=None.")
    config = copy.deepcopy(model.zoo_config)
    params = config["params"]
    attention, block = params.get("attention"), params.get("feedforward")
    weights = {w.path: w for w in model.weights}
    attention_layers, feedforward_layers = _attention_layers(weights), _feedforward_layers(weights)
    if heads is not None and (not isinstance(attention, dict) or "num_heads" not in attention or not attention_layers):
        raise ValueError(f"`heads`: model {config.get('name')!r} has no `attention.num_heads` to prune. Received: heads={heads!r}.")
    if feedforward is not None and (not isinstance(block, dict) or "intermediate_dim" not in block or not feedforward_layers):
        raise ValueError(f"`feedforward`: model {config.get('name')!r} has no `feedforward.intermediate_dim` to prune. "
                         f"Received: feedforward={feedforward!r}.")
    report: Dict[str, Any] = {"score": score, "layers": {}}
    selections: Dict[str, Dict[str, List[int]]] = {}
    importance = _importance(model, score, calibration, loss) if (heads is not None or feedforward is not None) else {}
    if heads is not None:
        num_heads = int(attention["num_heads"])
        num_kv = int(attention.get("num_key_value_heads") or num_heads)
        group = num_heads // num_kv
        if gqa == "groups" or num_kv == num_heads:
            _check_count("heads", heads, num_heads, group, f" (whole groups of {group} query heads per key/value head)")
        else:
            _check_count("heads", heads, num_heads, num_kv, f" (the same number in each of the {num_kv} key/value groups)")
        head_dim = int(weights[f"{attention_layers[0]}/query/kernel"].shape[2])
        for prefix in attention_layers:
            shape = tuple(weights[f"{prefix}/query/kernel"].shape)
            kv_shape = tuple(weights[f"{prefix}/key/kernel"].shape)
            if shape[1] != num_heads or kv_shape[1] != num_kv:
                raise ValueError(f"`heads`: attention {prefix!r} has {shape[1]} query / {kv_shape[1]} key-value heads, "
                                 f"not the model's attention.num_heads={num_heads}; it cannot be pruned uniformly.")
            kept_query, kept_kv = select_heads(importance, prefix, num_heads, num_kv, heads, gqa)
            selections[prefix] = {"query": kept_query, "key_value": kept_kv}
            report["layers"][prefix] = {"query_heads": kept_query, "key_value_heads": kept_kv}
        attention["num_heads"] = heads
        attention["head_dim"] = head_dim
        if attention.get("num_key_value_heads") is not None:
            attention["num_key_value_heads"] = len(next(iter(selections.values()))["key_value"])
    if feedforward is not None:
        width = int(block["intermediate_dim"])
        _check_count("feedforward", feedforward, width)
        for prefix in feedforward_layers:
            size = int(weights[f"{prefix}/inner_proj/kernel"].shape[1])
            if size != width:
                raise ValueError(f"`feedforward`: {prefix!r} has {size} channels, not the model's "
                                 f"feedforward.intermediate_dim={width}; it cannot be pruned uniformly.")
            kept = _top(_unit_scores(importance, prefix, CHANNEL_AXES, width), feedforward)
            selections[prefix] = {"channel": kept}
            report["layers"][prefix] = {"channels": kept}
        block["intermediate_dim"] = feedforward
    config["description"] = (f"{config.get('description') or config.get('name')} Pruned ({score} score): "
                             f"{heads if heads is not None else 'all'} heads, "
                             f"{feedforward if feedforward is not None else 'all'} feed-forward channels per layer.")
    pruned = build(config)
    _transfer_sliced(model, pruned, selections)
    report["parameters"] = {"before": model.count_params(), "after": pruned.count_params()}
    pruned.pruning_report = report
    return pruned


def _slice(value: np.ndarray, path: str, selections: Dict[str, Dict[str, List[int]]]) -> np.ndarray:
    for prefix, chosen in selections.items():
        if not path.startswith(prefix + "/"):
            continue
        name = path[len(prefix) + 1:]
        for axes, key in ((QUERY_AXES, "query"), (KEY_VALUE_AXES, "key_value"), (CHANNEL_AXES, "channel")):
            if name in axes and key in chosen:
                return np.take(value, chosen[key], axis=axes[name])
    return value


def _transfer_sliced(source, target, selections) -> None:
    """Copy every weight of `source` into `target`, sliced to the kept heads and channels (same paths)."""
    by_path = {w.path: w for w in source.weights}
    for weight in target.weights:
        old = by_path.get(weight.path)
        if old is None:
            raise ValueError(f"The pruned model has a weight {weight.path!r} the original has not.")
        value = _slice(np.asarray(old.numpy()), weight.path, selections)
        if tuple(value.shape) != tuple(weight.shape):
            raise ValueError(f"Weight {weight.path!r}: sliced shape {value.shape} != pruned model's {tuple(weight.shape)}.")
        weight.assign(value)


__all__ = ["prune", "loss_gradients", "select_heads", "SCORES", "GQA_MODES"]
