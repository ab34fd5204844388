"""Structural claims: Definitions 1-3, Lemma 1, Remark 1 and App. C's corpus reduction."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from ntpprops._compat import incompatibility_bound
from ntpprops._loss import logits
from ntpprops._separability import separability_certificate_bound
from ntpprops._subspace import f_dimension, project_f_perp
from ntpprops.cli._analysis import Analysis
from ntpprops.cli._format import short
from ntpprops.cli.claims._base import OMIT_NONE, Facts, Finding
from ntpprops.cli.claims._numerics import out_margins, rel, support_spread
from ntpprops.cli.claims._tolerances import QP_RTOL, SOLVE_RTOL

__all__ = [
    "check_appc",
    "check_def1",
    "check_def2",
    "check_def3",
    "check_lemma1",
    "check_remark1",
]


@dataclass(frozen=True)
class Def1Solved(Facts):
    compatible: bool
    eq4_max_residual: float
    norm_w_star: float
    norm_perp_w_star: float
    tolerance: float


@dataclass(frozen=True)
class Def1Certified(Facts):
    compatible: bool
    certificate_norm: float
    solution_norm_lower_bound: float


def check_def1(a: Analysis) -> Finding[Def1Solved | Def1Certified]:
    inst, compat = a.inst, a.compat
    if compat.compatible and compat.w_star is not None:
        W = compat.w_star
        scores = logits(inst, W)
        # Eq. 4 on *every* in-support pair, not only the anchored generators W* was solved on.
        log_p = np.log(np.where(inst.supports, inst.probs, 1.0))
        gap = np.where(inst.supports, scores - log_p, np.nan)
        residual = float(np.nanmax(np.nanmax(gap, 1) - np.nanmin(gap, 1)))
        scale = 1.0 + float(np.max(np.abs(log_p)))
        perp = float(np.linalg.norm(project_f_perp(inst, W)))
        tol = SOLVE_RTOL * scale * max(1.0, float(np.linalg.norm(W)))
        facts = Def1Solved(True, residual, float(np.linalg.norm(W)), perp, tol)
        return Finding(facts, residual <= tol and perp <= tol)
    assert compat.certificate is not None
    bound = incompatibility_bound(inst, compat.certificate)
    reason = (
        "not compatible: the certificate y (y.b = 1) shows every solution of Eq. 4 would need "
        f"||W|| >= {bound:.3g}"
    )
    return Finding(Def1Certified(False, compat.certificate_norm, bound), bound > 0, reason)


def headline_def1(m: Def1Solved | Def1Certified) -> str:
    if isinstance(m, Def1Solved):
        return (
            f"Eq. 4 residual {short(m.eq4_max_residual)}, ||P_perp W*|| {short(m.norm_perp_w_star)}"
        )
    return f"certificate: every solution has ||W|| >= {short(m.solution_norm_lower_bound)}"


@dataclass(frozen=True)
class Def2Witness(Facts):
    separable: bool
    witness_support_spread: float
    witness_min_margin: float
    margin: float
    tolerance: float


@dataclass(frozen=True)
class Def2Certified(Facts):
    separable: bool
    certificate_norm: float
    separator_norm_lower_bound: float


def check_def2(a: Analysis) -> Finding[Def2Witness | Def2Certified]:
    inst, sep = a.inst, a.sep
    assert sep is not None  # required: SEPARABILITY_DECIDED
    if sep.separable:
        assert sep.witness is not None
        scores = logits(inst, sep.witness)
        spread = support_spread(inst, scores)
        margins = out_margins(inst, scores)
        min_margin = float(margins.min()) if margins.size else float("inf")
        tol = SOLVE_RTOL * max(1.0, float(np.abs(scores).max()))
        ok = spread <= tol and min_margin >= 1.0 - tol
        return Finding(Def2Witness(True, spread, min_margin, float(sep.margin), tol), ok)
    assert sep.certificate is not None
    bound = separability_certificate_bound(inst, sep.certificate)
    reason = (
        "not separable: the Farkas certificate shows no separator in F-perp has "
        f"||W|| < {bound:.3g}"
    )
    facts = Def2Certified(False, float(sep.certificate_norm), bound)
    return Finding(facts, bound > 0, reason)


def headline_def2(m: Def2Witness | Def2Certified) -> str:
    if isinstance(m, Def2Witness):
        return (
            f"witness margin {short(m.witness_min_margin)}, support spread "
            f"{short(m.witness_support_spread)}"
        )
    return f"certificate: every separator has ||W|| >= {short(m.separator_norm_lower_bound)}"


@dataclass(frozen=True)
class Def3Facts(Facts):
    norm_w_mm: float
    min_margin: float
    support_spread: float
    witness_norm: float
    kkt_ok: bool
    #: None when the re-solve was skipped for the stage budget (see the reason).
    relative_change_other_pi_and_p: float | None
    tolerance: float


def check_def3(a: Analysis) -> Finding[Def3Facts]:
    inst, svm, sep = a.inst, a.svm, a.sep
    assert svm is not None and sep is not None and sep.witness is not None  # required: W_MM
    W = svm.W
    scores = logits(inst, W)
    spread = support_spread(inst, scores)
    margins = out_margins(inst, scores)
    min_margin = float(margins.min()) if margins.size else float("inf")
    norm = float(np.linalg.norm(W))
    # Any feasible point (the separability witness) is at least as long as the minimiser.
    witness_norm = float(np.linalg.norm(sep.witness))
    # Re-solved with other pi and other in-support values (the controls): same supports, so
    # the same W^mm.
    other = a.controls.w_mm_other_probs
    moved = None if other is None else rel(other, W)
    kkt_ok = svm.kkt is not None and svm.kkt.ok  # verify solves the l2 NTP-SVM (a KKT report)
    ok = (
        kkt_ok
        and spread <= QP_RTOL * max(1.0, float(np.abs(scores).max()))
        and abs(min_margin - 1.0) <= QP_RTOL
        and norm <= witness_norm * (1 + QP_RTOL)
        and (moved is None or moved <= 10 * QP_RTOL)
    )
    reason = "; ".join(why for claim, why in a.controls.skipped if claim == "def3")
    facts = Def3Facts(norm, min_margin, spread, witness_norm, kkt_ok, moved, QP_RTOL)
    return Finding(facts, ok, reason)


def headline_def3(m: Def3Facts) -> str:
    return (
        f"||W^mm|| {short(m.norm_w_mm)}, min margin {short(m.min_margin)}, KKT "
        f"{'ok' if m.kkt_ok else 'FAILED'}, change with other pi/p "
        f"{short(m.relative_change_other_pi_and_p)}"
    )


@dataclass(frozen=True)
class Lemma1Facts(Facts):
    m: int
    d: int
    rank_H: int
    compatible: bool
    separable: bool | None


def check_lemma1(a: Analysis) -> Finding[Lemma1Facts]:
    inst = a.inst
    rank = int(np.linalg.matrix_rank(inst.embeddings))
    # rank H = m (required): the separability test takes Lemma 1's route, which always decides.
    facts = Lemma1Facts(inst.m, inst.dim, rank, bool(a.compat.compatible), a.separable)
    return Finding(facts, bool(a.compat.compatible) and bool(a.separable))


def headline_lemma1(m: Lemma1Facts) -> str:
    return f"d={m.d} > m={m.m}, rank {m.rank_H}: compatible={m.compatible}, separable={m.separable}"


@dataclass(frozen=True)
class Remark1Facts(Facts):
    entropy: float
    f_dim: int
    norm_w_star: float | None
    relative_gap_to_crammer_singer: float | None = field(default=None, metadata=OMIT_NONE)


def check_remark1(a: Analysis) -> Finding[Remark1Facts]:
    inst, w_star = a.inst, a.w_star
    norm_w_star = None if w_star is None else float(np.linalg.norm(w_star))
    f_dim = f_dimension(inst)
    ok = inst.entropy == 0.0 and f_dim == 0 and norm_w_star == 0.0
    gap = None
    cs, w_mm = a.controls.crammer_singer, a.w_mm
    if cs is not None and w_mm is not None:
        gap = rel(cs, w_mm)
        ok = ok and gap <= 10 * QP_RTOL
    return Finding(Remark1Facts(inst.entropy, f_dim, norm_w_star, gap), ok)


def headline_remark1(m: Remark1Facts) -> str:
    return f"H={short(m.entropy)}, dim F={m.f_dim}"


@dataclass(frozen=True)
class AppCFacts(Facts):
    entropy_by_context_length: dict[str, float]
    prediction_events: int
    events_in_instance: int | None


def check_appc(a: Analysis) -> Finding[AppCFacts]:
    corpus = a.corpus
    assert corpus is not None  # required: CORPUS
    values = list(corpus.entropy_by_context_length.values())
    # Empirical entropies are sums of m terms: rounding is a few eps times H.
    tol = 1e-12 * max(1.0, max(values))
    ok = all(h1 <= h0 + tol for h0, h1 in pairwise(values))
    counted = corpus.instance_events
    if counted is not None:
        ok = ok and counted == corpus.prediction_events
    entropies = dict(corpus.entropy_by_context_length)
    return Finding(AppCFacts(entropies, corpus.prediction_events, counted), ok)


def headline_appc(m: AppCFacts) -> str:
    return f"H_t for t = 0..: {short(list(m.entropy_by_context_length.values()))}"
