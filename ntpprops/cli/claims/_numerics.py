"""Measurements shared by several checks: margins, distances, the proven-bound gate, trends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ntpprops._bounds import alignment_lower_bound, f_distance_bound
from ntpprops._instance import NTPInstance
from ntpprops._loss import safe_step_size
from ntpprops._optim import TrainResult
from ntpprops._separation import support_spread
from ntpprops._subspace import project_f
from ntpprops.cli.claims._base import Facts
from ntpprops.cli.claims._tolerances import EPS, QP_RTOL, SOLVE_RTOL

__all__ = [
    "BoundFacts",
    "Gate",
    "cos_and_dist",
    "decade_index",
    "descent_lemma",
    "gd_distances",
    "out_margins",
    "proven_gate",
    "rel",
    "support_spread",
    "trend_notes",
]

FloatArray = NDArray[np.float64]
Curvature = tuple[float, float]


def rel(a: FloatArray, b: FloatArray) -> float:
    """``||a - b|| / max(||b||, 1)``."""
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1.0))


def decade_index(steps: NDArray[np.int64]) -> int:
    """Index of the last recorded step at or before a tenth of the final step."""
    return int(np.searchsorted(steps, steps[-1] // 10, side="right") - 1)


def out_margins(inst: NTPInstance, scores: FloatArray) -> FloatArray:
    """``min_{z in S_j} l_jz - l_jv`` for every out-of-support ``(j, v)``, flattened."""
    inside_min = np.where(inst.supports, scores, np.inf).min(axis=1)
    return np.asarray((inside_min[:, None] - scores)[~inst.supports], dtype=np.float64)


def cos_and_dist(
    inst: NTPInstance, w_star: FloatArray, w_mm: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``cos(W, W^mm)`` and ``||P_F W - W*||`` of each ``W`` in ``weights`` (k, V, d)."""
    flat = weights.reshape(len(weights), -1)
    direction = w_mm.reshape(-1)
    cos = flat @ direction / (np.linalg.norm(flat, axis=1) * np.linalg.norm(direction))
    dist = np.array([np.linalg.norm(project_f(inst, W) - w_star) for W in weights])
    return cos, dist


@dataclass(frozen=True)
class BoundFacts(Facts):
    """The proven bounds at the reported points, the verdict and the worst slack."""

    all_within_proven_bounds: bool
    min_cos_minus_lower_bound: float
    cos_lower_bound: list[float] | dict[str, float]
    one_minus_cos_upper_bound: list[float] | dict[str, float]
    dist_upper_bound: list[float] | dict[str, float]


@dataclass(frozen=True)
class Gate:
    """Measured ``cos`` and ``dist`` against their proven bounds at each point."""

    cos: FloatArray
    cos_bound: FloatArray
    cos_tol: FloatArray
    dist: FloatArray
    dist_bound: FloatArray
    dist_tol: FloatArray

    @property
    def cos_ok(self) -> NDArray[np.bool_]:
        return np.asarray(self.cos >= self.cos_bound - self.cos_tol)

    @property
    def dist_ok(self) -> NDArray[np.bool_]:
        return np.asarray(self.dist <= self.dist_bound + self.dist_tol)

    @property
    def ok(self) -> bool:
        return bool(np.all(self.cos_ok) and np.all(self.dist_ok))

    def facts(self, picks: Mapping[str, int] | None = None) -> BoundFacts:
        """The bounds at every point, or only at ``picks`` (label -> index); always the
        verdict and the worst slack over all points."""
        slack = np.where(np.isfinite(self.cos_bound), self.cos - self.cos_bound, np.inf)

        def at(values: FloatArray) -> list[float] | dict[str, float]:
            if picks is None:
                return [float(v) for v in values]
            return {label: float(values[i]) for label, i in picks.items()}

        return BoundFacts(
            self.ok,
            float(slack.min()),
            at(self.cos_bound),
            at(1.0 - self.cos_bound),
            at(self.dist_bound),
        )

    def notes(self) -> list[str]:
        notes = []
        bad = np.flatnonzero(~self.cos_ok)
        if bad.size:
            i = int(bad[0])
            notes.append(
                f"cos(W, W^mm) = {self.cos[i]:.6g} is below its proven lower bound "
                f"{self.cos_bound[i]:.6g} (point {i}): W^mm, W*, the excess or W is wrong"
            )
        bad = np.flatnonzero(~self.dist_ok)
        if bad.size:
            i = int(bad[0])
            notes.append(
                f"||P_F W - W*|| = {self.dist[i]:.3g} exceeds its proven bound "
                f"{self.dist_bound[i]:.3g} (point {i}): W*, the excess or W is wrong"
            )
        if not np.any(np.isfinite(self.cos_bound)):
            notes.append(
                "the proven cos lower bound is vacuous at every point (excess too large for "
                "Pinsker's bound); it tends to 1 as CE -> H"
            )
        return notes


