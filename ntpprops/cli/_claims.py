"""The claims of THEORY.md, each judged on one analysed instance.

A check returns a :class:`Claim` with a status:

- ``passed`` / ``failed``: a proven statement whose hypotheses hold, checked numerically;
- ``not_applicable``: its hypotheses fail (the reason says which, with the evidence);
- ``observed``: what the paper only observes (NGD, Adam); reported, never gating.

Finite runs cannot show a limit, so the limit claims (Lemma 2, Theorems 1-2) gate on what
holds at every finite ``B`` and every iterate, proven: ``||W_B|| = B`` with the KKT
conditions of the ball, monotone loss under a safe step, GD's excess under its ``O(1/k)``
bound, and the measured ``||W||``, ``cos(W, W^mm)`` and ``||P_F W - W*||`` on the right side
of the bounds of :mod:`ntpprops._bounds`, which follow from the excess loss alone and tend
to the limits. The trends (``1 - cos`` shrinking with
``B`` or ``k``) are reported, not gated: they are not theorems (``cos(W_B, W^mm)`` is not
monotone in ``B`` in general).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ntpprops._bounds import (
    alignment_lower_bound,
    f_curvature,
    f_distance_bound,
    gd_excess_bound,
)
from ntpprops._compat import incompatibility_bound, is_compatible
from ntpprops._instance import NTPInstance
from ntpprops._loss import (
    ce_f_loss,
    ce_grad,
    excess_loss,
    logits,
    safe_step_size,
    smoothness_bound,
    softmax,
)
from ntpprops._regpath import MF_KKT_RTOL as PATH_MF_KKT_RTOL
from ntpprops._regpath import STEP_RTOL as PATH_STEP_RTOL
from ntpprops._separability import separability_certificate_bound
from ntpprops._subspace import f_dimension, project_f, project_f_perp
from ntpprops._svm import ntp_svm
from ntpprops.cli._analysis import PLATEAU_RATIO, Analysis

__all__ = ["CHECKS", "STATUSES", "Claim", "check_all"]

FloatArray = NDArray[np.float64]

STATUSES = ("passed", "failed", "not_applicable", "observed")

#: Relative accuracy expected of Gram-based solves (W*, projections): float64 eps times a
#: condition-number allowance of 1e6 (the generators' Gram of the default instance has
#: cond ~ 1e3; the slack covers nearly dependent generators).
SOLVE_RTOL = 1e-9

#: Relative accuracy of W^mm from an interior-point QP (Clarabel's default gap ~ 1e-8, which
#: moves the solution by about its square root).
QP_RTOL = 1e-4


@dataclass
class Claim:
    """One row of the report."""

    id: str
    statement: str
    status: str
    measured: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def gating(self) -> bool:
        return self.status in ("passed", "failed")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "status": self.status,
            "measured": self.measured,
            "reason": self.reason,
        }


def _verdict(ok: bool) -> str:
    return "passed" if ok else "failed"


def _rel(a: FloatArray, b: FloatArray) -> float:
    """``||a - b|| / max(||b||, 1)``."""
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1.0))


def _cos(a: FloatArray, b: FloatArray) -> float:
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _decade_index(steps: NDArray[np.int64]) -> int:
    """Index of the last recorded step at or before a tenth of the final step."""
    return int(np.searchsorted(steps, steps[-1] // 10, side="right") - 1)


def _support_spread(inst: NTPInstance, scores: FloatArray) -> float:
    """``max_j (max - min)`` of the logits over ``S_j``: 0 iff equal logits on each support."""
    inside_max = np.where(inst.supports, scores, -np.inf).max(axis=1)
    inside_min = np.where(inst.supports, scores, np.inf).min(axis=1)
    return float(np.max(inside_max - inside_min))


def _out_margins(inst: NTPInstance, scores: FloatArray) -> FloatArray:
    """``min_{z in S_j} l_jz - l_jv`` for every out-of-support ``(j, v)``, flattened."""
    inside_min = np.where(inst.supports, scores, np.inf).min(axis=1)
    return (inside_min[:, None] - scores)[~inst.supports]


# -- definitions -------------------------------------------------------------------------


def check_def1(a: Analysis) -> Claim:
    statement = "Definition 1: Eq. 4 is solvable (compatible) with unique solution W* in F"
    inst, compat = a.inst, a.compat
    if compat.compatible:
        W = compat.w_star
        scores = logits(inst, W)
        # Eq. 4 on *every* in-support pair, not only the anchored generators W* was solved on.
        log_p = np.log(np.where(inst.supports, inst.probs, 1.0))
        gap = np.where(inst.supports, scores - log_p, np.nan)
        residual = float(np.nanmax(np.nanmax(gap, 1) - np.nanmin(gap, 1)))
        scale = 1.0 + float(np.max(np.abs(log_p)))
        perp = float(np.linalg.norm(project_f_perp(inst, W)))
        tol = SOLVE_RTOL * scale * max(1.0, float(np.linalg.norm(W)))
        ok = residual <= tol and perp <= tol
        measured = {
            "compatible": True,
            "eq4_max_residual": residual,
            "norm_w_star": float(np.linalg.norm(W)),
            "norm_perp_w_star": perp,
            "tolerance": tol,
        }
        return Claim("def1", statement, _verdict(ok), measured)
    bound = incompatibility_bound(inst, compat.certificate)
    measured = {
        "compatible": False,
        "certificate_norm": compat.certificate_norm,
        "solution_norm_lower_bound": bound,
    }
    reason = (
        "not compatible: the certificate y (y.b = 1) shows every solution of Eq. 4 would need "
        f"||W|| >= {bound:.3g}"
    )
    return Claim("def1", statement, _verdict(bound > 0), measured, reason)


def check_def2(a: Analysis) -> Claim:
    statement = "Definition 2: some W in F-perp has every NTP margin >= 1 (separable)"
    inst, sep = a.inst, a.sep
    if sep is None:
        return Claim("def2", statement, "not_applicable", reason=_undecided_reason(a))
    if sep.separable:
        W = sep.witness
        scores = logits(inst, W)
        spread = _support_spread(inst, scores)
        margins = _out_margins(inst, scores)
        min_margin = float(margins.min()) if margins.size else float("inf")
        tol = SOLVE_RTOL * max(1.0, float(np.abs(scores).max()))
        ok = spread <= tol and min_margin >= 1.0 - tol
        measured = {
            "separable": True,
            "witness_support_spread": spread,
            "witness_min_margin": min_margin,
            "margin": float(sep.margin),
            "tolerance": tol,
        }
        return Claim("def2", statement, _verdict(ok), measured)
    bound = separability_certificate_bound(inst, sep.certificate)
    measured = {
        "separable": False,
        "certificate_norm": float(sep.certificate_norm),
        "separator_norm_lower_bound": bound,
    }
    reason = (
        "not separable: the Farkas certificate shows no separator in F-perp has "
        f"||W|| < {bound:.3g}"
    )
    return Claim("def2", statement, _verdict(bound > 0), measured, reason)


def check_def3(a: Analysis) -> Claim:
    statement = (
        "Definition 3: W^mm is the min-norm W with (6a),(6b); it depends only on H and the "
        "supports, not on pi nor on in-support probabilities"
    )
    if a.svm is None:
        return Claim("def3", statement, "not_applicable", reason=_no_wmm_reason(a))
    inst, W = a.inst, a.w_mm
    scores = logits(inst, W)
    spread = _support_spread(inst, scores)
    margins = _out_margins(inst, scores)
    min_margin = float(margins.min()) if margins.size else float("inf")
    norm = float(np.linalg.norm(W))
    # Any feasible point (the separability witness) is at least as long as the minimiser.
    witness_norm = float(np.linalg.norm(a.sep.witness))
    # Re-solve with other pi and other in-support values: same supports, so same W^mm.
    rng = np.random.default_rng(a.config.seed + 1)
    probs = np.where(inst.supports, rng.uniform(0.1, 1.0, inst.probs.shape), 0.0)
    other = inst.replace(
        probs=probs / probs.sum(axis=1, keepdims=True),
        context_weights=rng.uniform(0.1, 1.0, inst.m),
    )
    moved = _rel(ntp_svm(other), W)
    kkt = getattr(a.svm, "kkt", None)
    kkt_ok = bool(getattr(kkt, "ok", True))
    ok = (
        kkt_ok
        and spread <= QP_RTOL * max(1.0, float(np.abs(scores).max()))
        and abs(min_margin - 1.0) <= QP_RTOL
        and norm <= witness_norm * (1 + QP_RTOL)
        and moved <= 10 * QP_RTOL
    )
    measured = {
        "norm_w_mm": norm,
        "min_margin": min_margin,
        "support_spread": spread,
        "witness_norm": witness_norm,
        "kkt_ok": kkt_ok,
        "relative_change_other_pi_and_p": moved,
        "tolerance": QP_RTOL,
    }
    return Claim("def3", statement, _verdict(ok), measured)


# -- structural statements ---------------------------------------------------------------


def check_lemma1(a: Analysis) -> Claim:
    statement = "Lemma 1: d > m and rank H = m imply compatible and separable"
    inst = a.inst
    rank = int(np.linalg.matrix_rank(inst.embeddings))
    measured = {"m": inst.m, "d": inst.dim, "rank_H": rank}
    if inst.dim <= inst.m or rank < inst.m:
        why = f"d = {inst.dim} <= m = {inst.m}" if inst.dim <= inst.m else f"rank H = {rank} < m"
        return Claim("lemma1", statement, "not_applicable", measured, why)
    # rank H = m: the separability test takes Lemma 1's route, which always decides.
    measured |= {"compatible": a.compat.compatible, "separable": a.separable}
    return Claim("lemma1", statement, _verdict(a.compat.compatible and bool(a.separable)), measured)


def check_remark1(a: Analysis) -> Claim:
    statement = (
        "Remark 1: one-hot data (all S_j = 1) have H = 0, F = {0}, W* = 0, and W^mm is the "
        "Crammer-Singer hard-margin SVM"
    )
    inst = a.inst
    sizes = inst.support_sizes
    if np.any(sizes > 1):
        reason = f"{int(np.sum(sizes > 1))} of {inst.m} contexts have S_j > 1"
        return Claim("remark1", statement, "not_applicable", reason=reason)
    w_star = a.w_star
    measured: dict[str, Any] = {
        "entropy": inst.entropy,
        "f_dim": f_dimension(inst),
        "norm_w_star": None if w_star is None else float(np.linalg.norm(w_star)),
    }
    ok = inst.entropy == 0.0 and measured["f_dim"] == 0 and measured["norm_w_star"] == 0.0
    if a.svm is not None and inst.vocab_size * inst.dim <= CRAMMER_SINGER_MAX_SIZE:
        gap = _rel(_crammer_singer(inst), a.w_mm)
        measured["relative_gap_to_crammer_singer"] = gap
        ok = ok and gap <= 10 * QP_RTOL
    return Claim("remark1", statement, _verdict(ok), measured)


#: Largest ``V * d`` for which Remark 1's independent Crammer-Singer solve is attempted.
CRAMMER_SINGER_MAX_SIZE = 20_000


def _crammer_singer(inst: NTPInstance) -> FloatArray:
    """The hard-margin multiclass SVM without bias, solved directly with cvxpy (Clarabel)."""
    import cvxpy as cp

    W = cp.Variable(inst.weight_shape)
    scores = inst.embeddings @ W.T
    rows, cols = np.nonzero(~inst.supports)
    # (e_{y_j} - e_v)^T W h_j >= 1 for every v != y_j, as one vectorised constraint.
    true = cp.sum(cp.multiply(inst.supports.astype(np.float64), scores), axis=1)
    constraints = [true[rows] - scores[rows, cols] >= 1]
    cp.Problem(cp.Minimize(cp.sum_squares(W)), constraints).solve(solver=cp.CLARABEL)
    return np.asarray(W.value, dtype=np.float64)


def check_prop1(a: Analysis) -> Claim:
    inst, w_star = a.inst, a.w_star
    if a.compat.compatible and _all_full(a):
        statement = "Proposition 1: CE(W) > H for every finite W, reached only at infinity"
        reason = "every support is full (S_j = V): H is attained at W* (see fullsupport)"
        return Claim("prop1", statement, "not_applicable", reason=reason)
    if a.sep is None:
        statement = "Proposition 1: CE reaches H (in the limit) iff compatible and separable"
        return Claim("prop1", statement, "not_applicable", reason=_undecided_reason(a))
    if a.compat.compatible and a.sep.separable:
        statement = (
            "Proposition 1: compatible and separable, so CE(W) > H for every finite W while "
            "CE(W^p + g W^d) -> H as g -> infinity"
        )
        gammas = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        excess = [excess_loss(inst, w_star + g * a.sep.witness) for g in gammas]
        finite = [float(r.excess_loss[-1]) for r in a.runs.values()]
        decreasing = all(e1 < e0 for e0, e1 in pairwise(excess) if e0 > 0)
        # Eq. 7: the out-of-support mass of W^d alone is below (V - S_j) e^{-g} per context,
        # and -log(1 - q) <= q / (1 - q); W* only shifts margins by its in-F logits.
        ok = decreasing and all(e > 0 for e in excess + finite) and excess[-1] < excess[0]
        measured = {
            "gamma": gammas,
            "excess_along_ray": excess,
            "excess_final_iterates": finite,
        }
        return Claim("prop1", statement, _verdict(ok), measured)
    statement = (
        "Proposition 1 (converse): not both compatible and separable, so inf CE > H: the "
        "excess loss of GD levels off at a positive value"
    )
    fails = _failing_conditions(a)
    if len(a.plateau) < 2:
        return Claim("prop1", statement, "not_applicable", reason=f"{fails}; GD was not run")
    (k_prev, before), (k_last, final) = a.plateau[-2:]
    ratio = final / before if before > 0 else 0.0
    ok = final > 0 and ratio >= PLATEAU_RATIO
    measured = {
        "excess_at_step": {str(k): e for k, e in a.plateau},
        "ratio_last_decade": ratio,
        "plateau_threshold": PLATEAU_RATIO,
    }
    reason = fails
    if not ok:
        reason += (
            f"; GD's excess still fell {1 / max(ratio, 1e-300):.3g}x from k={k_prev} to {k_last}"
        )
    return Claim("prop1", statement, _verdict(ok), measured, reason)


def _failing_conditions(a: Analysis) -> str:
    parts = []
    if not a.compat.compatible:
        parts.append(f"not compatible (certificate norm {a.compat.certificate_norm:.3g})")
    if a.sep is None:
        parts.append("separability undecided")
    elif not a.sep.separable:
        parts.append(f"not separable (certificate norm {float(a.sep.certificate_norm):.3g})")
    return " and ".join(parts)


def _all_full(a: Analysis) -> bool:
    return bool(np.all(a.inst.supports))


def _no_wmm_reason(a: Analysis) -> str:
    """Why ``W^mm`` does not exist: full supports (nothing to separate) or not separable."""
    if _all_full(a):
        return (
            "every support is full (S_j = V): nothing diverges and W^mm does not exist "
            "(see fullsupport)"
        )
    if a.sep is None:
        return _undecided_reason(a)
    return _not_separable_reason(a)


def _undecided_reason(a: Analysis) -> str:
    """The claim needs the separability verdict, which the solver could not reach."""
    return f"needs the NTP-separability verdict, undecided at this size: {a.sep_error}"


def _not_separable_reason(a: Analysis) -> str:
    assert a.sep is not None
    bound = separability_certificate_bound(a.inst, a.sep.certificate)
    return (
        "needs NTP-separability, which fails: the Farkas certificate proves every separator "
        f"has ||W|| >= {bound:.3g}"
    )


def _not_compatible_reason(a: Analysis) -> str:
    bound = incompatibility_bound(a.inst, a.compat.certificate)
    return (
        "needs NTP_H-compatibility, which fails: the certificate proves every solution of "
        f"Eq. 4 has ||W|| >= {bound:.3g}"
    )


def _needs(a: Analysis, *, compatible: bool, separable: bool) -> str:
    reasons = []
    if compatible and not a.compat.compatible:
        reasons.append(_not_compatible_reason(a))
    if separable and a.svm is None:
        reasons.append(_no_wmm_reason(a))
    return "; ".join(reasons)


def check_lemma4(a: Analysis) -> Claim:
    statement = (
        "Lemma 4.1-4.2: CE_F(W*) = H and W* is the unique minimiser of CE_F on F; "
        "W* does not depend on pi"
    )
    reason = _needs(a, compatible=True, separable=False)
    if reason:
        return Claim("lemma4", statement, "not_applicable", reason=reason)
    inst, W = a.inst, a.w_star
    scores = logits(inst, W)
    gap = abs(ce_f_loss(inst, W) - inst.entropy)
    # CE_F sums O(max |logit|) terms: its rounding error is eps times that scale.
    tol = SOLVE_RTOL * (1.0 + float(np.abs(scores).max()) + inst.entropy)
    rng = np.random.default_rng(a.config.seed + 2)
    rises = []
    for _ in range(4):
        D = project_f(inst, rng.standard_normal(inst.weight_shape))
        norm = float(np.linalg.norm(D))
        if norm == 0.0:
            break
        D /= norm
        # A second-order rise: CE_F is strictly convex on F around its minimiser.
        rises += [ce_f_loss(inst, W + s * 1e-2 * D) - ce_f_loss(inst, W) for s in (1, -1)]
    reweighted = inst.replace(context_weights=rng.uniform(0.1, 1.0, inst.m))
    other = is_compatible(reweighted).w_star
    moved = _rel(other, W) if other is not None else float("inf")
    ok = gap <= tol and all(r > -tol for r in rises) and moved <= SOLVE_RTOL * 1e3
    measured = {
        "ce_f_at_w_star_minus_entropy": gap,
        "tolerance": tol,
        "min_rise_along_F": min(rises) if rises else None,
        "relative_change_other_pi": moved,
    }
    return Claim("lemma4", statement, _verdict(ok), measured)


def check_genie(a: Analysis) -> Claim:
    statement = (
        "Genie bound (Eq. 9): CE(W* + R W^mm) <= H + V exp(||W*|| M - R), M = sqrt(2) max ||h_j||"
    )
    reason = _needs(a, compatible=True, separable=True)
    if reason:
        return Claim("genie", statement, "not_applicable", reason=reason)
    inst = a.inst
    M = np.sqrt(2.0) * float(np.linalg.norm(inst.embeddings, axis=1).max())
    log_c = np.log(inst.vocab_size) + float(np.linalg.norm(a.w_star)) * M
    radii = [0.0, 1.0, 4.0, 16.0, 64.0]
    excess = [excess_loss(inst, a.w_star + R * a.w_mm) for R in radii]
    # Compared in logs: C can overflow a float. 1e-12 absorbs the rounding of the excess.
    slack = [
        log_c - R - np.log(e) if e > 0 else float("inf") for R, e in zip(radii, excess, strict=True)
    ]
    ok = all(s >= -1e-12 for s in slack)
    measured = {"log_C": log_c, "R": radii, "excess": excess, "log_bound_minus_log_excess": slack}
    return Claim("genie", statement, _verdict(ok), measured)


def check_descent(a: Analysis) -> Claim:
    statement = (
        "Descent direction (proof of Thm. 1): <-grad CE(W), W^mm> = sum_j pi_j sum_{v not in "
        "S_j} softmax_v(W h_j) (margin of W^mm at (j, v)) > 0 for every finite W"
    )
    if a.svm is None:
        return Claim("descent", statement, "not_applicable", reason=_no_wmm_reason(a))
    inst, Wmm = a.inst, a.w_mm
    rng = np.random.default_rng(a.config.seed + 3)
    points = [a.w0] + [r.W for r in a.runs.values()]
    points += [rng.standard_normal(inst.weight_shape) * s for s in (0.1, 1.0, 3.0)]
    margins = np.where(inst.supports, 0.0, _out_margin_matrix(inst, logits(inst, Wmm)))
    lhs, rhs, errors = [], [], []
    for W in points:
        inner = float(np.sum(-ce_grad(inst, W) * Wmm))
        q = softmax(logits(inst, W))
        terms = inst.context_weights[:, None] * q * margins
        formula = float(terms.sum())
        lhs.append(inner)
        rhs.append(formula)
        # Both sides sum O(m V) terms of size <= |terms|: rounding is eps times their total.
        errors.append(abs(inner - formula) / (float(np.abs(terms).sum()) + 1e-300))
    ok = all(x > 0 for x in lhs) and max(errors) <= 1e-8
    measured = {"inner_products": lhs, "formula": rhs, "max_relative_mismatch": max(errors)}
    return Claim("descent", statement, _verdict(ok), measured)


def _out_margin_matrix(inst: NTPInstance, scores: FloatArray) -> FloatArray:
    """``(e_z - e_v)^T W h_j`` for ``z`` the first token of ``S_j``, shape (m, V)."""
    anchor = scores[np.arange(inst.m), np.argmax(inst.supports, axis=1)]
    return anchor[:, None] - scores


# -- limits ------------------------------------------------------------------------------


def check_lemma2(a: Analysis) -> Claim:
    statement = (
        "Lemma 2: GD with eta <= 1/(2L) has CE(W_k) -> H, ||W_k|| -> infinity, "
        "||P_perp W_k|| -> infinity, P_F W_k bounded"
    )
    reason = _needs(a, compatible=True, separable=True)
    run = a.runs.get("gd")
    if reason or run is None:
        return Claim("lemma2", statement, "not_applicable", reason=reason or "GD was not run")
    inst = a.inst
    loss = np.asarray(run.loss)
    k = _decade_index(run.steps)
    rises, monotone, safe = _descent_lemma(inst, run)
    excess = np.asarray(run.excess_loss)
    # CE -> H, quantitatively: convex smooth GD is within ||W0 - U||^2 / (2 eta k) of any U;
    # the excess is accurate to SOLVE_RTOL relatively (float GD tracks exact GD that closely).
    proven_excess = gd_excess_bound(
        inst, run.W0, float(run.lr), int(run.steps[-1]), a.w_star, a.w_mm
    )
    excess_ok = excess[-1] <= proven_excess * (1 + SOLVE_RTOL) + EPS * float(loss[-1])
    # ||W_k|| -> infinity, quantitatively: <W, W^mm> >= G ||W^mm||^2 (ntpprops._bounds) and
    # Cauchy-Schwarz give ||W_k|| >= ||W^mm|| G(excess_k, delta_k), which grows like
    # log(1 / excess). Checked where G is finite, with W^mm's relative error QP_RTOL.
    curvature = f_curvature(inst)
    dist, _ = _gd_distances(inst, run, curvature)
    delta = [
        min(f_distance_bound(inst, float(e), curvature), float(dk) + SOLVE_RTOL * (1 + n))
        for e, dk, n in zip(excess, dist, run.norm, strict=True)
    ]
    w_mm_norm = float(np.linalg.norm(a.w_mm))
    norm_floor = np.array(
        [
            alignment_lower_bound(inst, a.w_star, w_mm_norm, float(e), dl, 1.0)
            for e, dl in zip(excess, delta, strict=True)
        ]
    )
    norm_ok = bool(np.all(np.asarray(run.norm) >= norm_floor * (1 - QP_RTOL)))
    ok = safe and monotone and excess_ok and norm_ok
    perp0 = float(np.linalg.norm(project_f_perp(inst, run.W0)))
    perp = float(np.linalg.norm(project_f_perp(inst, run.W)))
    f_part = float(np.linalg.norm(project_f(inst, run.W)))
    bound_f = float(np.linalg.norm(project_f(inst, run.W0))) + float(np.linalg.norm(a.w_star))
    last, prev = str(int(run.steps[-1])), str(int(run.steps[k]))
    measured = {
        "lr": float(run.lr),
        "lr_note": a.gd_lr_note,
        "max_loss_increase": rises,
        "excess": {prev: float(excess[k]), last: float(excess[-1])},
        "excess_upper_bound_final": proven_excess,
        "norm": {prev: float(run.norm[k]), last: float(run.norm[-1])},
        "norm_lower_bound": {prev: float(norm_floor[k]), last: float(norm_floor[-1])},
        "norm_perp": {"0": perp0, last: perp},
        "norm_P_F_final": f_part,
        "norm_P_F_W0_plus_norm_w_star": bound_f,
    }
    notes = []
    if not excess_ok:
        notes.append(
            f"CE - H = {excess[-1]:.3g} at k = {last} exceeds the proven GD bound "
            f"{proven_excess:.3g}"
        )
    if not norm_ok:
        notes.append("||W_k|| fell below the norm its excess loss forces (||W^mm|| G)")
    notes += _trend_notes({"||W_k||": np.asarray(run.norm)}, "k", run.steps, 0.0, expect="rises")
    return Claim("lemma2", statement, _verdict(ok), measured, "; ".join(notes))


def _gd_distances(
    inst: NTPInstance, run: Any, curvature: float
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


def _descent_lemma(inst: NTPInstance, run: Any) -> tuple[float, bool, bool]:
    """``(largest loss rise, loss monotone, step within the analysed 1/(2L))`` of a GD run.

    The descent lemma makes CE non-increasing for eta <= 1/L; rounding may add eps*CE.
    """
    loss = np.asarray(run.loss)
    rise = float(np.max(np.diff(loss), initial=0.0))
    monotone = rise <= 4 * EPS * float(np.max(loss))
    return rise, monotone, run.lr <= safe_step_size(inst) * (1 + 1e-12)


def check_thm2(a: Analysis) -> Claim:
    statement = (
        "Theorem 2: GD iterates align with W^mm (cos -> 1) and P_F W_k -> W*; the corrected "
        "W_k - W* aligns faster"
    )
    reason = _needs(a, compatible=True, separable=True)
    run = a.runs.get("gd")
    if reason or run is None:
        return Claim("thm2", statement, "not_applicable", reason=reason or "GD was not run")
    inst = a.inst
    k = _decade_index(run.steps)
    gap = 1.0 - np.asarray(run.cos_mm)
    gap_c = 1.0 - np.asarray(run.cos_mm_corrected)
    dist, measured_at = _gd_distances(inst, run, f_curvature(inst))
    # Every checkpoint, then the final iterate measured against the analysis's own W^mm and W*
    # (the run recorded its metrics against the limits it computed itself).
    final_cos, final_dist = _cos_and_dist(a, np.asarray(run.W)[None])
    gate = _proven_gate(
        a,
        excess=np.append(run.excess_loss, run.excess_loss[-1]),
        norms=np.append(run.norm, run.norm[-1]),
        cos=np.append(run.cos_mm, final_cos),
        dist=np.append(dist, final_dist),
    )
    rise, monotone, safe = _descent_lemma(inst, run)
    ok = gate.ok and (monotone or not safe)
    last, prev = str(int(run.steps[-1])), str(int(run.steps[k]))
    measured: dict[str, Any] = {
        "one_minus_cos": {prev: float(gap[k]), last: float(gap[-1])},
        "one_minus_cos_corrected": {prev: float(gap_c[k]), last: float(gap_c[-1])},
        # None where training thinned the metric (the bound stood in, see _gd_distances).
        "dist_P_F_W_to_w_star": {
            key: float(dist[i]) if measured_at[i] else None for key, i in ((prev, k), (last, -1))
        },
        "corrected_closer_at_end": bool(gap_c[-1] <= gap[-1]),
        "max_loss_increase": rise,
        "loss_monotone": bool(monotone),
        "cos_mm_final_vs_analysis_w_mm": float(final_cos[0]),
    } | gate.measured({prev: k, last: len(gap) - 1, "final_vs_analysis_limits": len(gap)})
    notes = gate.notes()
    if not safe:
        notes.append(f"eta = {run.lr:.3g} exceeds 1/(2L): monotone loss is not a theorem here")
    trends = _trend_notes({"1 - cos(W_k, W^mm)": gap}, "k", run.steps, ROUNDING_FLOOR)
    trends += _trend_notes(
        {"||P_F W_k - W*||": dist[measured_at]}, "k", run.steps[measured_at], ROUNDING_FLOOR
    )
    if not np.all(measured_at):
        notes.append(
            f"||P_F W_k - W*|| measured at {int(measured_at.sum())} of {len(measured_at)} "
            f"checkpoints ({run.metric_notes.get('dist_f_wstar', 'thinned for cost')})"
        )
    cert = a.certificate
    if cert is not None:
        # The limits themselves, to tolerance, in bounded time (ntpprops._certify): the
        # direction of the increments W_k - W_{k/2} (which converges fast) and ||P_F W_k - W*||.
        final = cert.final()
        measured["certification"] = {
            key: final[key]
            for key in (
                "lr",
                "step_rule",
                "steps",
                "increment_cos_gap",
                "corrected_cos_gap",
                "dist_f_wstar",
                "monotone",
                "alignment_within_tol",
                "dist_within_tol",
                "wall_time",
            )
        } | {"alignment_tol": cert.alignment_tol, "dist_tol": cert.dist_tol}
        if not (cert.alignment_within_tol and cert.dist_within_tol):
            # Running out of time contradicts nothing: noted, not failed.
            notes.append(
                f"certification not reached within {a.config.certify_budget:g} s "
                f"({final['steps']} steps): increment gap {final['increment_cos_gap']:.3g} "
                f"(tol {cert.alignment_tol:g}), ||P_F W_k - W*|| {final['dist_f_wstar']:.3g} "
                f"(tol {cert.dist_tol:g}); raise --certify-budget"
            )
        # A loss that rose under a step the descent lemma covers would contradict it.
        if final["step_rule"] in ("analysed", "descent lemma"):
            ok = ok and bool(cert.monotone)
    return Claim("thm2", statement, _verdict(ok), measured, "; ".join(notes + trends))


def check_thm1(a: Analysis) -> Claim:
    statement = (
        "Theorem 1: the constrained minimiser W_B lies on ||W|| = B, aligns with W^mm as "
        "B grows, and P_F W_B -> W*"
    )
    reason = _needs(a, compatible=True, separable=True)
    path = a.regpath
    if reason or path is None:
        return Claim(
            "thm1", statement, "not_applicable", reason=reason or a.regpath_error or "no path"
        )
    inst = a.inst
    norms = np.asarray(path.norms)
    weights = np.asarray(path.weights)
    sizes = np.linalg.norm(weights.reshape(len(norms), -1), axis=1)
    on_sphere = float(np.max(np.abs(sizes - norms) / norms))
    kkt, kkt_tol = _ball_kkt(inst, weights, np.asarray(path.multipliers), norms, path.method)
    excess = np.asarray(path.excess_loss)
    # min CE over nested balls cannot rise with B; the excess is accurate to SOLVE_RTOL
    # relatively, down to the path's documented absolute floor of 1e-30.
    rises = np.diff(excess) - SOLVE_RTOL * excess[:-1] - EXCESS_FLOOR
    excess_monotone = bool(np.all(rises <= 0))
    cos, dist = _cos_and_dist(a, weights)
    gate = _proven_gate(a, excess=excess, norms=sizes, cos=cos, dist=dist)
    converged = bool(np.all(path.converged))
    # lam_B = -<grad CE, W_B> / B^2 up to the KKT residual: it is known to kkt_tol / B.
    multipliers_ok = bool(np.all(np.asarray(path.multipliers) >= -kkt_tol / norms))
    ok = (
        converged
        and on_sphere <= QP_RTOL
        and multipliers_ok
        and bool(np.all(kkt <= kkt_tol))
        and excess_monotone
        and gate.ok
    )
    gap = 1.0 - cos
    measured = {
        "B": norms.tolist(),
        "max_relative_norm_error": on_sphere,
        "converged": converged,
        "multipliers": np.asarray(path.multipliers).tolist(),
        "kkt_residual": kkt.tolist(),
        "kkt_tolerance": kkt_tol.tolist(),
        "excess": excess.tolist(),
        "excess_non_increasing": excess_monotone,
        "one_minus_cos": gap.tolist(),
        "dist_P_F_W_to_w_star": dist.tolist(),
    } | gate.measured()
    trends = _trend_notes(
        {"1 - cos(W_B, W^mm)": gap, "||P_F W_B - W*||": dist}, "B", norms, ROUNDING_FLOOR
    )
    return Claim("thm1", statement, _verdict(ok), measured, "; ".join(gate.notes() + trends))


# -- proven finite-B / finite-k consequences of Theorems 1-2 (ntpprops._bounds) ------------

#: The regularisation path's documented absolute accuracy floor on the excess loss.
EXCESS_FLOOR = 1e-30

EPS = float(np.finfo(np.float64).eps)

#: Below this a cosine gap or a distance of O(1)-sized vectors is rounding (both are exact to
#: ~1e-15); rises under it are not reported as non-monotone trends.
ROUNDING_FLOOR = 1e-12


def _cos_and_dist(a: Analysis, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``cos(W, W^mm)`` and ``||P_F W - W*||`` of each ``W`` in ``weights`` (k, V, d)."""
    flat = weights.reshape(len(weights), -1)
    w_mm = np.asarray(a.w_mm).reshape(-1)
    cos = flat @ w_mm / (np.linalg.norm(flat, axis=1) * np.linalg.norm(w_mm))
    dist = np.array([np.linalg.norm(project_f(a.inst, W) - a.w_star) for W in weights])
    return cos, dist


