"""NTP-separability (Definition 2): the decision, a witness or a Farkas certificate, margins.

The out-of-support constraint atoms are ``A_i = (e_{a_j} - e_v) h_j^T`` for ``v not in S_j``,
with the default anchor ``a_j`` of :func:`ntpprops._subspace.f_generators`. Because (6a) puts
``W`` in ``F^perp`` (equal logits on each support), the anchor does not matter:
``<W, (e_z - e_v) h_j^T> = <W, A_i>`` for every ``z in S_j``, and ``<W, A_i> = <W, P_perp A_i>``.

Duality. The largest NTP margin of a unit-norm direction in ``F^perp`` is
``gamma* = min_{y in simplex} ||P_perp(sum_i y_i A_i)||`` (the distance from 0 to the convex
hull of the projected atoms). If ``gamma* > 0`` the instance is separable and
``W^mm = u* / gamma*^2`` with ``u* = P_perp(sum_i y*_i A_i)`` the min-norm point, so the
margin of ``W^mm / ||W^mm||`` is ``gamma* = 1 / ||W^mm||``. If ``gamma* = 0`` the minimiser
``y*`` is a Farkas certificate: every ``W in F^perp`` with margins ``>= 1`` has
``1 <= <W, sum y A> <= ||W|| ||P_perp(sum y A)||``, which is impossible when the norm is 0.
:func:`separability_certificate_bound` checks such a ``y`` with linear algebra only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ntpprops import _svm_active, _svm_blocks
from ntpprops._errors import SeparabilityUndecidedError, SolverError, UndecidedInFloat64Error
from ntpprops._instance import NTPInstance, require_instance
from ntpprops._scale import (
    NATIVE_ROW_SPREAD,
    float64_scaled,
    ldexp_exact,
    row_normalised,
    row_norms,
    row_spread,
)
from ntpprops._separation import (
    SeparabilityResult,
    ntp_margin,
    perp_combination_norm,
    raw_margin,
    separability_certificate_bound,
    separation_atoms,
)
from ntpprops._svm_dual import DUAL_MAX_SECONDS
from ntpprops._threads import single_blas_thread

__all__ = [
    "SeparabilityResult",
    "is_separable",
    "ntp_margin",
    "perp_combination_norm",
    "raw_margin",
    "separability_certificate_bound",
    "separation_atoms",
]


@single_blas_thread
def is_separable(inst: NTPInstance, *, max_seconds: float | None = None) -> SeparabilityResult:
    """Decide NTP-separability (Definition 2) and return a witness or a certificate.

    Parameters
    ----------
    inst : NTPInstance
    max_seconds : float, optional
        Time budget of the dual ascent used beyond the dense method's size (default
        :data:`ntpprops._svm_dual.DUAL_MAX_SECONDS`); the exact dense and Lemma 1 routes
        ignore it. An undecided answer is remembered with its budget: asking again with the
        same or a smaller budget raises at once, a larger one tries again.

    Returns
    -------
    SeparabilityResult
        Truthy when separable; cached on the instance.

    Raises
    ------
    SolverError
        If the min-norm-point solve or the NTP-SVM fails verification, or (the subclass
        ``SeparabilityUndecidedError``) the dual ascent runs out of time undecided.
    UndecidedInFloat64Error
        If the rows of ``H`` differ in norm by more than
        :data:`ntpprops._scale.NATIVE_ROW_SPREAD`, the row-normalised instance is separable
        but the solve on ``H`` itself does not reproduce it (``W^mm`` of these rows is out of
        float64's reach). Also an :class:`~ntpprops.InvalidInstanceError`.
    NotAnInstanceError
        If ``inst`` is not an :class:`~ntpprops.NTPInstance`.

    Notes
    -----
    When ``rank H = m`` the instance is separable (Lemma 1) and only ``W^mm`` is computed
    (by the active-set method of :mod:`ntpprops._svm_active`). Otherwise the min-norm point
    ``gamma*`` of the projected atoms decides: separable iff
    ``gamma* > SEPARABLE_RTOL * max_i ||A_i||`` (see :data:`ntpprops._svm_active.SEPARABLE_RTOL`).
    Beyond the dense min-norm point's size the dual block-coordinate ascent of
    :mod:`ntpprops._svm_dual` decides within a time budget, or raises
    :class:`~ntpprops._errors.SeparabilityUndecidedError` (a :class:`SolverError`) with the
    proven bound on ``gamma*``.

    Scale (:mod:`ntpprops._scale`): the answer for ``c H`` is that for ``H`` mapped back
    exactly, for any ``c > 0`` that keeps ``c H`` finite; rows whose norms differ by more than
    ``NATIVE_ROW_SPREAD`` are decided on the row-normalised instance and cross-checked.
    """
    require_instance(inst)
    cached: SeparabilityResult | None = inst._cache.get("separability")
    if cached is not None:
        return cached
    work, exponent = float64_scaled(inst)
    if exponent != 0:
        cached = _rescaled(is_separable(work, max_seconds=max_seconds), exponent)
        inst._cache["separability"] = cached
        return cached
    budget = DUAL_MAX_SECONDS if max_seconds is None else float(max_seconds)
    if not budget > 0:  # also rejects nan
        raise ValueError(f"max_seconds must be > 0, got {max_seconds!r}")
    undecided = inst._cache.get("separability_undecided")
    if undecided is not None and undecided[0] >= budget:
        raise undecided[1]
    try:
        if row_spread(inst) > NATIVE_ROW_SPREAD:
            cached = _decide_spread_rows(inst, budget)
        else:
            cached = _svm_blocks.decide_separability(inst, max_seconds=budget)
    except SeparabilityUndecidedError as exc:
        inst._cache["separability_undecided"] = (budget, exc)
        raise
    inst._cache["separability"] = cached
    return cached


def _rescaled(result: SeparabilityResult, exponent: int) -> SeparabilityResult:
    """The answer for ``2^exponent H`` from the answer for ``H`` (exact: powers of two).

    ``W -> 2^-e W`` keeps every logit, so the witness keeps its margins; a unit direction's
    margin and ``||P_perp(sum y A)||`` scale by ``2^e``; the certificate ``y`` is unchanged.
    """
    witness = None
    if result.witness is not None:
        witness = ldexp_exact(result.witness, -exponent, "the separability witness")
    return dataclasses.replace(
        result,
        witness=witness,
        margin=float(ldexp_exact(np.array(result.margin), exponent, "the NTP margin")),
        margin_upper=None
        if result.margin_upper is None
        else float(ldexp_exact(np.array(result.margin_upper), exponent, "the NTP margin bound")),
        certificate_norm=float(
            ldexp_exact(np.array(result.certificate_norm), exponent, "the certificate norm")
        ),
    )


def _decide_spread_rows(inst: NTPInstance, budget: float) -> SeparabilityResult:
    """Separability of rows of very different norms: decided on the row-normalised instance
    (the same answer, Definition 2 being invariant under positive row scaling), then the
    witness or certificate of ``H`` itself, which must agree.

    Not separable: the normalised instance's Farkas certificate ``y`` becomes
    ``y_i / ||h_{j(i)}||`` (normalised to sum 1), which combines the same projected matrix;
    the solve on ``H`` replaces it when it agrees with a stronger certificate. Separable:
    ``W^mm`` of ``H`` must come from the solve on ``H``; when that solve fails or
    disagrees, :class:`UndecidedInFloat64Error`.
    """
    unit = is_separable(row_normalised(inst), max_seconds=budget)
    try:
        own: SeparabilityResult | None = _svm_active.decide_separability(inst, max_seconds=budget)
    except SeparabilityUndecidedError:
        raise
    except (SolverError, ArithmeticError, ValueError, np.linalg.LinAlgError):
        own = None  # rounding at this spread broke a solver: the verdict above still holds
    if not unit.separable:
        assert unit.certificate is not None
        norms = row_norms(inst.embeddings)[separation_atoms(inst).ctx]
        # Atoms of a zero row are zero in both instances: their weight carries over as is.
        y = unit.certificate / np.where(norms > 0.0, norms, 1.0)
        y = y / y.sum()
        mapped = SeparabilityResult(False, None, 0.0, y, perp_combination_norm(inst, y))
        # Keep the stronger of the two certificates (the smaller projected norm).
        if own is not None and not own.separable:
            return own if own.certificate_norm <= mapped.certificate_norm else mapped
        return mapped
    if own is not None and own.separable:
        return own
    raise UndecidedInFloat64Error(
        "NTP-separability of these embeddings is decided (separable: the row-normalised "
        "instance h_j / ||h_j||, which has the same answer, is), but W^mm of the rows as given "
        f"is undecided in float64: their norms differ by a factor {row_spread(inst):.3g} and "
        "the solve on them "
        + ("failed" if own is None else "found no separator")
        + ". Rescale the rows (e.g. to unit norm) to compute W^mm"
    )
