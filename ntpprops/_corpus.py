"""Raw token sequences to an NTP instance (stub)."""

from __future__ import annotations

from typing import Any


def instance_from_sequences(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError
