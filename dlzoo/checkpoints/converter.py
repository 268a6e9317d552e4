"""What a checkpoint converter declares, and the tensor transforms converters are written with.

A converter (one file per architecture, `@register_converter(model_type,
family=...)` on a `Converter` subclass) says four things:

* `params(config, names)`: the dlzoo family params for a Hugging Face
  `config.json` (and the tensor names, for choices the config does not record,
  such as whether a BERT checkpoint has its pooler);
* `checkpoint_config(params)`: the other way, the `config.json` fields of a
  dlzoo model;
* `rules(params)`: one `TensorRule` per checkpoint tensor (or group of
  tensors): the checkpoint names, the dlzoo weight paths, and the transform
  between them (`copy`, `linear`, `heads_in`, ...);
* `ignored(params)`: regular expressions of checkpoint tensors that are
  deliberately not loaded, each with its reason.

Checkpoint names in rules are those of the base model (`h.0.ln_1.weight`);
`prefix` is what task models put before them (`transformer.`), and
`head_tensors` are names outside the prefix (`lm_head.weight`).
"""

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from dlzoo.registry import CONVERTERS, unknown_name_error

Arrays = List[np.ndarray]


@dataclass(frozen=True)
class TensorRule:
    """Checkpoint tensors <-> dlzoo weights, with the transform each way.

    Args:
        checkpoint: tuple of str. Checkpoint tensor names (without the prefix).
        weights: tuple of str. dlzoo weight paths (`variable.path`).
        transform: str. Name of the transform (shown in errors and the guide).
        to_weights: callable. Checkpoint arrays -> weight arrays.
        to_checkpoint: callable. Weight arrays -> checkpoint arrays.
    """

    checkpoint: Tuple[str, ...]
    weights: Tuple[str, ...]
    transform: str
    to_weights: Callable[[Arrays], Arrays]
    to_checkpoint: Callable[[Arrays], Arrays]


# ------------------------------------------------------------- transforms
def copy(checkpoint: str, weight: str) -> TensorRule:
    """The same array on both sides (embeddings, norms, biases)."""
    return TensorRule((checkpoint,), (weight,), "copy", list, list)


def linear(checkpoint: str, weight: str) -> TensorRule:
    """A PyTorch `Linear` weight `(out, in)` <-> a Keras kernel `(in, out)`: a transpose."""
    return TensorRule((checkpoint,), (weight,), "transpose", lambda a: [a[0].T], lambda a: [a[0].T])


def lm_head_rules(params: Dict[str, Any]) -> List[TensorRule]:
    """`lm_head.weight` <-> the LM head's kernel, when the model has an untied head."""
    if params["use_lm_head"] and not params["tie_embeddings"]:
        return [linear("lm_head.weight", "lm_head/kernel")]
    return []


def lm_head_ignored(params: Dict[str, Any], embedding: str) -> Dict[str, str]:
    """An `lm_head.weight` the model has no weight for (tied to `embedding`, or no head), with the reason."""
    if params["tie_embeddings"]:
        return {r"lm_head\.weight": f"the LM head is tied to {embedding}"}
    if not params["use_lm_head"]:
        return {r"lm_head\.weight": "use_lm_head=False"}
    return {}


def heads_in(checkpoint: str, weight: str, num_heads: int, transposed: bool = True) -> TensorRule:
    """A projection into heads: `Linear` `(n*h, d)` (or GPT-2 `Conv1D` `(d, n*h)`) <-> kernel `(d, n, h)`."""
    if transposed:
        return TensorRule((checkpoint,), (weight,), "transpose, split heads",
                          lambda a: [a[0].T.reshape(a[0].shape[1], num_heads, -1)],
                          lambda a: [a[0].reshape(a[0].shape[0], -1).T])
    return TensorRule((checkpoint,), (weight,), "split heads",
                      lambda a: [a[0].reshape(a[0].shape[0], num_heads, -1)],
                      lambda a: [a[0].reshape(a[0].shape[0], -1)])


def heads_out(checkpoint: str, weight: str, num_heads: int, transposed: bool = True) -> TensorRule:
    """The attention output projection: `Linear` `(d, n*h)` (or `Conv1D` `(n*h, d)`) <-> kernel `(n, h, d)`."""
    if transposed:
        return TensorRule((checkpoint,), (weight,), "transpose, split heads",
                          lambda a: [a[0].T.reshape(num_heads, -1, a[0].shape[0])],
                          lambda a: [a[0].reshape(-1, a[0].shape[-1]).T])
    return TensorRule((checkpoint,), (weight,), "split heads",
                      lambda a: [a[0].reshape(num_heads, -1, a[0].shape[-1])],
                      lambda a: [a[0].reshape(-1, a[0].shape[-1])])


