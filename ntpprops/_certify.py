"""Certifying the asymptotic claims of Theorem 2 in bounded time.

Theorem 2 says ``W_k ~ W* + ||P_perp W_k|| W^mm / ||W^mm||``, but the direction of ``W_k``
converges only at rate ``1/log k``: on the App. A.2 instance ``1 - cos(W_k - W*, W^mm)`` is
still ``1e-2`` after ``10^7`` steps. Waiting is hopeless; these functions measure quantities
that the same asymptotics predict converge fast, and say how (docs/certification.md):

- **increment direction.** As in one-hot logistic regression (Soudry et al., JMLR 2018,
  Thm. 3), GD iterates behave as ``W_k = W* + W^mm log k + rho_k`` with a bounded residual
  ``rho_k`` that settles. The increment over a factor 2 of time,
  ``W_k - W_{k/2} = W^mm log 2 + (rho_k - rho_{k/2})``, sees only the *variation* of the
  residual, not the residual itself divided by ``log k``: its direction converges to
  ``W^mm`` at the rate at which ``rho_k`` settles, and ``(W_k - W_{k/2}) / log 2`` tends to
  ``W^mm`` itself, scale included. This is faster on the App. A.2 instance, not always:
  on ``NTPInstance([[1]], [[1, 0, 0]])`` (seed 3) the increment gap at ``k = 2^16`` is
  ``8.5e-4`` against ``4.6e-5`` for ``W_k - W*`` (a regression example of the property suite,
  which asserts only proven bounds).
- **rate-aware tolerances.** The angle between ``W_k - W*`` and ``W^mm`` is
  ``~ ||rho_perp|| / (||W^mm|| log k)``: the report carries ``angle * log k``, which must stay
  bounded (it is not monotone in general: the property suite saw it rise from 0.93 to 1.02
  on small instances), rather than a fixed tolerance on
  the angle. In ``F``, ``P_F W_k - W*`` is driven by the out-of-support mass, which decays
  like the excess loss, ``~ 1/(eta k)``: ``dist * k`` settles to a constant.
- **larger safe steps.** ``L = lambda_max(H^T diag(pi) H) / 2`` bounds the Hessian, so the
  descent lemma ``CE(W - eta g) <= CE(W) - eta (1 - eta L / 2) ||g||^2`` makes every step with
  ``eta < 2/L`` decrease the loss: the default ``eta = 1.9 / L`` (7.6 times the analysed
  ``1/(2L)``) is still a monotone descent method, and the run takes 7.6 times fewer steps.
  Larger steps are accepted and reported as "observed only".
- **normalised GD and Adam** are measured with the same quantities (:func:`measure_bias`);
  nothing is asserted about them: that Adam's limit is ``W^mm`` is an open question.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ntpprops._errors import NotCompatibleError
from ntpprops._instance import NTPInstance
from ntpprops._kernels import Backend, FusedGD
from ntpprops._limits import Limits, cosine, limit_metrics, limits_for
from ntpprops._loss import excess_loss, smoothness_bound
from ntpprops._optim import (
    OPTIMIZERS,
    PAPER_ADAPTIVE_LR,
    Optimizer,
    _initial_weights,
    run_fused_gd,
    run_optimizer,
)

__all__ = [
    "DESCENT_STEP_FACTOR",
    "BiasReport",
    "certify_gd_bias",
    "measure_bias",
    "step_rule",
]

FloatArray = NDArray[np.float64]

#: Default certification step ``eta = DESCENT_STEP_FACTOR / L``: below the descent-lemma 2/L.
DESCENT_STEP_FACTOR = 1.9

#: First checkpoint after 0; the grid then doubles every two checkpoints (ratio sqrt 2).
FIRST_CHECKPOINT = 1024

#: Relative slack on "the excess loss did not increase" for rounding in ``excess_loss``.
MONOTONE_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class BiasReport:
    """Where an optimizer stands against the limits ``W*`` and ``W^mm`` of Theorem 2.

    Every array has one entry per checkpoint ``steps[i]``; ``nan`` where undefined. Truthy
    when both tolerances are met at the last checkpoint and the loss was monotone.

    Attributes
    ----------
    method : str
    lr : float
    step_rule : str
        Why the step is (or is not) known to give a monotone loss; see :func:`step_rule`.
    steps : ndarray of int, shape (n,)
    excess_loss : ndarray, shape (n,)
        ``CE(W_k) - H``.
    cos_gap, corrected_cos_gap : ndarray, shape (n,)
        ``1 - cos(W_k, W^mm)`` and ``1 - cos(W_k - W*, W^mm)``.
    increment_cos_gap : ndarray, shape (n,)
        ``1 - cos(W_k - W_{k'}, W^mm)`` with ``k'`` the checkpoint nearest ``k / 2``.
    increment_slope_error : ndarray, shape (n,)
        ``||(W_k - W_{k'}) / log(k / k') - W^mm|| / ||W^mm||``.
    dist_f_wstar : ndarray, shape (n,)
        ``||P_F W_k - W*||``.
    angle_log_k : ndarray, shape (n,)
        ``angle(W_k - W*, W^mm) * log k``: bounded when the angle decays like ``1/log k``.
    dist_times_k : ndarray, shape (n,)
        ``||P_F W_k - W*|| * k``: settles when the distance decays like ``1/k``.
    monotone : bool
        The excess loss never increased between checkpoints (up to ``MONOTONE_RTOL``).
    alignment_tol, dist_tol : float
    alignment_within_tol : bool
        The increment gap is ``<= alignment_tol`` at the last two increments.
    dist_within_tol : bool
        ``dist_f_wstar <= dist_tol`` at the last checkpoint.
    wall_time : float
        Seconds, including the limits' computation.
    """

    method: str
    lr: float
    step_rule: str
    steps: NDArray[np.int64]
    excess_loss: FloatArray
    cos_gap: FloatArray
    corrected_cos_gap: FloatArray
    increment_cos_gap: FloatArray
    increment_slope_error: FloatArray
    dist_f_wstar: FloatArray
    angle_log_k: FloatArray
    dist_times_k: FloatArray
    monotone: bool
    alignment_tol: float
    dist_tol: float
    alignment_within_tol: bool
    dist_within_tol: bool
    wall_time: float
    W: FloatArray = field(repr=False)

    def __bool__(self) -> bool:
        return self.alignment_within_tol and self.dist_within_tol and self.monotone

    def final(self) -> dict[str, Any]:
        """The last checkpoint's numbers as plain Python values (for reports and JSON)."""
        return {
            "method": self.method,
            "lr": self.lr,
            "step_rule": self.step_rule,
            "steps": int(self.steps[-1]),
            "excess_loss": float(self.excess_loss[-1]),
            "cos_gap": float(self.cos_gap[-1]),
            "corrected_cos_gap": float(self.corrected_cos_gap[-1]),
            "increment_cos_gap": float(self.increment_cos_gap[-1]),
            "increment_slope_error": float(self.increment_slope_error[-1]),
            "dist_f_wstar": float(self.dist_f_wstar[-1]),
            "angle_log_k": float(self.angle_log_k[-1]),
            "dist_times_k": float(self.dist_times_k[-1]),
            "monotone": self.monotone,
            "alignment_within_tol": self.alignment_within_tol,
            "dist_within_tol": self.dist_within_tol,
            "wall_time": self.wall_time,
        }


def step_rule(inst: NTPInstance, lr: float) -> str:
    """Which guarantee covers GD with step ``lr`` on ``inst`` (``L`` of ``smoothness_bound``).

    ``"analysed"`` (``eta <= 1/(2L)``, Lemma 2 / Theorem 2), ``"descent lemma"``
    (``eta < 2/L``: every step decreases ``CE``), or ``"observed only"`` (no guarantee; the
    report's ``monotone`` says what happened at the checkpoints).
    """
    smooth = smoothness_bound(inst)
    if smooth == 0.0 or lr * 2.0 * smooth <= 1.0:
        return "analysed"
    if lr * smooth < 2.0:
        return "descent lemma"
    return "observed only"


def _resolve_limits(
    inst: NTPInstance, w_mm: ArrayLike | None, limits: Limits | None
) -> tuple[Limits, FloatArray, FloatArray]:
    """``limits`` (default ``Limits.of(inst, w_mm=w_mm)``), ``W*`` and ``W^mm``, or raise.

    ``W*`` is required first, so an incompatible instance never waits for the SVM solver.
    """
    if limits is None:
        limits = Limits.of(inst, w_mm=w_mm)
    elif w_mm is not None:
        raise ValueError("pass W^mm either as w_mm= or inside limits=, not both")
    limits = limits_for(inst, limits)
    try:
        star = limits.require_w_star()
    except NotCompatibleError as exc:
        raise NotCompatibleError(
            f"Theorem 2 needs W*, but {exc}", certificate=exc.certificate
        ) from exc
    return limits, star, limits.require_w_mm()


class _Measures(NamedTuple):
    """The report's measures at one checkpoint (fields of :class:`BiasReport`)."""

    excess_loss: float
    cos_gap: float
    corrected_cos_gap: float
    increment_cos_gap: float
    increment_slope_error: float
    dist_f_wstar: float
    angle_log_k: float
    dist_times_k: float


class _Tracker:
    """Computes the report's measures at each checkpoint (keeps the iterates it needs)."""

    def __init__(self, limits: Limits, w_star: FloatArray, w_mm: FloatArray) -> None:
        self.limits, self.inst, self.w_star, self.w_mm = limits, limits.inst, w_star, w_mm
        self.mm_norm = float(np.linalg.norm(w_mm))
        self.steps: list[int] = []
        self.iterates: dict[int, FloatArray] = {}
        self.rows: list[_Measures] = []

    def add(self, k: int, W: FloatArray) -> None:
        against = limit_metrics(self.limits, W)
        c_corr, dist = against.cos_mm_corrected, against.dist_f_wstar
        angle = math.acos(min(1.0, max(-1.0, c_corr))) if math.isfinite(c_corr) else math.nan
        inc_gap = slope_err = math.nan
        partner = self._partner(k)
        if partner is not None:
            increment = W - self.iterates[partner]
            inc_gap = 1.0 - cosine(increment, self.w_mm)
            slope = increment / math.log(k / partner)
            slope_err = float(np.linalg.norm(slope - self.w_mm)) / self.mm_norm
        self.rows.append(
            _Measures(
                excess_loss=excess_loss(self.inst, W),
                cos_gap=1.0 - against.cos_mm,
                corrected_cos_gap=1.0 - c_corr,
                increment_cos_gap=inc_gap,
                increment_slope_error=slope_err,
                dist_f_wstar=dist,
                angle_log_k=angle * math.log(k) if k > 1 else math.nan,
                dist_times_k=dist * k,
            )
        )
        self.steps.append(k)
        self.iterates[k] = W
        self._forget(k)

    def _partner(self, k: int) -> int | None:
        """The earlier checkpoint nearest ``k / 2`` (ratio within [1.5, 3]), if any."""
        earlier = [j for j in self.iterates if j > 0 and 1.5 <= k / j <= 3.0]
        if not earlier:
            return None
        return min(earlier, key=lambda j: abs(math.log(k / (2.0 * j))))

    def _forget(self, k: int) -> None:
        for j in [j for j in self.iterates if j < k / 3.0]:
            del self.iterates[j]

    def column(self, name: str) -> FloatArray:
        """The measure ``name`` (a field of ``_Measures``) over the checkpoints so far."""
        return np.array([getattr(row, name) for row in self.rows], dtype=np.float64)


def _report(
    tracker: _Tracker,
    method: str,
    lr: float,
    rule: str,
    alignment_tol: float,
    dist_tol: float,
    W: FloatArray,
    started: float,
) -> BiasReport:
    col = {name: tracker.column(name) for name in _Measures._fields}
    inc_gap, dist = col["increment_cos_gap"], col["dist_f_wstar"]
    return BiasReport(
        method=method,
        lr=lr,
        step_rule=rule,
        steps=np.array(tracker.steps, dtype=np.int64),
        **col,
        monotone=_monotone(col["excess_loss"]),
        alignment_tol=alignment_tol,
        dist_tol=dist_tol,
        alignment_within_tol=_aligned(inc_gap, alignment_tol),
        dist_within_tol=bool(dist.size and dist[-1] <= dist_tol),
        wall_time=time.perf_counter() - started,
        W=W,
    )


def _monotone(excess: FloatArray) -> bool:
    return bool(np.all(excess[1:] <= excess[:-1] * (1.0 + MONOTONE_RTOL)))


def _aligned(inc_gap: FloatArray, tol: float) -> bool:
    # Two consecutive increments within tolerance: one lucky increment does not certify.
    last = inc_gap[-2:]
    return bool(last.size == 2 and np.all(last <= tol))


def checkpoint_grid(stop: int, first: int = FIRST_CHECKPOINT) -> NDArray[np.int64]:
    """``0``, then ``first * 2^(i/2)`` rounded, up to and including ``stop``."""
    if stop <= 0:
        return np.zeros(1, dtype=np.int64)
    first = min(first, stop)
    count = int(np.floor(2.0 * np.log2(stop / first))) + 1
    grid = np.rint(first * 2.0 ** (np.arange(count) / 2.0)).astype(np.int64)
    return np.unique(np.concatenate([[0], grid, [stop]]))


def _check_tol(name: str, value: float) -> float:
    real = isinstance(value, int | float) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def certify_gd_bias(
    inst: NTPInstance,
    *,
    lr: float | None = None,
    alignment_tol: float = 1e-3,
    dist_tol: float = 1e-2,
    max_steps: int = 10_000_000,
    time_budget: float = 30.0,
    init: str | ArrayLike | None = "lecun",
    seed: int | None = 0,
    w_mm: ArrayLike | None = None,
    limits: Limits | None = None,
    backend: Backend = "auto",
) -> BiasReport:
    """Run GD until Theorem 2's two limits are certified to tolerance, or the budget ends.

    GD runs in the fused loop over the checkpoint grid ``0, 1024, 1024 sqrt 2, ...`` and stops
    at the first checkpoint where (i) the direction of the last two increments
    ``W_k - W_{k/2}`` is within ``alignment_tol`` of ``W^mm`` (``1 - cos``) and (ii)
    ``||P_F W_k - W*|| <= dist_tol``; or when ``max_steps`` or ``time_budget`` is reached
    (then the report is falsy and says how far it got).

    Why these measures converge fast, and why the default step is safe: see the module
    docstring and docs/certification.md.

    Parameters
    ----------
    inst : NTPInstance
        Must be compatible and separable (else ``W*`` or ``W^mm`` does not exist).
    lr : float, optional
        GD step; default ``1.9 / L`` (``L`` from :func:`ntpprops.smoothness_bound`), below the
        descent-lemma bound ``2/L``.
    alignment_tol, dist_tol : float
        Targets for the increment direction and for ``||P_F W_k - W*||``.
    max_steps : int
    time_budget : float
        Seconds of wall time (checked at checkpoints, so it may overrun by one chunk).
    init, seed
        Initialisation, as in :func:`ntpprops.train` (default LeCun normal, seed 0).
    w_mm : array_like, shape (V, d), optional
        ``W^mm`` if already known (checked against Definition 3 as in
        :meth:`ntpprops.Limits.of`); default :func:`ntpprops.ntp_svm`.
    limits : Limits, optional
        The limits of ``inst`` if already built (then ``w_mm`` must be ``None``): nothing it
        holds is solved again, and what it solves here stays cached in it.
    backend : {"auto", "numpy", "numba"}

    Returns
    -------
    BiasReport
        Truthy when both limits are certified and the loss decreased at every checkpoint.

    Raises
    ------
    NotCompatibleError, NotSeparableError
        When ``W*`` or ``W^mm`` does not exist (``W*`` is checked first).
    SolverError
        When ``W^mm`` could not be computed.
    InvalidInstanceError
        When the given ``w_mm`` is malformed, zero or violates Definition 3.
    """
    started = time.perf_counter()
    alignment_tol = _check_tol("alignment_tol", alignment_tol)
    dist_tol = _check_tol("dist_tol", dist_tol)
    _check_tol("time_budget", time_budget)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
    chosen, star, mm = _resolve_limits(inst, w_mm, limits)
    smooth = smoothness_bound(inst)
    eta = DESCENT_STEP_FACTOR / smooth if lr is None else _check_tol("lr", lr)
    W0 = _initial_weights(inst, init, seed)
    loop = FusedGD(
        inst.embeddings,
        inst.probs,
        inst.context_weights,
        eta,
        W0,
        backend=backend,
        expected_steps=max_steps,
    )
    tracker = _Tracker(chosen, star, mm)
    for k in checkpoint_grid(max_steps):
        loop.advance(int(k) - loop.steps_done)
        tracker.add(int(k), loop.weights())
        inc_gap = tracker.column("increment_cos_gap")
        if _aligned(inc_gap, alignment_tol) and tracker.rows[-1].dist_f_wstar <= dist_tol:
            break
        if time.perf_counter() - started > time_budget:
            break
    return _report(
        tracker, "gd", eta, step_rule(inst, eta), alignment_tol, dist_tol, loop.weights(), started
    )


def measure_bias(
    inst: NTPInstance,
    method: str | Optimizer = "ngd",
    steps: int = 100_000,
    *,
    lr: float | None = None,
    alignment_tol: float = 1e-3,
    dist_tol: float = 1e-2,
    init: str | ArrayLike | None = "lecun",
    seed: int | None = 0,
    w_mm: ArrayLike | None = None,
    limits: Limits | None = None,
) -> BiasReport:
    """The same measures as :func:`certify_gd_bias` for any optimizer, over a fixed run.

    A measurement, not a claim: for NGD and Adam the paper *observes* the same bias on one
    run; for Adam a max-norm limit is plausible (docs/theory.md, open questions). The report's
    ``*_within_tol`` flags just compare the numbers with the tolerances.

    Parameters
    ----------
    inst : NTPInstance
    method : str or Optimizer
        A name of :data:`ntpprops.OPTIMIZERS` or an optimizer object (then ``lr`` is unused).
    steps : int
    lr : float, optional
        Default: 0.01 (the paper's) for ``ngd``, ``adam``, ``sign``; ``1.9 / L`` for ``gd``
        and ``momentum``.
    alignment_tol, dist_tol, init, seed, w_mm, limits
        As in :func:`certify_gd_bias`.

    Returns
    -------
    BiasReport
    """
    started = time.perf_counter()
    alignment_tol = _check_tol("alignment_tol", alignment_tol)
    dist_tol = _check_tol("dist_tol", dist_tol)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    chosen, star, mm = _resolve_limits(inst, w_mm, limits)
    optimizer = _measured_optimizer(inst, method, lr)
    eta = float(optimizer.hyperparams.get("lr", math.nan))
    W0 = _initial_weights(inst, init, seed)
    grid = checkpoint_grid(steps)
    tracker = _Tracker(chosen, star, mm)
    ticks = iter(grid.tolist())

    def on_checkpoint(W: FloatArray, grad: FloatArray | None, scores: FloatArray | None) -> None:
        tracker.add(next(ticks), W)

    if optimizer.name == "gd" and not isinstance(method, Optimizer):
        W = run_fused_gd(inst, eta, W0, steps, grid, on_checkpoint)
        rule = step_rule(inst, eta)
    else:
        W = run_optimizer(inst, optimizer, W0, steps, grid, on_checkpoint)
        rule = step_rule(inst, eta) if optimizer.name == "gd" else "no guarantee"
    return _report(tracker, optimizer.name, eta, rule, alignment_tol, dist_tol, W, started)


def _measured_optimizer(inst: NTPInstance, method: str | Optimizer, lr: float | None) -> Optimizer:
    if isinstance(method, Optimizer):
        return method
    if method not in OPTIMIZERS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(OPTIMIZERS)}")
    if lr is None:
        lr = (
            DESCENT_STEP_FACTOR / smoothness_bound(inst)
            if method in ("gd", "momentum")
            else PAPER_ADAPTIVE_LR
        )
    return OPTIMIZERS[method](lr)
