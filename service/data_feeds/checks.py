"""Checks of constructor parameters: one place for "must be a whole number >= 1" and kin.

Every stage's ``__init__`` checks its configuration with these and raises ``ValueError``
naming the parameter and the value (settings read from the environment use ``ConfigError``,
naming the variable, in ``settings.py``).
"""

from __future__ import annotations

import math


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int (bool refused) that is at least ``minimum``."""
    if type(value) is bool or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {_show(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def check_number(
    name: str,
    value: object,
    *,
    positive: bool = False,
    finite: bool = True,
    upper: float | None = None,
) -> float:
    """``value`` as a float: > 0 when ``positive`` (else >= 0), finite unless ``finite`` is
    False (then +inf passes), at most ``upper`` when given."""
    if type(value) is bool or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number, got {_show(value)}") from None
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ValueError(f"{name} must be a finite number, got {number!r}")
    if positive and not number > 0:
        raise ValueError(f"{name} must be > 0, got {number!r}")
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {number!r}")
    if upper is not None and number > upper:
        raise ValueError(f"{name} must be <= {upper}, got {number!r}")
    return number