def _ball_kkt(
    inst: NTPInstance,
    weights: FloatArray,
    multipliers: FloatArray,
    norms: FloatArray,
    method: str = "dense",
) -> tuple[FloatArray, FloatArray]:
    """``||grad CE(W_B) + lam_B W_B||`` per point, and the tolerance the solver guarantees.

    The dense path stops when the Newton step of ``CE + lam/2 ||W||^2`` is below
    ``STEP_RTOL`` relative (per block, so at most ``2 STEP_RTOL B`` in all); the residual is
    the Hessian times that step, ``<= (L + lam) 2 STEP_RTOL B``. The matrix-free path stops
    when each of its two blocks has ``||grad CE + lam c|| <= MF_KKT_RTOL (||g_abs|| + lam B)``
    with ``||g_abs|| <= scale``: at most ``2 MF_KKT_RTOL (scale + lam B)`` in all. The
    gradient's own rounding is eps times its scale ``sum_j pi_j 2 ||h_j||``
    (``|q_j - p_j|_1 <= 2``), with room 64.
    """
    L = smoothness_bound(inst)
    scale = float(inst.context_weights @ (2.0 * np.linalg.norm(inst.embeddings, axis=1)))
    residual = np.array(
        [
            np.linalg.norm(ce_grad(inst, W) + lam * W)
            for W, lam in zip(weights, multipliers, strict=True)
        ]
    )
    if method == "dense":
        solver = (L + multipliers) * 2.0 * PATH_STEP_RTOL * norms
    else:
        solver = 2.0 * PATH_MF_KKT_RTOL * (scale + multipliers * norms)
    return residual, solver + 64.0 * EPS * scale


