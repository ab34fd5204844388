"""Optimizers as data and the training loop (stub: owned by the optimizer work)."""

from __future__ import annotations

from typing import Any

__all__ = ["OPTIMIZERS", "Optimizer", "TrainResult", "train"]


class Optimizer:  # placeholder
    pass


class TrainResult:  # placeholder
    pass


OPTIMIZERS: dict[str, Any] = {}


def train(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError
