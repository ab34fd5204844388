"""Up-front argument checks for the strategies: every message names the argument, echoes the
value and says how to fix it (as ``hypothesis.extra.numpy`` does)."""

from __future__ import annotations

import numbers

from hypothesis.errors import InvalidArgument

__all__ = ["check_at_least", "check_bool", "check_bounds"]


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(
            f"{name}={value!r} must be an integer (got {type(value).__name__}); pass e.g. {name}=2"
        )
    return int(value)


def check_at_least(name: str, value: object, lower: int, why: str) -> int:
    """Check that ``value`` is an integer ``>= lower``; ``why`` explains the bound."""
    number = _check_int(name, value)
    if number < lower:
        raise InvalidArgument(
            f"{name}={value!r} must be at least {lower} ({why}); pass {name}={lower} or more"
        )
    return number


def check_bounds(
    min_name: str, min_value: object, max_name: str, max_value: object, lower: int, why: str
) -> tuple[int, int]:
    """Check a ``min_*``/``max_*`` pair: integers, ``lower <= min <= max``."""
    low = check_at_least(min_name, min_value, lower, why)
    high = check_at_least(max_name, max_value, lower, why)
    if low > high:
        raise InvalidArgument(
            f"{min_name}={min_value!r} is greater than {max_name}={max_value!r}; "
            f"pass {max_name}>={low} or lower {min_name}"
        )
    return low, high


def check_bool(name: str, value: object, *, allow_none: bool = False) -> None:
    """Check a flag: ``True``/``False`` (or ``None`` when ``allow_none``)."""
    if value is None and allow_none:
        return
    if not isinstance(value, bool):
        choices = "True, False or None" if allow_none else "True or False"
        raise InvalidArgument(f"{name}={value!r} must be {choices}")