@dataclass
class _Gate:
    """Measured ``cos`` and ``dist`` against their proven bounds at each point."""

    cos: FloatArray
    cos_bound: FloatArray
    cos_tol: FloatArray
    dist: FloatArray
    dist_bound: FloatArray
    dist_tol: FloatArray

    @property
    def cos_ok(self) -> NDArray[np.bool_]:
        return self.cos >= self.cos_bound - self.cos_tol

    @property
    def dist_ok(self) -> NDArray[np.bool_]:
        return self.dist <= self.dist_bound + self.dist_tol

    @property
    def ok(self) -> bool:
        return bool(np.all(self.cos_ok) and np.all(self.dist_ok))

    def measured(self, picks: dict[str, int] | None = None) -> dict[str, Any]:
        """Report fields: the bounds at every point, or only at ``picks`` (label -> index);
        always the verdict and the worst slack over all points."""
        slack = np.where(np.isfinite(self.cos_bound), self.cos - self.cos_bound, np.inf)
        rows = dict(enumerate(range(len(self.cos)))) if picks is None else picks

        def at(values: FloatArray) -> Any:
            picked = {str(k): float(values[i]) for k, i in rows.items()}
            return list(picked.values()) if picks is None else picked

        return {
            "all_within_proven_bounds": self.ok,
            "min_cos_minus_lower_bound": float(slack.min()),
            "cos_lower_bound": at(self.cos_bound),
            "one_minus_cos_upper_bound": at(1.0 - self.cos_bound),
            "dist_upper_bound": at(self.dist_bound),
        }

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


