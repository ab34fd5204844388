"""Failure messages: a pasteable ``NTPInstance(...)``, expected, actual, tolerance and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ntpprops import NTPInstance
from ntpprops.checks._implementation import Implementation, call_user

__all__ = ["Case", "array_repr", "instance_repr"]


def _num(x: float) -> str:
    # Shortest round-trip repr: eval gives back the same float.
    return repr(float(x))


def array_repr(a: ArrayLike) -> str:
    """Nested-list literal of ``a`` whose ``eval`` rebuilds the same float64 values."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return _num(arr)
    return "[" + ", ".join(array_repr(row) for row in arr) + "]"


def instance_repr(inst: NTPInstance) -> str:
    """``NTPInstance(embeddings=[[...]], probs=[[...]], context_weights=[...])``.

    Unlike ``repr(inst)`` (a readable summary that may print ``context_weights=uniform``),
    this is valid Python: ``eval`` of it with ``NTPInstance`` in scope rebuilds an equal
    instance (floats are printed with their shortest round-trip repr), ready to paste into
    ``@example(...)``.
    """
    return (
        f"NTPInstance(embeddings={array_repr(inst.embeddings)}, "
        f"probs={array_repr(inst.probs)}, "
        f"context_weights={array_repr(inst.context_weights)})"
    )


class Case:
    """One example of one check: calls the user's code and words its failures.

    Parameters
    ----------
    check : str
        The check's name.
    impl : Implementation
    inst : NTPInstance
        The drawn instance (printed pasteably on failure).
    **arrays : array_like
        Other drawn inputs (``W``, ``W0``), printed pasteably on failure.
    """

    def __init__(self, check: str, impl: Implementation, inst: NTPInstance, **arrays: Any) -> None:
        self.check = check
        self.impl = impl
        self.inst = inst
        self.arrays = arrays

    def _context(self) -> str:
        lines = [
            f"{self.check}[{self.impl.name}] failed on",
            f"  inst = {instance_repr(self.inst)}",
        ]
        lines += [
            f"  {key} = np.array({array_repr(value)})"
            if not np.isscalar(value)
            else f"  {key} = {value!r}"
            for key, value in self.arrays.items()
        ]
        return "\n".join(lines)

    def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``; an exception becomes an AssertionError carrying the instance."""
        try:
            return call_user(self.impl, what, fn, *args)
        except AssertionError as exc:
            raise AssertionError(f"{self._context()}\n  {exc}") from exc.__cause__

    def require(self, ok: bool, claim: str, expected: Any, actual: Any, tol: Any, why: str) -> None:
        """Fail with the full report unless ``ok`` (which must be False on NaN).

        Parameters
        ----------
        ok : bool
            The comparison, written so that NaN makes it False (``abs(a - b) <= tol``).
        claim : str
            What should hold, in words.
        expected, actual, tol
            Printed as they are.
        why : str
            One line: where the tolerance comes from.
        """
        if bool(ok):
            return
        raise AssertionError(
            f"{self._context()}\n"
            f"  claim:     {claim}\n"
            f"  expected:  {expected}\n"
            f"  actual:    {actual}\n"
            f"  tolerance: {tol}  ({why})"
        )
