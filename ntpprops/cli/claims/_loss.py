"""Claims about the loss and its finite limit ``W*``: Proposition 1, Lemma 4, the genie bound
(Eq. 9) and full supports."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ntpprops._loss import ce_f_loss, excess_loss, logits
from ntpprops._subspace import project_f_perp
from ntpprops.cli._analysis import PLATEAU_RATIO, Analysis
from ntpprops.cli._format import pair, short
from ntpprops.cli.claims._base import Facts, Finding
from ntpprops.cli.claims._numerics import rel
from ntpprops.cli.claims._requirements import failing_conditions
from ntpprops.cli.claims._tolerances import SOLVE_RTOL

__all__ = ["check_fullsupport", "check_genie", "check_lemma4", "check_prop1"]

FORWARD = (
    "Proposition 1: compatible and separable, so CE(W) > H for every finite W while "
    "CE(W^p + g W^d) -> H as g -> infinity"
)
CONVERSE = (
    "Proposition 1 (converse): not both compatible and separable, so inf CE > H: the "
    "excess loss of GD levels off at a positive value"
)

#: Points ``g`` of the ray ``W* + g W^d`` of Proposition 1.
GAMMAS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)

#: Radii ``R`` at which the genie bound is checked (in logs, so large ``R`` cannot overflow).
GENIE_RADII = (0.0, 1.0, 4.0, 16.0, 64.0)


@dataclass(frozen=True)
class Prop1Ray(Facts):
    gamma: list[float]
    excess_along_ray: list[float]
    excess_final_iterates: list[float]


@dataclass(frozen=True)
class Prop1Plateau(Facts):
    excess_at_step: dict[str, float]
    ratio_last_decade: float
    plateau_threshold: float


def check_prop1(a: Analysis) -> Finding[Prop1Ray | Prop1Plateau]:
    inst = a.inst
    if a.compat.compatible and a.separable:
        assert a.w_star is not None and a.sep is not None and a.sep.witness is not None
        W, D = a.w_star, a.sep.witness
        excess = [excess_loss(inst, W + g * D) for g in GAMMAS]
        finite = [float(r.excess_loss[-1]) for r in a.runs.values()]
        decreasing = all(e1 < e0 for e0, e1 in pairwise(excess) if e0 > 0)
        # Eq. 7: the out-of-support mass of W^d alone is below (V - S_j) e^{-g} per context,
        # and -log(1 - q) <= q / (1 - q); W* only shifts margins by its in-F logits.
        ok = decreasing and all(e > 0 for e in excess + finite) and excess[-1] < excess[0]
        return Finding(Prop1Ray(list(GAMMAS), excess, finite), ok, statement=FORWARD)
    (k_prev, before), (k_last, final) = a.plateau[-2:]  # required: PLATEAU
    ratio = final / before if before > 0 else 0.0
    ok = final > 0 and ratio >= PLATEAU_RATIO
    reason = failing_conditions(a)
    if not ok:
        reason += (
            f"; GD's excess still fell {1 / max(ratio, 1e-300):.3g}x from k={k_prev} to {k_last}"
        )
    facts = Prop1Plateau({str(k): e for k, e in a.plateau}, ratio, PLATEAU_RATIO)
    return Finding(facts, ok, reason, CONVERSE)


def headline_prop1(m: Prop1Ray | Prop1Plateau) -> str:
    if isinstance(m, Prop1Ray):
        return (
            f"CE - H along W* + g W^d: {short(m.excess_along_ray[0])} (g=0) -> "
            f"{short(m.excess_along_ray[-1])} (g={short(m.gamma[-1])}); all > 0"
        )
    return (
        f"GD excess levels off: {short(list(m.excess_at_step.values()))} at k = "
        f"{', '.join(m.excess_at_step)}"
    )


@dataclass(frozen=True)
class Lemma4Facts(Facts):
    ce_f_at_w_star_minus_entropy: float
    tolerance: float
    min_rise_along_F: float | None
    relative_change_other_pi: float


def check_lemma4(a: Analysis) -> Finding[Lemma4Facts]:
    inst, W = a.inst, a.w_star
    assert W is not None  # required: COMPATIBLE
    scores = logits(inst, W)
    gap = abs(ce_f_loss(inst, W) - inst.entropy)
    # CE_F sums O(max |logit|) terms: its rounding error is eps times that scale.
    tol = SOLVE_RTOL * (1.0 + float(np.abs(scores).max()) + inst.entropy)
    base = ce_f_loss(inst, W)
    # A second-order rise: CE_F is strictly convex on F around its minimiser.
    rises = [
        ce_f_loss(inst, W + s * 1e-2 * D) - base for D in a.controls.f_directions for s in (1, -1)
    ]
    other = a.controls.w_star_other_weights
    moved = rel(other, W) if other is not None else float("inf")
    ok = gap <= tol and all(r > -tol for r in rises) and moved <= SOLVE_RTOL * 1e3
    facts = Lemma4Facts(gap, tol, min(rises) if rises else None, moved)
    return Finding(facts, ok)


def headline_lemma4(m: Lemma4Facts) -> str:
    return (
        f"|CE_F(W*) - H| {short(m.ce_f_at_w_star_minus_entropy)}, min rise "
        f"{short(m.min_rise_along_F)}, W* change with pi {short(m.relative_change_other_pi)}"
    )


@dataclass(frozen=True)
class GenieFacts(Facts):
    log_C: float
    R: list[float]
    excess: list[float]
    log_bound_minus_log_excess: list[float]


def check_genie(a: Analysis) -> Finding[GenieFacts]:
    inst, w_star, w_mm = a.inst, a.w_star, a.w_mm
    assert w_star is not None and w_mm is not None  # required: COMPATIBLE, W_MM
    M = np.sqrt(2.0) * float(np.linalg.norm(inst.embeddings, axis=1).max())
    log_c = float(np.log(inst.vocab_size) + float(np.linalg.norm(w_star)) * M)
    excess = [excess_loss(inst, w_star + R * w_mm) for R in GENIE_RADII]
    # Compared in logs: C can overflow a float. 1e-12 absorbs the rounding of the excess.
    slack = [
        float(log_c - R - np.log(e)) if e > 0 else float("inf")
        for R, e in zip(GENIE_RADII, excess, strict=True)
    ]
    ok = all(s >= -1e-12 for s in slack)
    return Finding(GenieFacts(log_c, list(GENIE_RADII), excess, slack), ok)


def headline_genie(m: GenieFacts) -> str:
    return (
        f"min log(bound/excess) {short(min(m.log_bound_minus_log_excess))} "
        f"over R <= {short(m.R[-1])}"
    )


@dataclass(frozen=True)
class FullSupportFacts(Facts):
    perp_change: float
    tolerance: float
    relative_distance_to_limit: dict[str, float]


def check_fullsupport(a: Analysis) -> Finding[FullSupportFacts]:
    inst, run, w_star = a.inst, a.runs["gd"], a.w_star
    assert w_star is not None  # required: COMPATIBLE
    limit = w_star + project_f_perp(inst, run.W0)
    moved_perp = float(np.linalg.norm(project_f_perp(inst, run.W - run.W0)))
    start, end = rel(run.W0, limit), rel(run.W, limit)
    # Each step adds an F-vector; projecting it back off leaves rounding of size eps*||W||
    # per step at most.
    tol = float(np.finfo(float).eps * run.steps[-1] * max(1.0, float(np.linalg.norm(run.W))))
    ok = moved_perp <= tol and end < start
    facts = FullSupportFacts(moved_perp, tol, {"start": start, "end": end})
    return Finding(facts, ok)


def headline_fullsupport(m: FullSupportFacts) -> str:
    return (
        f"P_perp change {short(m.perp_change)}; distance to limit "
        f"{pair(m.relative_distance_to_limit)}"
    )
