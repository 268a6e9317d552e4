"""What one request may cost, checked before the model runs: batch, tokens, sequence length, id ranges.

The model's own bounds come from its config (`model_facts`): a dynamic
length over `max_sequence_length`, or a `token_ids` value outside
`[0, vocabulary_size)`, would make the model allocate without bound or
silently index the wrong row. The server's bounds come from its flags:
`max_batch_size` rows and `max_tokens` = the largest product of one
input's dynamic sizes (batch x sequence for token ids). Every refusal is a
422 `ApiError` naming the input, the size and the limit.
"""

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import model_facts
from .schema import ApiError

DEFAULT_MAX_TOKENS = 4096


def _check_limit(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}.")
    return value


@dataclasses.dataclass
class Limits:
    """The bounds of one `/predict` request (see the module docstring)."""

    max_batch_size: int = 64
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_sequence_length: Optional[int] = None
    id_ranges: Dict[str, Tuple[int, int, str]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        _check_limit("max_batch_size", self.max_batch_size)
        _check_limit("max_tokens", self.max_tokens)

    @classmethod
    def for_model(cls, config: Any, inputs: List[Dict[str, Any]], max_batch_size: int = 64,
                  max_tokens: int = DEFAULT_MAX_TOKENS) -> "Limits":
        """The server's bounds plus those the model's config states (for inputs it has)."""
        names = {spec["name"] for spec in inputs}
        ranges = {k: v for k, v in model_facts.id_ranges(config).items() if k in names}
        return cls(max_batch_size, max_tokens, model_facts.max_sequence_length(config), ranges)

    def to_json(self) -> Dict[str, Any]:
        return {
            "max_batch_size": self.max_batch_size,
            "max_tokens": self.max_tokens,
            "max_sequence_length": self.max_sequence_length,
            "id_ranges": {k: [low, high] for k, (low, high, _) in self.id_ranges.items()},
        }

    def check_shapes(self, shapes: Dict[str, Tuple[int, ...]], inputs: List[Dict[str, Any]]) -> None:
        """Refuse a request whose lengths exceed a bound (the batch is checked by `parse_inputs`)."""
        for spec in inputs:
            shape = shapes[spec["name"]]
            dynamic = sorted(int(axis) for axis in spec.get("dynamic_axes", {}))
            for axis in dynamic:
                if axis > 0 and self.max_sequence_length is not None and shape[axis] > self.max_sequence_length:
                    raise ApiError(
                        422, "sequence_too_long",
                        f"Input {spec['name']!r} axis {axis} has length {shape[axis]}; this model accepts at most "
                        f"{self.max_sequence_length} (max_sequence_length of its config).", input=spec["name"],
                    )  # fmt: skip
            tokens = int(np.prod([shape[axis] for axis in dynamic], dtype=np.int64)) if dynamic else 0
            if tokens > self.max_tokens:
                raise ApiError(
                    422, "too_many_tokens",
                    f"Input {spec['name']!r} has {tokens} elements along its dynamic axes (shape {list(shape)}); "
                    f"this server accepts at most {self.max_tokens} per request (max_tokens).", input=spec["name"],
                )  # fmt: skip

    def check_values(self, arrays: Dict[str, np.ndarray]) -> None:
        """Refuse id inputs with values outside their table."""
        for name, (low, high, key) in self.id_ranges.items():
            array = arrays.get(name)
            if array is None or array.size == 0:
                continue
            bad = (array < low) | (array >= high)
            if bad.any():
                raise ApiError(
                    422, "id_out_of_range",
                    f"Input {name!r} has {int(bad.sum())} value(s) outside [{low}, {high}) ({key} of the model's "
                    f"config); received values from {int(array.min())} to {int(array.max())}.", input=name,
                )  # fmt: skip