def head_bias(checkpoint: str, weight: str, num_heads: int) -> TensorRule:
    """A projection bias `(n*h,)` <-> `(n, h)`."""
    return TensorRule((checkpoint,), (weight,), "split heads",
                      lambda a: [a[0].reshape(num_heads, -1)], lambda a: [a[0].reshape(-1)])


def fused(checkpoint: str, weights: Sequence[str], rule_of_part: Callable[[str, str], TensorRule]) -> TensorRule:
    """One checkpoint tensor holding several weights side by side on its last axis (GPT-2's `c_attn`: q, k, v).

    `rule_of_part(name, weight)` gives the transform of each part.
    """
    parts = [rule_of_part(checkpoint, weight) for weight in weights]

    def to_weights(arrays):
        pieces = np.split(arrays[0], len(parts), axis=-1)
        return [part.to_weights([piece])[0] for part, piece in zip(parts, pieces)]

    def to_checkpoint(arrays):
        pieces = [part.to_checkpoint([array])[0] for part, array in zip(parts, arrays)]
        return [np.concatenate(pieces, axis=-1)]

    return TensorRule((checkpoint,), tuple(weights), f"split in {len(parts)} on the last axis, {parts[0].transform}",
                      to_weights, to_checkpoint)


# ------------------------------------------------------------- config helpers
def config_value(config: Dict[str, Any], key: str, default: Any = None, allowed: Optional[Iterable] = None,
                 where: str = "config.json") -> Any:
    """A `config.json` field (or `default`), refused with a clear error when dlzoo cannot represent it."""
    value = config.get(key, default)
    if value is None:
        value = default
    if allowed is not None:
        allowed = list(allowed)
        if value not in allowed:
            raise ValueError(
                f"{where}: `{key}`={value!r} is not supported by dlzoo (it has no equivalent). "
                f"Received: {key}={value!r}. Supported: {', '.join(repr(a) for a in allowed)}."
            )
    return value


def required_value(config: Dict[str, Any], key: str, where: str = "config.json") -> Any:
    """A `config.json` field that must be present."""
    if config.get(key) is None:
        raise ValueError(f"{where} has no `{key}`, which the {config.get('model_type')!r} converter needs.")
    return config[key]


# Hugging Face `hidden_act` names -> dlzoo activation names (exact equivalents only).
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate",
               "relu": "relu", "silu": "silu", "swish": "silu"}
# ... and back (the first Hugging Face name of each).
ACTIVATION_NAMES = {"gelu": "gelu", "gelu_approximate": "gelu_new", "relu": "relu", "silu": "silu"}


def activation_of(config: Dict[str, Any], key: str, default: str, where: str = "config.json") -> str:
    return ACTIVATIONS[config_value(config, key, default, allowed=ACTIVATIONS, where=where)]


def rope_theta_of(config: Dict[str, Any], default: float = 10000.0, where: str = "config.json") -> float:
    """RoPE theta from `rope_parameters` (transformers 5) or `rope_theta` (earlier); scaled RoPE is refused."""
    parameters = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or {}
    rope_type = parameters.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    if rope_type != "default":
        raise ValueError(
            f"{where}: RoPE scaling {rope_type!r} is not supported by dlzoo (only plain RoPE). "
            f"Received: rope_type={rope_type!r}. Supported: 'default'."
        )
    factor = parameters.get("partial_rotary_factor", config.get("partial_rotary_factor", 1.0))
    if factor not in (None, 1, 1.0):
        raise ValueError(f"{where}: partial rotary embedding is not supported by dlzoo. Received: "
                         f"partial_rotary_factor={factor!r}. Supported: 1.0.")
    return float(parameters.get("rope_theta", config.get("rope_theta", default)))


def setting(params: Dict[str, Any], dotted: str, default: Any = None) -> Any:
    """A resolved param by dotted name (`"attention.num_heads"`); `default` when a section leaves it out."""
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def mismatches(params: Dict[str, Any], needed: Dict[str, Tuple[Any, Tuple]]) -> List[str]:
    """`needed = {dotted param: (default when absent, allowed values)}` -> one line per param that differs."""
    found = []
    for dotted, (default, allowed) in needed.items():
        value = setting(params, dotted, default)
        if value not in allowed:
            found.append(f"`{dotted}`={value!r} (needs {' or '.join(repr(a) for a in allowed)})")
    return found


