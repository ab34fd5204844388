"""Typed exceptions raised by ntpprops.

Every error names the offending field or condition, so that a failing property test or a
command-line run tells the user what to fix.
"""

from __future__ import annotations

__all__ = [
    "InvalidInstanceError",
    "NTPError",
    "NotCompatibleError",
    "NotSeparableError",
    "SolverError",
]


class NTPError(Exception):
    """Base class of every error raised by ntpprops."""


class InvalidInstanceError(NTPError, ValueError):
    """Input data (an instance, a weight matrix, a corpus) is malformed."""


class NotCompatibleError(NTPError):
    """The instance is not NTP_H-compatible (Definition 1), so ``W*`` does not exist.

    Attributes
    ----------
    certificate : CompatibilityResult or None
        The evidence of incompatibility, checkable without trusting any solver.
    """

    def __init__(self, message: str, certificate: object | None = None) -> None:
        super().__init__(message)
        self.certificate = certificate


class NotSeparableError(NTPError):
    """The instance is not NTP-separable (Definition 2), so ``W^mm`` does not exist.

    Attributes
    ----------
    certificate : SeparabilityResult or None
        The Farkas certificate of infeasibility, checkable without trusting any solver.
    """

    def __init__(self, message: str, certificate: object | None = None) -> None:
        super().__init__(message)
        self.certificate = certificate


class SolverError(NTPError, RuntimeError):
    """A numerical solver failed or returned an answer that did not pass verification.

    The message says what went wrong and what to try next.
    """
