"""Argument checks shared by blocks, the builder and the CLI.

Each check raises a `ValueError` (bad value) or `TypeError` (bad type) whose
message names the argument, the value received and what is allowed, in the
Keras style: "`num_heads` must be a positive integer. Received: num_heads=0".
Pure Python: no Keras import.
"""

import numbers
from typing import Any, Iterable, Optional

from dlzoo import registry


def _received(name: str, value: Any) -> str:
    return f"Received: {name}={value!r}"


def check_int(
    name: str,
    value: Any,
    min_value: Optional[int] = None,
    max_value: Optional[int] = None,
    allow_none: bool = False,
) -> Optional[int]:
    """Check that `value` is an integer in `[min_value, max_value]`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        allowed = "an integer" + (" or None" if allow_none else "")
        raise TypeError(f"`{name}` must be {allowed}. {_received(name, value)} of type {type(value).__name__}.")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"`{name}` must be >= {min_value}. {_received(name, value)}.")
    if max_value is not None and value > max_value:
        raise ValueError(f"`{name}` must be <= {max_value}. {_received(name, value)}.")
    return value


def check_positive_int(name: str, value: Any, allow_none: bool = False) -> Optional[int]:
    """Check that `value` is an integer >= 1."""
    return check_int(name, value, min_value=1, allow_none=allow_none)


def check_float(
    name: str,
    value: Any,
    min_value: Optional[float] = None,
    max_value: Optional[float] = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    allow_none: bool = False,
) -> Optional[float]:
    """Check that `value` is a real number within the given bounds."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        allowed = "a number" + (" or None" if allow_none else "")
        raise TypeError(f"`{name}` must be {allowed}. {_received(name, value)} of type {type(value).__name__}.")
    value = float(value)
    if value != value:
        raise ValueError(f"`{name}` must not be NaN. {_received(name, value)}.")
    if min_value is not None and (value < min_value or (not min_inclusive and value == min_value)):
        op = ">=" if min_inclusive else ">"
        raise ValueError(f"`{name}` must be {op} {min_value}. {_received(name, value)}.")
    if max_value is not None and (value > max_value or (not max_inclusive and value == max_value)):
        op = "<=" if max_inclusive else "<"
        raise ValueError(f"`{name}` must be {op} {max_value}. {_received(name, value)}.")
    return value


def check_rate(name: str, value: Any) -> float:
    """Check a dropout-like probability in [0, 1)."""
    return check_float(name, value, min_value=0.0, max_value=1.0, max_inclusive=False)


def check_bool(name: str, value: Any) -> bool:
    """Check that `value` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False. {_received(name, value)} of type {type(value).__name__}.")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Check that `value` is one of `choices`, with a "did you mean" hint."""
    choices = list(choices)
    if value in choices:
        return value
    hint = registry.did_you_mean(value, choices) if isinstance(value, str) else ""
    raise ValueError(
        f"`{name}` must be one of {', '.join(repr(c) for c in choices)}.{hint} {_received(name, value)}."
    )


def check_divides(divisor_name: str, divisor: int, dividend_name: str, dividend: int) -> None:
    """Check that `divisor` divides `dividend`, naming both arguments."""
    if dividend % divisor != 0:
        raise ValueError(
            f"`{divisor_name}` must divide `{dividend_name}`. "
            f"Received: {divisor_name}={divisor!r}, {dividend_name}={dividend!r} "
            f"({dividend} / {divisor} = {dividend / divisor:g})."
        )


def check_registered(name: str, value: Any, kind: str = "block") -> str:
    """Check that `value` names a registered block (or other registry entry)."""
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be the registered name of a {kind} (a string). "
            f"{_received(name, value)} of type {type(value).__name__}."
        )
    if kind == "block":
        table = registry.BLOCKS
    elif kind in ("model family", "model assembler"):
        table = registry.MODELS
    elif kind == "extension":
        table = registry.EXTENSIONS
    else:
        table = registry.component_registry(kind)
    if value not in table:
        raise registry.unknown_name_error(kind, value, table.names(), param=name)
    return value
