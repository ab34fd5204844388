"""The NTP-SVM W^mm of Definition 3 (stub)."""

from __future__ import annotations

from typing import Any

__all__ = ["SVMResult", "ntp_svm", "ntp_svm_result"]


class SVMResult:  # placeholder
    pass


def ntp_svm(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def ntp_svm_result(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError
