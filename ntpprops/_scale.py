"""The range of magnitudes the solvers decide in float64, and the rescaling that reaches it.

Neither compatibility (Definition 1) nor separability (Definition 2) changes when ``H`` is
multiplied by a constant ``c > 0`` (``W* -> W* / c``, ``W^mm -> W^mm / c``), and separability
does not change when the rows ``h_j`` are multiplied by positive factors (``F`` is the same
subspace, every margin of context ``j`` is scaled by the same positive factor). The solvers'
tolerances are relative, so within float64's range their verdicts share these invariances;
what breaks them is the range itself: the kernel ``K = H H^T`` squares the magnitudes
(``1e155`` overflows, ``1e-155`` underflows), and a rank or margin threshold relative to the
largest row cannot see a row ``1e10`` times smaller.

So (the range, documented in ``docs/design.md``):

- **Overall scale**: any finite ``H``. When the largest row norm lies outside
  ``[2^-NATIVE_EXPONENT, 2^NATIVE_EXPONENT]`` the decisions run on ``2^-k H`` (``k`` the
  binary exponent of that norm: the largest row gets norm in ``[0.5, 1)``), and the answers
  are mapped back. Multiplying by a power of two is exact in float64, so the logits of the
  mapped-back ``W`` on ``H`` are bit for bit those of ``W`` on ``2^-k H``: verdicts and
  certificates carry over exactly (:func:`float64_scaled`).
- **Spread of the row norms** (largest over smallest nonzero ``||h_j||``):

  - compatibility is decided up to :data:`MAX_ROW_SPREAD` (``K`` must hold
    ``||h_j||^2`` for every row, far from float64's underflow); beyond it
    :func:`require_spread` raises :class:`~ntpprops.UndecidedInFloat64Error`;
  - separability is decided at any spread: beyond :data:`NATIVE_ROW_SPREAD` it is decided on
    the row-normalised instance ``h_j / ||h_j||`` (:func:`row_normalised`, same answer by the
    invariance) and the solve on ``H`` itself must agree, else
    :class:`~ntpprops.UndecidedInFloat64Error` (see :func:`ntpprops.is_separable`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ntpprops._errors import UndecidedInFloat64Error
from ntpprops._instance import NTPInstance

__all__ = [
    "MAX_ROW_SPREAD",
    "NATIVE_EXPONENT",
    "NATIVE_ROW_SPREAD",
    "float64_scaled",
    "require_spread",
    "row_normalised",
    "row_norms",
    "row_spread",
]

FloatArray = NDArray[np.float64]

#: Largest row norms in ``[2^-64, 2^64]`` (about ``5e-20`` to ``2e19``) are used as given:
#: far inside float64 even after squaring twice (kernel entries times kernel entries). Outside,
#: the decisions run on ``2^-k H`` (exact). Every test instance lies inside, so rescaling
#: never changes an answer there.
NATIVE_EXPONENT = 64

#: Beyond this ratio of the largest to the smallest nonzero row norm, separability is
#: decided on the row-normalised instance and cross-checked: the solvers' rank (``1e-10``)
#: and margin (``1e-8``) thresholds are relative to the largest row, so a row ``1e4`` times
#: smaller keeps at least 4 of their orders of magnitude.
NATIVE_ROW_SPREAD = 1e4

#: Largest ratio of row norms for compatibility: the kernel then holds ``||h_j||^2`` down to
#: ``1e-200`` of the largest, far above float64's underflow (``2e-308``) with room for the
#: products of the solve.
MAX_ROW_SPREAD = 1e100


def row_norms(H: FloatArray) -> FloatArray:
    """``||h_j||`` for every row of ``H`` (m, d), without overflow or underflow; shape (m,)."""
    top = np.max(np.abs(H), axis=1) if H.shape[1] else np.zeros(H.shape[0])
    safe = np.where(top > 0.0, top, 1.0)
    norms: FloatArray = top * np.linalg.norm(H / safe[:, None], axis=1)
    return norms


def row_spread(inst: NTPInstance) -> float:
    """Largest over smallest nonzero row norm of ``H`` (1.0 with fewer than two nonzero rows)."""
    norms = row_norms(inst.embeddings)
    nonzero = norms[norms > 0.0]
    if nonzero.size < 2:
        return 1.0
    return float(nonzero.max() / nonzero.min())


def require_spread(inst: NTPInstance, limit: float, what: str) -> None:
    """Raise :class:`~ntpprops.UndecidedInFloat64Error` if the row spread exceeds ``limit``."""
    spread = row_spread(inst)
    if spread > limit:
        norms = row_norms(inst.embeddings)
        big = int(np.argmax(norms))
        small = int(np.argmin(np.where(norms > 0.0, norms, np.inf)))
        raise UndecidedInFloat64Error(
            f"{what} is undecided in float64: the embeddings' row norms differ by a factor "
            f"{spread:.3g} > {limit:.0e} (||h_{big}|| = {norms[big]:.3g}, "
            f"||h_{small}|| = {norms[small]:.3g}); the kernel H H^T cannot hold both. "
            "Rescale the rows that are far from the others (separability does not change "
            "under positive row rescaling; compatibility changes only by the same factor on "
            "that context's log-odds)"
        )


def float64_scaled(inst: NTPInstance) -> tuple[NTPInstance, int]:
    """``(work, k)`` with ``inst.embeddings = 2^k work.embeddings`` exactly: decide on ``work``.

    ``k = 0`` and ``work is inst`` when the largest row norm is within
    ``[2^-NATIVE_EXPONENT, 2^NATIVE_EXPONENT]`` (or ``H = 0``). Otherwise ``work`` has the
    same ``probs`` and ``context_weights`` (bit for bit) and its largest row norm in
    ``[0.5, 1)``. Cached on the instance.
    """
    cached: tuple[NTPInstance, int] | None = inst._cache.get("float64_scaled")
    if cached is not None:
        return cached
    largest = float(np.max(row_norms(inst.embeddings)))
    exponent = int(np.frexp(largest)[1]) if largest > 0.0 else 0
    if abs(exponent) <= NATIVE_EXPONENT:
        result = (inst, 0)
    else:
        # ldexp is exact (a change of binary exponent) unless an entry leaves float64's range,
        # which only entries below 2^-1074 * 2^k (rounded to zero) can do.
        work = inst.replace(embeddings=np.ldexp(inst.embeddings, -exponent))
        result = (work, exponent)
    inst._cache["float64_scaled"] = result
    return result


def ldexp_exact(array: FloatArray, exponent: int, what: str) -> FloatArray:
    """``array * 2^exponent``, or :class:`~ntpprops.UndecidedInFloat64Error` if that is not
    exact: an entry would overflow, or a nonzero entry would lose precision to underflow.

    The answers mapped back from the rescaled instance (``W*``, ``W^mm``, its multipliers
    ``lambda -> 2^-2k lambda``) are exact unless they leave float64's normal range.
    """
    with np.errstate(over="ignore", under="ignore"):
        out: FloatArray = np.ldexp(array, exponent)
    tiny = np.finfo(np.float64).tiny
    lost = (~np.isfinite(out) & np.isfinite(array)) | ((np.abs(out) < tiny) & (array != 0.0))
    if np.any(lost):
        raise UndecidedInFloat64Error(
            f"undecided in float64 at this scale of the embeddings: {what}, a factor "
            f"2^{exponent} away from the answer on the rescaled embeddings, leaves float64's "
            "range. Rescale the embeddings (multiplying H by a constant changes no verdict)"
        )
    return out


def row_normalised(inst: NTPInstance) -> NTPInstance:
    """``inst`` with every nonzero row ``h_j`` divided by ``||h_j||`` (same separability).

    Zero rows stay zero; ``probs`` and ``context_weights`` are kept bit for bit. Cached.
    """
    cached: NTPInstance | None = inst._cache.get("row_normalised")
    if cached is None:
        norms = row_norms(inst.embeddings)
        unit = inst.embeddings / np.where(norms > 0.0, norms, 1.0)[:, None]
        cached = inst._cache["row_normalised"] = inst.replace(embeddings=unit)
    return cached