def _proven_gate(
    a: Analysis, *, excess: FloatArray, norms: FloatArray, cos: FloatArray, dist: FloatArray
) -> _Gate:
    """Compare measured ``cos(W, W^mm)`` and ``||P_F W - W*||`` with their proven bounds.

    ``||P_F W - W*|| <= f_distance_bound(excess)`` and ``cos(W, W^mm) >=
    alignment_lower_bound(excess, delta, ||W||)`` hold for *every* ``W`` (ntpprops._bounds),
    so they hold at each B of the path and each GD checkpoint whatever the trend. ``delta``
    is the smaller of the proven distance bound and the measured distance plus its solve
    error (both are upper bounds on the true distance when the implementation is right).
    """
    inst = a.inst
    w_star_norm = float(np.linalg.norm(a.w_star))
    w_mm_norm = float(np.linalg.norm(a.w_mm))
    curvature = f_curvature(inst)
    # ||P_F W - W*|| carries the W* solve error and the projection's, relative to ||W||.
    dist_tol = SOLVE_RTOL * (w_star_norm + np.asarray(norms))
    dist_bound = np.array([f_distance_bound(inst, float(e), curvature) for e in excess])
    delta = np.minimum(dist_bound, np.asarray(dist) + dist_tol)
    cos_bound = np.array(
        [
            alignment_lower_bound(inst, a.w_star, w_mm_norm, float(e), float(dl), float(n))
            for e, dl, n in zip(excess, delta, norms, strict=True)
        ]
    )
    # W^mm is accurate to QP_RTOL relatively: cos moves by <= 2 QP_RTOL and the bound,
    # proportional to ||W^mm||, by QP_RTOL |bound|; 1e-12 covers the cosine's rounding.
    finite = np.where(np.isfinite(cos_bound), np.abs(cos_bound), 0.0)
    cos_tol = QP_RTOL * (2.0 + finite) + 1e-12
    return _Gate(
        np.asarray(cos, dtype=np.float64),
        cos_bound,
        cos_tol,
        np.asarray(dist),
        dist_bound,
        dist_tol,
    )


