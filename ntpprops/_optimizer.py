"""The optimizer-as-data type shared by :mod:`ntpprops._optim` and :mod:`ntpprops._steepest`.

An optimizer is a pair of pure functions, as in optax: ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``; the caller applies
``params <- params + updates``. This lower layer holds the type and the argument checks so
that the factories can live in several modules without import cycles.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["EmptyState", "Optimizer", "check_positive", "check_unit_interval", "stateless_init"]

FloatArray = NDArray[np.float64]


class EmptyState(NamedTuple):
    """State of a stateless optimizer."""


class Optimizer(NamedTuple):
    """An optimizer as data: ``init(params) -> state``, ``update(grads, state, params)``.

    ``update`` returns ``(updates, new_state)``; the caller applies
    ``params <- params + updates``. ``hyperparams`` records the settings (including ``lr``).
    """

    name: str
    init: Callable[[FloatArray], Any]
    update: Callable[[FloatArray, Any, FloatArray], tuple[FloatArray, Any]]
    hyperparams: Mapping[str, float] = MappingProxyType({})


def check_positive(name: str, value: float) -> float:
    """``value`` as a float if real, finite and positive (else TypeError or ValueError)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def check_unit_interval(name: str, value: float) -> float:
    """``value`` as a float if it is a real number in ``[0, 1)`` (else TypeError/ValueError)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return float(value)


def stateless_init(params: FloatArray) -> EmptyState:
    """``init`` of an optimizer without state."""
    return EmptyState()
