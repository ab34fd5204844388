"""Short text forms of numbers for the terminal table and report.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["pair", "short"]


def short(value: Any, digits: int = 3) -> str:
    """``value`` in at most ``digits`` significant digits; long lists elided in the middle."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [short(v) for v in value]
        if len(items) > 4:
            items = [*items[:2], "...", items[-1]]
        return "[" + ", ".join(items) + "]"
    return str(value)


def pair(value: Mapping[str, float | None]) -> str:
    """Two checkpoints ``{"1000": a, "10000": b}`` as ``a (k=1000) -> b (k=10000)``."""
    if len(value) == 2:
        (k0, v0), (k1, v1) = value.items()
        return f"{short(v0)} (k={k0}) -> {short(v1)} (k={k1})"
    return short(value)