def _trend_notes(
    series: dict[str, FloatArray],
    axis: str,
    where: FloatArray,
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


def check_fullsupport(a: Analysis) -> Claim:
    statement = (
        "Full supports: if every S_j = V, F-perp gets no update and GD converges to W* + P_perp W_0"
    )
    inst = a.inst
    full = int(np.sum(inst.support_sizes == inst.vocab_size))
    run = a.runs.get("gd")
    if full < inst.m:
        reason = f"{inst.m - full} of {inst.m} contexts have S_j < V"
        return Claim("fullsupport", statement, "not_applicable", reason=reason)
    if run is None or a.w_star is None:
        why = "GD was not run" if run is None else _not_compatible_reason(a)
        return Claim("fullsupport", statement, "not_applicable", reason=why)
    limit = a.w_star + project_f_perp(inst, run.W0)
    moved_perp = float(np.linalg.norm(project_f_perp(inst, run.W - run.W0)))
    start, end = _rel(run.W0, limit), _rel(run.W, limit)
    # Each step adds an F-vector; projecting it back off leaves rounding of size eps*||W||
    # per step at most.
    tol = np.finfo(float).eps * run.steps[-1] * max(1.0, float(np.linalg.norm(run.W)))
    ok = moved_perp <= tol and end < start
    measured = {
        "perp_change": moved_perp,
        "tolerance": tol,
        "relative_distance_to_limit": {"start": start, "end": end},
    }
    return Claim("fullsupport", statement, _verdict(ok), measured)


def check_appc(a: Analysis) -> Claim:
    statement = (
        "App. C: a corpus reduces to one context per distinct prefix; Shannon: H_t >= H_{t+1}"
    )
    entropies = a.extras.get("entropy_by_context_length")
    if entropies is None:
        return Claim("appc", statement, "not_applicable", reason="input is not a corpus")
    events = a.extras["prediction_events"]
    counted = a.extras.get("instance_events")
    values = list(entropies.values())
    # Empirical entropies are sums of m terms: rounding is a few eps times H.
    tol = 1e-12 * max(1.0, max(values))
    ok = all(h1 <= h0 + tol for h0, h1 in pairwise(values))
    if counted is not None:
        ok = ok and counted == events
    measured = {
        "entropy_by_context_length": entropies,
        "prediction_events": events,
        "events_in_instance": counted,
    }
    return Claim("appc", statement, _verdict(ok), measured)


# -- observations ------------------------------------------------------------------------


def observe(name: str, label: str) -> Callable[[Analysis], Claim]:
    def check(a: Analysis) -> Claim:
        statement = (
            f"App. A (observed, not proven): {label} shows the same implicit bias as GD "
            "and converges faster"
        )
        run = a.runs.get(name)
        if run is None:
            return Claim(f"obs-{name}", statement, "not_applicable", reason=f"{name} not run")
        measured: dict[str, Any] = {
            "lr": float(run.lr),
            "excess_final": float(run.excess_loss[-1]),
            "norm_final": float(run.norm[-1]),
        }
        gd = a.runs.get("gd")
        if gd is not None:
            measured["gd_excess_final"] = float(gd.excess_loss[-1])
        for key in ("cos_mm", "cos_mm_corrected", "dist_f_wstar"):
            values = getattr(run, key, None)
            if values is not None:
                measured[f"{key}_final"] = float(values[-1])
                if gd is not None and getattr(gd, key, None) is not None:
                    measured[f"gd_{key}_final"] = float(getattr(gd, key)[-1])
        return Claim(f"obs-{name}", statement, "observed", measured)

    return check


CHECKS: tuple[Callable[[Analysis], Claim], ...] = (
    check_def1,
    check_def2,
    check_def3,
    check_lemma1,
    check_remark1,
    check_prop1,
    check_lemma4,
    check_genie,
    check_descent,
    check_thm1,
    check_lemma2,
    check_thm2,
    check_fullsupport,
    check_appc,
    observe("ngd", "normalised GD"),
    observe("adam", "Adam"),
)


def check_all(a: Analysis) -> list[Claim]:
    """Judge every claim on ``a``, in the order of :data:`CHECKS`."""
    return [check(a) for check in CHECKS]
