"""Claims about the direction of divergence ``W^mm``: the descent direction of Theorem 1's
proof, Theorem 1 on the regularisation path, Lemma 2 and Theorem 2 on GD.

Finite runs cannot show a limit, so these gate on what holds at every finite ``B`` and every
iterate, proven: ``||W_B|| = B`` with the KKT conditions of the ball, monotone loss under a
safe step, GD's excess under its ``O(1/k)`` bound, and the measured ``||W||``,
``cos(W, W^mm)`` and ``||P_F W - W*||`` on the right side of the bounds of
:mod:`ntpprops._bounds`, which follow from the excess loss alone and tend to the limits. The
trends (``1 - cos`` shrinking with ``B`` or ``k``) are reported, not gated: they are not
theorems (``cos(W_B, W^mm)`` is not monotone in ``B`` in general).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ntpprops._bounds import alignment_lower_bound, f_curvature, f_distance_bound, gd_excess_bound
from ntpprops._instance import NTPInstance
from ntpprops._loss import ce_grad, logits, smoothness_bound, softmax
from ntpprops._regpath import MF_KKT_RTOL as PATH_MF_KKT_RTOL
from ntpprops._regpath import STEP_RTOL as PATH_STEP_RTOL
from ntpprops._subspace import project_f, project_f_perp
from ntpprops.cli._analysis import Analysis
from ntpprops.cli._format import pair, short
from ntpprops.cli.claims._base import OMIT_NONE, Facts, Finding
from ntpprops.cli.claims._numerics import (
    BoundFacts,
    cos_and_dist,
    decade_index,
    descent_lemma,
    gd_distances,
    proven_gate,
    trend_notes,
)
from ntpprops.cli.claims._tolerances import (
    EPS,
    EXCESS_FLOOR,
    QP_RTOL,
    ROUNDING_FLOOR,
    SOLVE_RTOL,
)

__all__ = ["check_descent", "check_lemma2", "check_thm1", "check_thm2"]

FloatArray = NDArray[np.float64]

#: Scales of the random points (besides ``W_0`` and the final iterates) of the descent check.
DESCENT_SCALES = (0.1, 1.0, 3.0)


def _limits(a: Analysis) -> tuple[FloatArray, FloatArray]:
    """``(W*, W^mm)``, both required by the claims of this module."""
    assert a.w_star is not None and a.w_mm is not None  # required: COMPATIBLE, W_MM
    return a.w_star, a.w_mm


@dataclass(frozen=True)
class DescentFacts(Facts):
    inner_products: list[float]
    formula: list[float]
    max_relative_mismatch: float


def check_descent(a: Analysis) -> Finding[DescentFacts]:
    inst, w_mm = a.inst, a.w_mm
    assert w_mm is not None  # required: W_MM
    rng = np.random.default_rng(a.config.seed + 3)
    points = [a.w0] + [r.W for r in a.runs.values()]
    points += [rng.standard_normal(inst.weight_shape) * s for s in DESCENT_SCALES]
    margins = np.where(inst.supports, 0.0, _out_margin_matrix(inst, logits(inst, w_mm)))
    lhs, rhs, errors = [], [], []
    for W in points:
        inner = float(np.sum(-ce_grad(inst, W) * w_mm))
        q = softmax(logits(inst, W))
        terms = inst.context_weights[:, None] * q * margins
        formula = float(terms.sum())
        lhs.append(inner)
        rhs.append(formula)
        # Both sides sum O(m V) terms of size <= |terms|: rounding is eps times their total.
        errors.append(abs(inner - formula) / (float(np.abs(terms).sum()) + 1e-300))
    ok = all(x > 0 for x in lhs) and max(errors) <= 1e-8
    return Finding(DescentFacts(lhs, rhs, max(errors)), ok)


def headline_descent(m: DescentFacts) -> str:
    return (
        f"min <-grad, W^mm> {short(min(m.inner_products))} at {len(m.inner_products)} "
        f"points, formula mismatch {short(m.max_relative_mismatch)}"
    )


def _out_margin_matrix(inst: NTPInstance, scores: FloatArray) -> FloatArray:
    """``(e_z - e_v)^T W h_j`` for ``z`` the first token of ``S_j``, shape (m, V)."""
    anchor = scores[np.arange(inst.m), np.argmax(inst.supports, axis=1)]
    return np.asarray(anchor[:, None] - scores, dtype=np.float64)


@dataclass(frozen=True)
class Thm1Facts(Facts):
    B: list[float]
    max_relative_norm_error: float
    converged: bool
    multipliers: list[float]
    kkt_residual: list[float]
    kkt_tolerance: list[float]
    excess: list[float]
    excess_non_increasing: bool
    one_minus_cos: list[float]
    dist_P_F_W_to_w_star: list[float]
    bounds: BoundFacts


def check_thm1(a: Analysis) -> Finding[Thm1Facts]:
    inst, path = a.inst, a.regpath
    assert path is not None  # required: REGPATH
    w_star, w_mm = _limits(a)
    norms = np.asarray(path.norms)
    weights = np.asarray(path.weights)
    multipliers = np.asarray(path.multipliers)
    sizes = np.linalg.norm(weights.reshape(len(norms), -1), axis=1)
    on_sphere = float(np.max(np.abs(sizes - norms) / norms))
    kkt, kkt_tol = _ball_kkt(inst, weights, multipliers, norms, path.method)
    excess = np.asarray(path.excess_loss)
    # min CE over nested balls cannot rise with B; the excess is accurate to SOLVE_RTOL
    # relatively, down to the path's documented absolute floor of 1e-30.
    rises = np.diff(excess) - SOLVE_RTOL * excess[:-1] - EXCESS_FLOOR
    excess_monotone = bool(np.all(rises <= 0))
    cos, dist = cos_and_dist(inst, w_star, w_mm, weights)
    gate = proven_gate(
        inst, w_star, w_mm, f_curvature(inst), excess=excess, norms=sizes, cos=cos, dist=dist
    )
    converged = bool(np.all(path.converged))
    # lam_B = -<grad CE, W_B> / B^2 up to the KKT residual: it is known to kkt_tol / B.
    multipliers_ok = bool(np.all(multipliers >= -kkt_tol / norms))
    ok = (
        converged
        and on_sphere <= QP_RTOL
        and multipliers_ok
        and bool(np.all(kkt <= kkt_tol))
        and excess_monotone
        and gate.ok
    )
    gap = 1.0 - cos
    facts = Thm1Facts(
        norms.tolist(),
        on_sphere,
        converged,
        multipliers.tolist(),
        kkt.tolist(),
        kkt_tol.tolist(),
        excess.tolist(),
        excess_monotone,
        gap.tolist(),
        dist.tolist(),
        gate.facts(),
    )
    trends = trend_notes(
        {"1 - cos(W_B, W^mm)": gap, "||P_F W_B - W*||": dist}, "B", norms, ROUNDING_FLOOR
    )
    return Finding(facts, ok, "; ".join(gate.notes() + trends))


def headline_thm1(m: Thm1Facts) -> str:
    return (
        f"1 - cos {short(m.one_minus_cos[0])} -> {short(m.one_minus_cos[-1])}, "
        f"||P_F W_B - W*|| {short(m.dist_P_F_W_to_w_star[0])} -> "
        f"{short(m.dist_P_F_W_to_w_star[-1])}"
    )


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


@dataclass(frozen=True)
class Lemma2Facts(Facts):
    lr: float
    lr_note: str
    max_loss_increase: float
    excess: dict[str, float]
    excess_upper_bound_final: float
    norm: dict[str, float]
    norm_lower_bound: dict[str, float]
    norm_perp: dict[str, float]
    norm_P_F_final: float
    norm_P_F_W0_plus_norm_w_star: float


def check_lemma2(a: Analysis) -> Finding[Lemma2Facts]:
    inst, run = a.inst, a.runs["gd"]  # required: GD_RUN
    w_star, w_mm = _limits(a)
    loss = np.asarray(run.loss)
    k = decade_index(run.steps)
    rises, monotone, safe = descent_lemma(inst, run)
    excess = np.asarray(run.excess_loss)
    # CE -> H, quantitatively: convex smooth GD is within ||W0 - U||^2 / (2 eta k) of any U;
    # the excess is accurate to SOLVE_RTOL relatively (float GD tracks exact GD that closely).
    proven_excess = gd_excess_bound(inst, run.W0, float(run.lr), int(run.steps[-1]), w_star, w_mm)
    excess_ok = excess[-1] <= proven_excess * (1 + SOLVE_RTOL) + EPS * float(loss[-1])
    # ||W_k|| -> infinity, quantitatively: <W, W^mm> >= G ||W^mm||^2 (ntpprops._bounds) and
    # Cauchy-Schwarz give ||W_k|| >= ||W^mm|| G(excess_k, delta_k), which grows like
    # log(1 / excess). Checked where G is finite, with W^mm's relative error QP_RTOL.
    curvature = f_curvature(inst)
    dist, _ = gd_distances(inst, run, curvature)
    delta = [
        min(f_distance_bound(inst, float(e), curvature), float(dk) + SOLVE_RTOL * (1 + n))
        for e, dk, n in zip(excess, dist, run.norm, strict=True)
    ]
    w_mm_norm = float(np.linalg.norm(w_mm))
    norm_floor = np.array(
        [
            alignment_lower_bound(inst, w_star, w_mm_norm, float(e), dl, 1.0)
            for e, dl in zip(excess, delta, strict=True)
        ]
    )
    norm_ok = bool(np.all(np.asarray(run.norm) >= norm_floor * (1 - QP_RTOL)))
    ok = safe and monotone and bool(excess_ok) and norm_ok
    last, prev = str(int(run.steps[-1])), str(int(run.steps[k]))
    facts = Lemma2Facts(
        float(run.lr),
        a.gd_lr_note,
        rises,
        {prev: float(excess[k]), last: float(excess[-1])},
        proven_excess,
        {prev: float(run.norm[k]), last: float(run.norm[-1])},
        {prev: float(norm_floor[k]), last: float(norm_floor[-1])},
        {
            "0": float(np.linalg.norm(project_f_perp(inst, run.W0))),
            last: float(np.linalg.norm(project_f_perp(inst, run.W))),
        },
        float(np.linalg.norm(project_f(inst, run.W))),
        float(np.linalg.norm(project_f(inst, run.W0))) + float(np.linalg.norm(w_star)),
    )
    notes = []
    if not excess_ok:
        notes.append(
            f"CE - H = {excess[-1]:.3g} at k = {last} exceeds the proven GD bound "
            f"{proven_excess:.3g}"
        )
    if not norm_ok:
        notes.append("||W_k|| fell below the norm its excess loss forces (||W^mm|| G)")
    notes += trend_notes({"||W_k||": np.asarray(run.norm)}, "k", run.steps, 0.0, expect="rises")
    return Finding(facts, ok, "; ".join(notes))


def headline_lemma2(m: Lemma2Facts) -> str:
    return f"eta {short(m.lr)}; CE - H {pair(m.excess)}; ||W|| {pair(m.norm)}"


#: The certification's fields reported under ``thm2``'s ``certification``.
CERTIFICATION_KEYS = (
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


@dataclass(frozen=True)
class Thm2Facts(Facts):
    one_minus_cos: dict[str, float]
    one_minus_cos_corrected: dict[str, float]
    #: None where training thinned the metric (the proven bound stood in).
    dist_P_F_W_to_w_star: dict[str, float | None]
    corrected_closer_at_end: bool
    max_loss_increase: float
    loss_monotone: bool
    cos_mm_final_vs_analysis_w_mm: float
    bounds: BoundFacts
    certification: dict[str, Any] | None = field(default=None, metadata=OMIT_NONE)


def check_thm2(a: Analysis) -> Finding[Thm2Facts]:
    inst, run = a.inst, a.runs["gd"]  # required: GD_RUN
    w_star, w_mm = _limits(a)
    assert run.cos_mm is not None and run.cos_mm_corrected is not None  # limits were given
    k = decade_index(run.steps)
    gap = 1.0 - np.asarray(run.cos_mm)
    gap_c = 1.0 - np.asarray(run.cos_mm_corrected)
    curvature = f_curvature(inst)
    dist, measured_at = gd_distances(inst, run, curvature)
    # Every checkpoint, then the final iterate measured against the analysis's own W^mm and W*
    # (the run recorded its metrics against the limits it computed itself).
    final_cos, final_dist = cos_and_dist(inst, w_star, w_mm, np.asarray(run.W)[None])
    gate = proven_gate(
        inst,
        w_star,
        w_mm,
        curvature,
        excess=np.append(run.excess_loss, run.excess_loss[-1]),
        norms=np.append(run.norm, run.norm[-1]),
        cos=np.append(run.cos_mm, final_cos),
        dist=np.append(dist, final_dist),
    )
    rise, monotone, safe = descent_lemma(inst, run)
    ok = gate.ok and (monotone or not safe)
    last, prev = str(int(run.steps[-1])), str(int(run.steps[k]))
    picks = {prev: k, last: len(gap) - 1, "final_vs_analysis_limits": len(gap)}
    notes = gate.notes()
    if not safe:
        notes.append(f"eta = {run.lr:.3g} exceeds 1/(2L): monotone loss is not a theorem here")
    trends = trend_notes({"1 - cos(W_k, W^mm)": gap}, "k", run.steps, ROUNDING_FLOOR)
    trends += trend_notes(
        {"||P_F W_k - W*||": dist[measured_at]}, "k", run.steps[measured_at], ROUNDING_FLOOR
    )
    if not np.all(measured_at):
        notes.append(
            f"||P_F W_k - W*|| measured at {int(measured_at.sum())} of {len(measured_at)} "
            f"checkpoints ({run.metric_notes.get('dist_f_wstar', 'thinned for cost')})"
        )
    certification = None
    cert = a.certificate
    if cert is not None:
        # The limits themselves, to tolerance, in bounded time (ntpprops._certify): the
        # direction of the increments W_k - W_{k/2} (which converges fast) and ||P_F W_k - W*||.
        final = cert.final()
        certification = {key: final[key] for key in CERTIFICATION_KEYS}
        certification |= {"alignment_tol": cert.alignment_tol, "dist_tol": cert.dist_tol}
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
    facts = Thm2Facts(
        {prev: float(gap[k]), last: float(gap[-1])},
        {prev: float(gap_c[k]), last: float(gap_c[-1])},
        {key: float(dist[i]) if measured_at[i] else None for key, i in ((prev, k), (last, -1))},
        bool(gap_c[-1] <= gap[-1]),
        rise,
        bool(monotone),
        float(final_cos[0]),
        gate.facts(picks),
        certification,
    )
    return Finding(facts, ok, "; ".join(notes + trends))


def headline_thm2(m: Thm2Facts) -> str:
    return (
        f"1 - cos(W_k - W*, W^mm) {pair(m.one_minus_cos_corrected)}; "
        f"||P_F W_k - W*|| {pair(m.dist_P_F_W_to_w_star)}"
    )
