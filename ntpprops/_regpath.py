"""The regularisation path of Theorem 1 (stub: owned by the regularisation-path work)."""

from __future__ import annotations

from typing import Any

__all__ = ["RegularizationPath", "regularization_path"]


class RegularizationPath:  # placeholder
    pass


def regularization_path(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError
