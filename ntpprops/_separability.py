"""NTP-separability (Definition 2) with witnesses and certificates (stub)."""

from __future__ import annotations

from typing import Any

__all__ = ["SeparabilityResult", "is_separable", "ntp_margin"]


class SeparabilityResult:  # placeholder
    pass


def is_separable(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def ntp_margin(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError
