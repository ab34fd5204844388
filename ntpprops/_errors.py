"""Typed exceptions raised by ntpprops.

Every error names the offending field or condition, so that a failing property test or a
command-line run tells the user what to fix.
"""

from __future__ import annotations

__all__ = [
    "InvalidInstanceError",
    "NTPError",
    "NotAnInstanceError",
    "NotCompatibleError",
    "NotSeparableError",
    "SeparabilityUndecidedError",
    "SolverError",
    "UndecidedInFloat64Error",
]


class NTPError(Exception):
    """Base class of every error raised by ntpprops."""


class InvalidInstanceError(NTPError, ValueError):
    """Input data (an instance, a weight matrix, a corpus) is malformed."""


class NotAnInstanceError(InvalidInstanceError, TypeError):
    """Something else (an array, a tuple) was passed where an :class:`~ntpprops.NTPInstance`
    is expected; the message names the argument and says how to build one."""


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


class SeparabilityUndecidedError(SolverError):
    """An iterative separability test ran out of budget before it could decide.

    The message says what was proven and how to get a decision (more time, fewer contexts,
    or ``d >= m``).

    Attributes
    ----------
    norm_lower_bound : float
        Every ``W`` satisfying (6a)-(6b) has ``||W||_F >=`` this (solver-free: it comes from a
        dual-feasible coefficient matrix, see :mod:`ntpprops._svm_dual`).
    margin_upper_bound : float
        ``1 / norm_lower_bound``: the max NTP margin ``gamma*`` is at most this.
    threshold : float
        The decision threshold: separable iff ``gamma* > threshold``.
    """

    def __init__(
        self,
        message: str,
        *,
        norm_lower_bound: float,
        margin_upper_bound: float,
        threshold: float,
    ) -> None:
        super().__init__(message)
        self.norm_lower_bound = norm_lower_bound
        self.margin_upper_bound = margin_upper_bound
        self.threshold = threshold


class UndecidedInFloat64Error(InvalidInstanceError, SolverError):
    """The embeddings' magnitudes are beyond what float64 can decide (see ``docs/design.md``,
    "Range of magnitudes"): a typed refusal instead of a possibly wrong verdict.

    It is an input problem (an :class:`InvalidInstanceError`: the command line exits with
    status 2) and a solver that could not decide (a :class:`SolverError`: code that falls
    back on solver failures, as :class:`~ntpprops.Limits` does, keeps working). The message
    says what was out of range and how to rescale.
    """
