"""Failure messages: a pasteable ``NTPInstance(...)``, expected, actual, tolerance and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import numpy as np
from numpy.typing import ArrayLike

from ntpprops import NTPInstance
from ntpprops.checks._implementation import Implementation, call_user

__all__ = ["Case", "CheckFailure", "array_repr", "instance_repr"]


def _num(x: SupportsFloat) -> str:
    # Shortest round-trip repr: eval gives back the same float.
    return repr(float(x))


def array_repr(a: ArrayLike) -> str:
    """Nested-list literal of ``a`` whose ``eval`` rebuilds the same float64 values."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return _num(arr)
    return "[" + ", ".join(array_repr(row) for row in arr) + "]"


def _count_rows(values: np.ndarray) -> list[np.ndarray]:
    """Integer rows proportional to ``values`` (rows), if small ones exist: the counts or
    weights an instance was normalised from (the strategies draw integers)."""
    rows = np.atleast_2d(values)
    scale = np.where(rows > 0, rows, np.inf).min(axis=1, keepdims=True)
    found = []
    for top in (1, 2, 3, 4, 5, 6, 8, 12, 60):
        counts = np.round(rows / scale * top)
        if np.allclose(counts / counts.sum(axis=1, keepdims=True), rows, rtol=1e-12, atol=0):
            found.append(counts)
    return found


def _ratios(counts: np.ndarray) -> str:
    """``[[c / s, ...], ...]`` with ``s`` each row's sum: rows that sum to one, as drawn."""
    return (
        "["
        + ", ".join("[" + ", ".join(f"{x:g} / {row.sum():g}" for x in row) + "]" for row in counts)
        + "]"
    )


def _first_exact(candidates: list[str], rebuilds: Callable[[Any], bool], fallback: str) -> str:
    """The first literal whose value rebuilds the instance's array exactly, else ``fallback``.

    Normalising normalised rows or weights again can move an entry by an ulp, so the stored
    values are not always the literal that rebuilds them.
    """
    for literal in candidates:
        if rebuilds(eval(literal)):
            return literal
    return fallback


def instance_repr(inst: NTPInstance) -> str:
    """``NTPInstance(embeddings=[[...]], probs=[[...]], context_weights=[...])``.

    Like ``repr(inst)`` it is valid Python: ``eval`` of it with ``NTPInstance`` in scope
    rebuilds an equal instance (floats are printed with their shortest round-trip repr), ready
    to paste into ``@example(...)``. It leaves out the summary fields (``m``, ``S``,
    ``entropy``) and writes rows as the integer ratios they were drawn from when those
    rebuild them exactly (``[1 / 3, 2 / 3]``).
    """
    H, P, pi = inst.embeddings, inst.probs, inst.context_weights
    probs = _first_exact(
        [array_repr(P)] + [_ratios(c) for c in _count_rows(P)],
        lambda v: np.array_equal(NTPInstance(H, v).probs, P),
        array_repr(P),
    )
    weights = _first_exact(
        [array_repr(pi)] + [array_repr(c[0]) for c in _count_rows(pi)],
        lambda v: np.array_equal(NTPInstance(H, P, v).context_weights, pi),
        array_repr(pi),
    )
    return f"NTPInstance(embeddings={array_repr(H)}, probs={probs}, context_weights={weights})"


class CheckFailure(AssertionError):
    """A check's failure on one example; ``case`` holds the instance and inputs it failed on.

    An ``AssertionError``, so test runners report it as a failed assertion; the attribute lets
    :func:`ntpprops.checks._checks` try the failure on a smaller instance after shrinking.
    """

    def __init__(self, message: str, case: Case) -> None:
        super().__init__(message)
        self.case = case


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

    def context(self) -> str:
        """The failure's header: check, implementation, pasteable instance and inputs."""
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
        __tracebackhide__ = True
        try:
            return call_user(self.impl, what, fn, *args)
        except AssertionError as exc:
            raise CheckFailure(f"{self.context()}\n  {exc}", self) from exc.__cause__

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
        __tracebackhide__ = True  # pytest shows the check's line, not this helper
        if bool(ok):
            return
        raise CheckFailure(
            f"{self.context()}\n"
            f"  claim:     {claim}\n"
            f"  expected:  {expected}\n"
            f"  actual:    {actual}\n"
            f"  tolerance: {tol}  ({why})",
            self,
        )