class Converter:
    """Base class of the checkpoint converters (see the module docstring).

    Class attributes set by `register_converter`: `model_type`, `family`.

    Attributes:
        prefix: str. Base-model prefix in task checkpoints (`"transformer."`).
        head_tensors: tuple of str. Checkpoint names outside the prefix that a
            rule may use (`"lm_head.weight"`).
        architectures: dict. `True` (language-model or other task head) or
            `False` (base model) -> the `architectures` entry written.
    """

    model_type: str = ""
    family: str = ""
    prefix: str = ""
    head_tensors: Tuple[str, ...] = ()
    architectures: Dict[bool, str] = {}

    def params(self, config: Dict[str, Any], names: Sequence[str]) -> Dict[str, Any]:
        """dlzoo family params for a `config.json` (and the checkpoint's tensor names, prefix removed)."""
        raise NotImplementedError

    def checkpoint_config(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """The `config.json` fields for resolved dlzoo params."""
        raise NotImplementedError

    def unsupported(self, params: Dict[str, Any]) -> List[str]:
        """Reasons why resolved dlzoo params cannot be written in this format (empty: they can)."""
        return []

    def rules(self, params: Dict[str, Any]) -> List[TensorRule]:
        """Every checkpoint tensor the model's weights come from, with its transform."""
        raise NotImplementedError

    def ignored(self, params: Dict[str, Any]) -> Dict[str, str]:
        """`{regular expression: reason}` of checkpoint tensors deliberately not loaded."""
        return {}

    def has_task_head(self, params: Dict[str, Any]) -> bool:
        """Whether the written checkpoint is a task model (names carry `prefix`)."""
        return bool(params.get("use_lm_head", False))

    # ------------------------------------------------------------ helpers
    def strip_prefix(self, names: Iterable[str]) -> Dict[str, str]:
        """`{name without the prefix: checkpoint name}`; a name present both ways is an error."""
        found: Dict[str, str] = {}
        for name in names:
            short = name[len(self.prefix):] if self.prefix and name.startswith(self.prefix) else name
            if short in found:
                raise ValueError(
                    f"Checkpoint tensors {found[short]!r} and {name!r} are the same weight with and without the "
                    f"prefix {self.prefix!r}: the checkpoint is inconsistent."
                )
            found[short] = name
        return found

    def full_name(self, name: str, task_model: bool) -> str:
        """The checkpoint name to write for a rule name."""
        if task_model and self.prefix and name not in self.head_tensors:
            return self.prefix + name
        return name

    def is_ignored(self, name: str, params: Dict[str, Any]) -> Optional[str]:
        """The reason `name` (prefix removed) is ignored, or `None`."""
        for pattern, reason in self.ignored(params).items():
            if re.fullmatch(pattern, name):
                return reason
        return None

    def is_language_model(self, config: Dict[str, Any], names: Sequence[str]) -> bool:
        """Whether a checkpoint is of the task model with the LM head (else the base model).

        An `lm_head.weight` tensor, an `architectures` entry of the task model,
        or (when `architectures` is absent) base-model names under the prefix.
        """
        if "lm_head.weight" in names:
            return True
        declared = config.get("architectures") or []
        if self.architectures.get(True) in declared:
            return True
        if self.architectures.get(False) in declared:
            return False
        return bool(self.prefix) and any(n.startswith(self.prefix) for n in names)


def converter_named(model_type: str) -> Converter:
    """The converter registered for a `model_type` (error lists the supported ones)."""
    if model_type not in CONVERTERS:
        raise unknown_name_error("Hugging Face model_type", model_type, CONVERTERS.names(), param="model_type")
    return CONVERTERS.get(model_type).obj()


def converters_of_family(family: str) -> List[Converter]:
    """The converters that build `family`, by `model_type` name."""
    return [entry.obj() for entry in CONVERTERS.entries() if entry.metadata["family"] == family]


__all__ = [
    "ACTIVATIONS",
    "Converter",
    "TensorRule",
    "activation_of",
    "config_value",
    "converter_named",
    "converters_of_family",
    "copy",
    "fused",
    "head_bias",
    "heads_in",
    "heads_out",
    "linear",
    "lm_head_ignored",
    "lm_head_rules",
    "mismatches",
    "required_value",
    "rope_theta_of",
    "setting",
]