def proven_gate(
    inst: NTPInstance,
    w_star: FloatArray,
    w_mm: FloatArray,
    curvature: Curvature,
    *,
    excess: FloatArray,
    norms: FloatArray,
    cos: FloatArray,
    dist: FloatArray,
) -> Gate:
    """Compare measured ``cos(W, W^mm)`` and ``||P_F W - W*||`` with their proven bounds.

    ``||P_F W - W*|| <= f_distance_bound(excess)`` and ``cos(W, W^mm) >=
    alignment_lower_bound(excess, delta, ||W||)`` hold for *every* ``W`` (ntpprops._bounds),
    so they hold at each B of the path and each GD checkpoint whatever the trend. ``delta``
    is the smaller of the proven distance bound and the measured distance plus its solve
    error (both are upper bounds on the true distance when the implementation is right).
    """
    w_star_norm = float(np.linalg.norm(w_star))
    w_mm_norm = float(np.linalg.norm(w_mm))
    # ||P_F W - W*|| carries the W* solve error and the projection's, relative to ||W||.
    dist_tol = SOLVE_RTOL * (w_star_norm + np.asarray(norms))
    dist_bound = np.array([f_distance_bound(inst, float(e), curvature) for e in excess])
    delta = np.minimum(dist_bound, np.asarray(dist) + dist_tol)
    cos_bound = np.array(
        [
            alignment_lower_bound(inst, w_star, w_mm_norm, float(e), float(dl), float(n))
            for e, dl, n in zip(excess, delta, norms, strict=True)
        ]
    )
    # W^mm is accurate to QP_RTOL relatively: cos moves by <= 2 QP_RTOL and the bound,
    # proportional to ||W^mm||, by QP_RTOL |bound|; 1e-12 covers the cosine's rounding.
    finite = np.where(np.isfinite(cos_bound), np.abs(cos_bound), 0.0)
    cos_tol = QP_RTOL * (2.0 + finite) + 1e-12
    return Gate(
        np.asarray(cos, dtype=np.float64),
        cos_bound,
        cos_tol,
        np.asarray(dist, dtype=np.float64),
        dist_bound,
        dist_tol,
    )


def trend_notes(
    series: Mapping[str, FloatArray],
    axis: str,
    where: NDArray[np.float64] | NDArray[np.int64],
    floor: float,
    *,
    expect: str = "falls",
) -> list[str]:
    """Say where a reported trend is not monotone (not a theorem: the claims state limits).

    ``expect`` is the direction of the limit (``"falls"`` or ``"rises"``); moves the other
    way between two values both below ``floor`` (rounding level) are not mentioned.
    """
    notes = []
    sign = 1.0 if expect == "falls" else -1.0
    for label, values in series.items():
        rising = sign * np.diff(values) > 0
        noise = np.maximum(np.abs(values[:-1]), np.abs(values[1:])) <= floor
        ups = np.flatnonzero(rising & ~noise)
        if ups.size:
            i = int(ups[0])
            notes.append(
                f"{label} {'rises' if sign > 0 else 'falls'} from {values[i]:.3g} to "
                f"{values[i + 1]:.3g} between {axis} = {where[i]:.4g} and {where[i + 1]:.4g}: "
                "the theorem states a limit, not monotonicity (reported, not gating)"
            )
    return notes


def gd_distances(
    inst: NTPInstance, run: TrainResult, curvature: Curvature
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """``||P_F W_k - W*||`` at each checkpoint of ``run``, and where it was measured.

    On large instances training thins (``nan``) or skips (``None``) that metric when the
    projection costs more than the steps between checkpoints (``run.metric_notes`` says
    why). There the proven bound ``f_distance_bound(CE - H)`` stands in: it is what the
    checks use when nothing better is known, so an unmeasured point is checked against
    nothing but the theorem, never counted as a measurement.
    """
    excess = np.asarray(run.excess_loss)
    raw = run.dist_f_wstar
    dist = np.full(excess.shape, np.nan) if raw is None else np.array(raw, dtype=np.float64)
    measured = np.isfinite(dist)
    for i in np.flatnonzero(~measured):
        dist[i] = f_distance_bound(inst, float(excess[i]), curvature)
    return dist, measured


def descent_lemma(inst: NTPInstance, run: TrainResult) -> tuple[float, bool, bool]:
    """``(largest loss rise, loss monotone, step within the analysed 1/(2L))`` of a GD run.

    The descent lemma makes CE non-increasing for eta <= 1/L; rounding may add eps*CE.
    """
    loss = np.asarray(run.loss)
    rise = float(np.max(np.diff(loss), initial=0.0))
    monotone = rise <= 4 * EPS * float(np.max(loss))
    return rise, monotone, run.lr <= safe_step_size(inst) * (1 + 1e-12)
