"""The norm stage of ``ntpprops verify``: which norm's max-margin solution each run approaches.

For each norm ``q`` of :data:`ntpprops._svm_norms.NORMS` the ``q``-NTP-SVM is solved and
certified once (``l2`` is the analysis's ``W^mm``; ``max``, ``l1`` and ``spectral`` are
solved here within the stage budget), and each optimizer run's last iterate is measured by
:func:`ntpprops._norm_margins.margin_fraction` in every solved norm and by
:meth:`ntpprops._norm_margins.MarginTrajectory.approached` (issue 11). A norm that cannot be
solved (not separable, too large, out of time, certificate refused) is skipped with the
reason; nothing here is a claim, so nothing here can fail the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ntpprops._errors import InvalidInstanceError, SolverError
from ntpprops._instance import NTPInstance
from ntpprops._limits import projection_cost
from ntpprops._norm_margins import MarginTrajectory, eq4_residual, margin_fraction
from ntpprops._optim import TrainResult
from ntpprops._svm import SVMResult
from ntpprops._svm_norms import NORMS, solve_norm_svm

__all__ = [
    "NORM_STAGE_SKIPPED",
    "SOLVE_ORDER",
    "NormMargins",
    "RunMargins",
    "measure_run",
    "norm_margins",
    "not_measured",
]

FloatArray = NDArray[np.float64]
T = TypeVar("T")

#: Floating-point operations per second assumed for the one-time factorisation behind the
#: projection onto ``F^perp`` that every measure here needs (a pivoted Cholesky, which runs
#: at several Gflop/s on one core; 1e9 leaves room for a loaded machine). Used only to refuse
#: the stage up front when that factorisation alone would overrun the stage budget.
PROJECTION_FLOPS_PER_SECOND = 1e9

#: Estimated set-up seconds never held against the budget (a tiny budget must not refuse a
#: projection that costs milliseconds, as on the paper's instance, ``n_F = 250``).
PROJECTION_FREE_SECONDS = 1.0

#: Order in which the norms beyond ``l2`` are solved while the budget lasts: the max-norm
#: first (the one-hot limit of SignGD and Adam, the optimizers verify runs), then ``l1`` (an
#: LP, as cheap), then the spectral norm (Muon; a semidefinite program, by far the slowest).
SOLVE_ORDER = ("max", "l1", "spectral")

#: The reason every norm carries when the stage is off (``verify --quick`` without ``--norms``).
NORM_STAGE_SKIPPED = "skipped by --quick (--norms solves and measures them)"


@dataclass(frozen=True)
class RunMargins:
    """One run's last iterate measured in every solved norm.

    Attributes
    ----------
    fractions : mapping of str to float
        ``gamma_q(W_K) / gamma_q*`` per solved norm ``q`` (at most 1 up to the certificate's
        gap; negative while some out-of-support token still beats an in-support one).
    leads : mapping of str to float
        :meth:`MarginTrajectory.leads`: the fraction minus the best ``q``-fraction of another
        norm's optimal solution (empty when fewer than two norms were solved).
    approached : str or None
        The norm with the largest positive lead, ``None`` when none is positive or it cannot
        be told (``reason`` says which).
    reason : str
        What ``approached`` rests on, or why it is ``None``.
    eq4_residual : float
        :func:`ntpprops._norm_margins.eq4_residual` of ``W_K`` (norm-free).
    """

    fractions: Mapping[str, float]
    leads: Mapping[str, float]
    approached: str | None
    reason: str
    eq4_residual: float


@dataclass(frozen=True)
class NormMargins:
    """The certified optima in each norm and every run measured against them.

    Attributes
    ----------
    optima : mapping of str to float
        ``||W_q||_q = 1 / gamma_q*`` per solved norm, in :data:`NORMS` order.
    gaps : mapping of str to float
        The relative duality gap of each solved norm's certificate (``l2``: 0, its answer is
        exact and KKT-checked).
    cross : mapping of str to mapping of str to float
        ``cross[q][q2]``: the ``q``-margin fraction of the ``q2``-optimal solution.
    skipped : mapping of str to str
        Norms not solved, with the reason; with ``optima`` they cover :data:`NORMS`.
    runs : mapping of str to RunMargins
        One per optimizer run of the analysis.
    solutions : mapping of str to ndarray, shape (V, d)
        The certified minimiser of each solved norm (``l2``: ``W^mm``).
    seconds : mapping of str to float
        Wall time of each solve.
    budget_note : str
        The norms skipped because the stage budget ran out (empty when none).
    """

    optima: Mapping[str, float] = field(default_factory=dict)
    gaps: Mapping[str, float] = field(default_factory=dict)
    cross: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)
    runs: Mapping[str, RunMargins] = field(default_factory=dict)
    solutions: Mapping[str, FloatArray] = field(default_factory=dict, repr=False)
    seconds: Mapping[str, float] = field(default_factory=dict)
    budget_note: str = ""


def _frozen(mapping: Mapping[str, T]) -> Mapping[str, T]:
    return MappingProxyType(dict(mapping))


def norm_margins(
    inst: NTPInstance,
    svm: SVMResult | None,
    no_svm_reason: str,
    runs: Mapping[str, TrainResult],
    budget: float,
) -> NormMargins:
    """Solve the ``q``-NTP-SVMs within ``budget`` seconds and measure every run against them.

    Parameters
    ----------
    inst : NTPInstance
    svm : SVMResult or None
        The certified ``l2`` NTP-SVM of the analysis; ``None`` when there is none, and then no
        norm is solved (``no_svm_reason`` says why, e.g. not separable).
    no_svm_reason : str
    runs : mapping of str to TrainResult
        The optimizer runs; their last iterates ``W`` are measured.
    budget : float
        Seconds for all the solves together (each gets what the previous ones left);
        ``<= 0``: no limit. Nothing is solved or measured when the one-time set-up of the
        projection onto ``F^perp`` is estimated (:func:`ntpprops._limits.projection_cost`
        at :data:`PROJECTION_FLOPS_PER_SECOND`) to take longer than the budget.

    Returns
    -------
    NormMargins
    """
    if svm is None:
        return not_measured(inst, runs, f"no max-margin problem: {no_svm_reason}")
    cost = projection_cost(inst)
    setup = cost.setup_flops / PROJECTION_FLOPS_PER_SECOND
    if budget > 0 and setup > max(budget, PROJECTION_FREE_SECONDS):
        why = (
            f"not measured: the projection onto F-perp that every margin needs "
            f"(n_F = {cost.n_generators} generators) would take ~{setup:.0f} s to set up, over "
            f"the {budget:g} s stage budget (--stage-budget, --time-budget)"
        )
        return not_measured(inst, runs, why, budget_note=why)
    solutions: dict[str, FloatArray] = {"l2": svm.W}
    optima: dict[str, float] = {"l2": 1.0 / svm.margin}
    gaps: dict[str, float] = {"l2": 0.0}
    skipped: dict[str, str] = {}
    seconds: dict[str, float] = {}
    out_of_time: list[str] = []
    start = time.perf_counter()
    for q in SOLVE_ORDER:
        left = None if budget <= 0 else budget - (time.perf_counter() - start)
        if left is not None and left <= 0:
            skipped[q] = (
                f"not solved: the {budget:g} s stage budget (--stage-budget, --time-budget) "
                "was spent"
            )
            out_of_time.append(q)
            continue
        began = time.perf_counter()
        try:
            solved = solve_norm_svm(inst, q, max_seconds=left)
        except (SolverError, InvalidInstanceError) as exc:
            skipped[q] = f"not solved: {exc}"
            if "max_seconds" in str(exc):
                out_of_time.append(q)
        else:
            solutions[q] = solved.W
            optima[q] = solved.certificate.upper
            gaps[q] = solved.certificate.gap
        seconds[q] = time.perf_counter() - began
    order: list[str] = [q for q in NORMS if q in optima]
    optima = {q: optima[q] for q in order}
    cross = {
        q: _frozen({q2: margin_fraction(inst, solutions[q2], q, optimum=optima[q]) for q2 in order})
        for q in order
    }
    note = ""
    if out_of_time:
        note = (
            f"{', '.join(out_of_time)} not solved within the {budget:g} s stage budget "
            "(--stage-budget)"
        )
    return NormMargins(
        optima=_frozen(optima),
        gaps=_frozen({q: gaps[q] for q in order}),
        cross=_frozen(cross),
        skipped=_frozen({q: skipped[q] for q in NORMS if q in skipped}),
        runs=_frozen({name: measure_run(inst, run, optima, cross) for name, run in runs.items()}),
        solutions=_frozen({q: solutions[q] for q in order}),
        seconds=_frozen(seconds),
        budget_note=note,
    )


def not_measured(
    inst: NTPInstance, runs: Mapping[str, TrainResult], why: str, budget_note: str = ""
) -> NormMargins:
    """Every norm skipped for the same reason ``why``; each run keeps its (norm-free) Eq. 4
    residual. Also what :func:`ntpprops.cli._analysis.analyse` reports when the stage is off."""
    return NormMargins(
        skipped=_frozen(dict.fromkeys(NORMS, why)),
        runs=_frozen(
            {
                name: RunMargins({}, {}, None, why, eq4_residual(inst, run.W))
                for name, run in runs.items()
            }
        ),
        budget_note=budget_note,
    )


def measure_run(
    inst: NTPInstance,
    run: TrainResult,
    optima: Mapping[str, float],
    cross: Mapping[str, Mapping[str, float]],
) -> RunMargins:
    """``run``'s last iterate in every solved norm, and the norm whose optimum it approaches.

    Parameters
    ----------
    inst : NTPInstance
    run : TrainResult
        Its ``W`` (shape (V, d)) is measured.
    optima, cross : mappings
        As :attr:`NormMargins.optima` and :attr:`NormMargins.cross` (the same norms).

    Returns
    -------
    RunMargins
    """
    W = np.asarray(run.W)
    residual = eq4_residual(inst, W)
    fractions = {q: margin_fraction(inst, W, q, optimum=opt) for q, opt in optima.items()}
    last = MarginTrajectory(
        method=run.method,
        steps=np.asarray(run.steps[-1:], dtype=np.int64),
        fractions=MappingProxyType({q: np.array([f]) for q, f in fractions.items()}),
        optima=MappingProxyType(dict(optima)),
        eq4_residual=np.array([residual]),
        cross=MappingProxyType(dict(cross)),
        W=W,
    )
    try:
        approached, leads = last.approached()
    except ValueError as exc:  # fewer than two norms, or W_K has no direction in F-perp
        return RunMargins(fractions, {}, None, f"cannot tell norms apart: {exc}", residual)
    if approached is None:
        reason = (
            "no norm's lead is positive: in every solved norm some other norm's optimal "
            "solution has a larger margin fraction than the last iterate"
        )
    else:
        rival = max(v for q2, v in cross[approached].items() if q2 != approached)
        reason = (
            f"its {approached} margin fraction {fractions[approached]:.4g} exceeds the best "
            f"{approached} margin fraction of another norm's optimum ({rival:.4g}) by "
            f"{leads[approached]:.3g}, the largest lead"
        )
    finite = {q: v for q, v in leads.items() if math.isfinite(v)}
    return RunMargins(fractions, finite, approached, reason, residual)
