"""The allowed range of every numeric option a composition file may give a component.

Keras accepts a negative learning rate, a momentum of 3 or a patience of
-1 and trains on; these tables refuse such values while the file is
checked, before any run starts. An option is looked up by `(kind, name)`
first, then by its name alone; options without an entry are left to the
component's own checks.
"""

import dataclasses
import math
from typing import Any, Optional


@dataclasses.dataclass(frozen=True)
class Range:
    """`low <= value <= high` (or `<` where open); `integer` also requires an int."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def problem(self, value: Any) -> Optional[str]:
        """Why `value` is out of range (a sentence), or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.integer and not isinstance(value, int)):
            return f"must be {'an integer' if self.integer else 'a number'} in {self}."
        if math.isnan(value) or value < self.low or value > self.high or (self.low_open and value == self.low) \
                or (self.high_open and value == self.high):
            return f"must be {'an integer ' if self.integer else ''}in {self}."
        return None

    def __str__(self):
        low = "(" if self.low_open or self.low == -math.inf else "["
        high = ")" if self.high_open or self.high == math.inf else "]"
        show = lambda v: "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:g}"  # noqa: E731
        return f"{low}{show(self.low)}, {show(self.high)}{high}"


POSITIVE = Range(0.0, low_open=True)
NON_NEGATIVE = Range(0.0)
FRACTION = Range(0.0, 1.0)
FRACTION_BELOW_ONE = Range(0.0, 1.0, high_open=True)
COUNT = Range(0, integer=True)
POSITIVE_COUNT = Range(1, integer=True)

#: Option name -> range, for every kind of component.
OPTIONS = {
    # optimizers
    "learning_rate": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "momentum": FRACTION,
    "beta_1": FRACTION_BELOW_ONE,
    "beta_2": FRACTION_BELOW_ONE,
    "rho": FRACTION_BELOW_ONE,
    "epsilon": NON_NEGATIVE,
    "clipnorm": POSITIVE,
    "clipvalue": POSITIVE,
    "global_clipnorm": POSITIVE,
    "ema_momentum": FRACTION,
    "ema_overwrite_frequency": POSITIVE_COUNT,
    "gradient_accumulation_steps": POSITIVE_COUNT,
    "initial_accumulator_value": NON_NEGATIVE,
    # schedules
    "initial_learning_rate": POSITIVE,
    "decay_steps": POSITIVE_COUNT,
    "first_decay_steps": POSITIVE_COUNT,
    "decay_rate": POSITIVE,
    "end_learning_rate": NON_NEGATIVE,
    "warmup_steps": COUNT,
    "warmup_target": POSITIVE,
    "power": POSITIVE,
    "t_mul": POSITIVE,
    "m_mul": POSITIVE,
    # callbacks
    "patience": COUNT,
    "min_delta": NON_NEGATIVE,
    "cooldown": COUNT,
    "min_lr": NON_NEGATIVE,
    "start_from_epoch": COUNT,
    "save_freq": POSITIVE_COUNT,
    # losses, metrics, regularizers
    "label_smoothing": FRACTION,
    "delta": POSITIVE,
    "threshold": FRACTION,
    "k": POSITIVE_COUNT,
    "num_classes": POSITIVE_COUNT,
    "l1": NON_NEGATIVE,
    "l2": NON_NEGATIVE,
    # datasets and transforms
    "seed": COUNT,
    "shuffle_seed": COUNT,
    "max_documents": POSITIVE_COUNT,
    "min_sentences": POSITIVE_COUNT,
    "max_length": Range(2, integer=True),
    "n_class": Range(2, 10, integer=True),
}

#: `(kind, option)` -> range, where one option name means different things in different kinds.
KIND_OPTIONS = {
    ("callback", "factor"): Range(0.0, 1.0, low_open=True, high_open=True),  # reduce_lr_on_plateau
    ("schedule", "alpha"): FRACTION,  # cosine_decay's floor, a fraction of the initial rate
}


def option_range(kind: str, option: str) -> Optional[Range]:
    """The range of a component option, or None when dlzoo does not know one."""
    return KIND_OPTIONS.get((kind, option)) or OPTIONS.get(option)
