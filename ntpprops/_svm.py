"""The NTP-SVM ``W^mm`` of Definition 3, with duals and a KKT certificate of optimality.

``W^mm = argmin ||W||_F`` subject to (6a) ``W in F^perp`` and (6b) ``<W, A_i> >= 1`` for the
out-of-support atoms ``A_i`` of :func:`ntpprops._separability.separation_atoms`. It is a
strongly convex QP, so the KKT conditions (:mod:`ntpprops._kkt`) are necessary and
sufficient. Every returned solution passes them to :data:`KKT_RTOL` (relative), evaluated on
the original instance from ``(W, lambda)`` alone, whatever the method that produced them
(:class:`KKTReport` and :func:`kkt_report` are re-exported here).

Methods: ``"active-set"`` (:mod:`ntpprops._svm_active`), ``"dual-cd"`` (dual
block-coordinate ascent in the rank-r coordinates, then the same exact polish;
:mod:`ntpprops._svm_dual`), and ``"cvxpy"`` (the reference formulation solved by Clarabel;
:mod:`ntpprops._svm_cvxpy`). ``"auto"`` is ``"active-set"`` where its dense matrices fit
(:func:`ntpprops._svm_active.active_set_fits`: ``rank H = m``, or the min-norm-point matrices
of a rank-deficient instance under 4e7 entries) and ``"dual-cd"`` beyond.

Other norms (``norm="max"``, ``"l1"``, ``"spectral"``): the same constraints with ``||W||``
in place of ``||W||_F``, solved and certified by duality in :mod:`ntpprops._svm_norms`
(``kkt`` is then ``None`` and ``certificate`` holds the evidence; the minimiser may not be
unique there, the optimal margin is).

When every support is full there is no constraint (6b): Definition 2 holds vacuously with
``W = 0``, nothing diverges, and ``W^mm`` is not defined; both functions raise
:class:`~ntpprops.NotSeparableError` saying so.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ntpprops._embedding_ops import context_groups
from ntpprops._errors import NotSeparableError, SolverError
from ntpprops._instance import NTPInstance, require_instance
from ntpprops._kkt import KKT_RTOL, KKTReport, kkt_report
from ntpprops._scale import NATIVE_ROW_SPREAD, float64_scaled, ldexp_exact, row_spread
from ntpprops._separability import is_separable
from ntpprops._separation import SeparabilityResult, separation_atoms
from ntpprops._svm_active import active_set_fits, solve_active_set, solve_dual_cd
from ntpprops._svm_cvxpy import solve_cvxpy
from ntpprops._svm_norms import NORMS, DualityCertificate, solve_norm_svm
from ntpprops._threads import single_blas_thread

__all__ = [
    "KKT_RTOL",
    "METHODS",
    "NORMS",
    "KKTReport",
    "SVMResult",
    "kkt_report",
    "ntp_svm",
    "ntp_svm_result",
]

FloatArray = NDArray[np.float64]

#: Accepted values of ``method``.
METHODS = ("auto", "active-set", "dual-cd", "cvxpy")


@dataclass(frozen=True, eq=False)
class SVMResult:
    """The NTP-SVM solution of Definition 3 and the evidence that it is optimal.

    Attributes
    ----------
    W : ndarray, shape (V, d)
        ``W^mm`` (for another ``norm``: a minimiser of that norm under (6a)-(6b)).
    margin : float
        ``1 / ||W^mm||_F``: the largest NTP margin of a unit-norm direction in ``F^perp``
        (for another ``norm``: ``1 / ||W||`` in that norm).
    duals : ndarray, shape (n_out,)
        Multipliers ``lambda >= 0`` of (6b), ordered as :func:`separation_atoms`.
    active : ndarray of bool, shape (n_out,)
        The constraints the solver treated as tight (``<W, A_i> = 1``).
    kkt : KKTReport or None
        The KKT residuals (``norm="l2"``); ``None`` for other norms, whose evidence is
        ``certificate``.
    method : str
        The method that solved it: ``"active-set"``, ``"dual-cd"`` or ``"cvxpy"`` (never
        ``"auto"``); ``"highs"`` or ``"clarabel"`` for other norms.
    solve_time : float
        Seconds spent solving (including the separability decision that produced it, for
        ``"active-set"`` and ``"dual-cd"``) and verifying.
    norm : {"l2", "max", "l1", "spectral"}
        The norm minimised.
    certificate : DualityCertificate or None
        For norms other than ``"l2"``: the weak-duality bounds on the optimal norm, checked
        from the instance alone (:func:`ntpprops._svm_norms.duality_certificate`).
    f_duals : ndarray, shape (n_F,), or None
        For norms other than ``"l2"``: the multipliers ``mu`` of (6a) over the default
        generators of ``F`` (with ``duals``, the certificate's ``G``).
    """

    W: FloatArray = field(repr=False)
    margin: float
    duals: FloatArray = field(repr=False)
    active: NDArray[np.bool_] = field(repr=False)
    kkt: KKTReport | None
    method: str
    solve_time: float
    norm: str = "l2"
    certificate: DualityCertificate | None = None
    f_duals: FloatArray | None = field(default=None, repr=False)


def _full_support_error(inst: NTPInstance) -> NotSeparableError:
    return NotSeparableError(
        "W^mm is undefined: every support is full (S_j = V for all j), so there is no "
        "out-of-support constraint (6b); Definition 2 holds only vacuously with W = 0 and "
        "nothing diverges (GD converges to the finite point W* + P_perp(W_0))",
        certificate=is_separable(inst),
    )


def _not_separable_error(
    inst: NTPInstance, sep: SeparabilityResult | None = None
) -> NotSeparableError:
    sep = is_separable(inst) if sep is None else sep
    bound = np.inf if sep.certificate_norm == 0.0 else 1.0 / sep.certificate_norm
    return NotSeparableError(
        "instance is not NTP-separable (Definition 2), so W^mm does not exist: a convex "
        f"combination of the out-of-support atoms projects to ||P_perp(sum y A)|| = "
        f"{sep.certificate_norm:.3g}, so every separator needs ||W|| >= {bound:.3g} "
        "(see .certificate)",
        certificate=sep,
    )


@single_blas_thread
def ntp_svm_result(inst: NTPInstance, *, method: str = "auto", norm: str = "l2") -> SVMResult:
    """Solve the NTP-SVM (Definition 3) and return ``W^mm`` with duals and KKT residuals.

    Parameters
    ----------
    inst : NTPInstance
    method : {"auto", "active-set", "dual-cd", "cvxpy"}
        ``"active-set"``: an exact primal-dual active-set method on the kernel form of the
        dual (fast; dense ``(V r)``-row matrices decide rank-deficient instances).
        ``"dual-cd"``: dual block-coordinate ascent (``O(m V r)`` per epoch, memory
        ``O(m V + V r)``) polished exactly on its active set; within a time budget
        (:data:`ntpprops._svm_dual.DUAL_MAX_SECONDS`). ``"auto"``: ``"active-set"`` where its
        dense matrices fit, else ``"dual-cd"``. ``"cvxpy"`` solves the primal over the
        rank-``r`` factor of ``H`` with Clarabel, then polishes on its active set; it is the
        independent reference. Other norms accept ``"auto"`` only (HiGHS for ``"max"`` and
        ``"l1"``, Clarabel for ``"spectral"``).
    norm : {"l2", "max", "l1", "spectral"}
        The norm minimised under (6a)-(6b): Frobenius (Definition 3, the default), entrywise
        max, entrywise sum, or largest singular value (:mod:`ntpprops._svm_norms`). Outside
        ``"l2"`` the optimal margin ``1 / ||W||`` is unique but the minimiser may not be:
        ``W`` is then one optimal solution (see
        :func:`ntpprops._svm_norms.optimal_face_width`).

    Returns
    -------
    SVMResult
        Cached on the instance per method and norm.

    Raises
    ------
    NotSeparableError
        If the instance is not NTP-separable (``.certificate`` is the
        :class:`SeparabilityResult`), or every support is full.
    SolverError
        If the solver fails or its answer does not pass the KKT check (the duality
        certificate for other norms, or the instance is too large for it); the subclass
        :class:`~ntpprops._errors.SeparabilityUndecidedError` if ``"dual-cd"`` ran out of
        time without deciding (it carries the proven bound on ``gamma*``).
    ValueError
        If ``method`` or ``norm`` is unknown, or ``method`` is not ``"auto"`` for a norm
        other than ``"l2"``.
    UndecidedInFloat64Error
        If the rows of ``H`` are too far apart in norm for ``W^mm`` (see
        :func:`~ntpprops.is_separable`).

    Notes
    -----
    Scale (:mod:`ntpprops._scale`): for ``H`` beyond float64's comfortable range the solve runs
    on ``2^-k H`` and ``W^mm`` is mapped back exactly (``2^-k W``, duals ``2^-2k lambda``).
    """
    require_instance(inst)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if norm != "l2" and method != "auto":
        raise ValueError(f"norm={norm!r} is solved by method='auto' only, got {method!r}")
    if len(separation_atoms(inst)) == 0:
        raise _full_support_error(inst)
    if norm != "l2":
        return _other_norm_result(inst, norm)
    work, exponent = float64_scaled(inst)
    if exponent != 0:
        return _rescaled(inst, ntp_svm_result(work, method=method), exponent)
    if row_spread(inst) > NATIVE_ROW_SPREAD and not is_separable(inst):
        raise _not_separable_error(inst)  # decided on the row-normalised instance
    resolved = method
    if method == "auto":
        # A W^mm assembled from orthogonal groups of contexts (ntpprops._svm_blocks) is
        # cached as the active-set method's, once separability is decided.
        split = context_groups(inst) is not None and bool(is_separable(inst))
        resolved = "active-set" if split or active_set_fits(inst) else "dual-cd"
    key = f"svm:{resolved}"
    cached: SVMResult | None = inst._cache.get(key)
    if cached is not None:
        return cached
    start = time.perf_counter()
    if resolved == "dual-cd":
        sep, solved_dual = solve_dual_cd(inst)
        if solved_dual is None:
            raise _not_separable_error(inst, sep)
        W, duals, active, solver_seconds = solved_dual
    elif resolved == "active-set":
        if not is_separable(inst):
            raise _not_separable_error(inst)
        W, duals, active, solver_seconds = solve_active_set(inst)
    else:
        solved = solve_cvxpy(inst, polish=True)
        solver_seconds = time.perf_counter() - start
        if solved is None:
            if not is_separable(inst):
                raise _not_separable_error(inst)
            raise SolverError(
                "cvxpy/Clarabel reported the NTP-SVM infeasible, but the min-norm-point test "
                "finds the instance separable; try method='active-set'"
            )
        W, duals, active = solved
    verify_start = time.perf_counter()
    kkt = kkt_report(inst, W, duals)
    if not kkt.ok:
        raise SolverError(
            f"the {resolved} NTP-SVM solution failed the KKT check (relative residuals: primal "
            f"{kkt.primal_infeasibility:.2e}, dual {kkt.dual_infeasibility:.2e}, "
            f"complementarity {kkt.complementarity:.2e}, stationarity {kkt.stationarity:.2e}; "
            f"tolerance {KKT_RTOL:g}); try method="
            + ("'cvxpy'" if resolved == "active-set" else "'active-set'")
            + " or rescale the embeddings"
        )
    result = SVMResult(
        W=W,
        margin=1.0 / float(np.linalg.norm(W)),
        duals=duals,
        active=active,
        kkt=kkt,
        method=resolved,
        solve_time=solver_seconds + time.perf_counter() - verify_start,
    )
    inst._cache[key] = result
    return result


def _other_norm_result(inst: NTPInstance, norm: str) -> SVMResult:
    """The certified ``norm``-NTP-SVM (separability decided first, by the exact l2 route)."""
    key = f"svm:{norm}"
    cached: SVMResult | None = inst._cache.get(key)
    if cached is not None:
        return cached
    start = time.perf_counter()
    if not is_separable(inst):
        raise _not_separable_error(inst)
    solved = solve_norm_svm(inst, norm)
    result = SVMResult(
        W=solved.W,
        margin=1.0 / solved.certificate.upper,
        duals=solved.duals,
        active=solved.active,
        kkt=None,
        method=solved.method,
        solve_time=time.perf_counter() - start,
        norm=norm,
        certificate=solved.certificate,
        f_duals=solved.f_duals,
    )
    inst._cache[key] = result
    return result


def _rescaled(inst: NTPInstance, result: SVMResult, exponent: int) -> SVMResult:
    """``W^mm`` of ``2^exponent H`` from that of ``H`` (exact), cached on ``inst``.

    ``W -> 2^-e W`` keeps every logit (so margins, active set and KKT residuals); the
    stationarity ``W = P_perp(sum lambda_i A_i)`` with ``A_i -> 2^e A_i`` takes
    ``lambda -> 2^-2e lambda``.
    """
    scaled = dataclasses.replace(
        result,
        W=ldexp_exact(result.W, -exponent, "W^mm"),
        margin=float(ldexp_exact(np.array(result.margin), exponent, "the NTP margin")),
        duals=ldexp_exact(result.duals, -2 * exponent, "the multipliers of W^mm"),
    )
    inst._cache[f"svm:{scaled.method}"] = scaled
    return scaled


def ntp_svm(inst: NTPInstance, *, method: str = "auto", norm: str = "l2") -> FloatArray:
    """The NTP-SVM solution ``W^mm`` (Definition 3), shape (V, d), or a minimiser in ``norm``.

    See :func:`ntp_svm_result` for the parameters and errors; this returns a copy of ``W``,
    whose ``norm`` is the reciprocal of the optimal margin in that norm.
    """
    return ntp_svm_result(inst, method=method, norm=norm).W.copy()
