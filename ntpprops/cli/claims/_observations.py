"""What App. A only observes (normalised GD, Adam): measured and reported, never gating.

Besides the comparison with GD and ``W^mm``, each run is measured in every norm of issue 11:
the normalised margin of ``P_perp W_K`` as a fraction of the certified optimum in ``l2``,
``max``, ``l1`` and ``spectral``, and which norm's optimum it approaches (the analysis's
:class:`~ntpprops.cli._norms.NormMargins`; the check only reads it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ntpprops._svm_norms import NORMS
from ntpprops.cli._analysis import Analysis
from ntpprops.cli._format import short
from ntpprops.cli.claims._base import OMIT_NONE, Facts, Finding

__all__ = ["ObservedFacts", "headline_observed", "observe"]


@dataclass(frozen=True)
class ObservedFacts(Facts):
    lr: float
    excess_final: float
    norm_final: float
    gd_excess_final: float | None = field(default=None, metadata=OMIT_NONE)
    cos_mm_final: float | None = field(default=None, metadata=OMIT_NONE)
    gd_cos_mm_final: float | None = field(default=None, metadata=OMIT_NONE)
    cos_mm_corrected_final: float | None = field(default=None, metadata=OMIT_NONE)
    gd_cos_mm_corrected_final: float | None = field(default=None, metadata=OMIT_NONE)
    dist_f_wstar_final: float | None = field(default=None, metadata=OMIT_NONE)
    gd_dist_f_wstar_final: float | None = field(default=None, metadata=OMIT_NONE)
    #: Norm-aware facts (issue 11): every norm is in ``margin_fraction`` or ``norms_skipped``.
    margin_fraction: dict[str, float] = field(default_factory=dict)
    margin_lead: dict[str, float] = field(default_factory=dict)
    approached_norm: str | None = None
    approached_reason: str = ""
    norm_optimum: dict[str, float] = field(default_factory=dict)
    norms_skipped: dict[str, str] = field(default_factory=dict)
    eq4_residual_final: float | None = field(default=None, metadata=OMIT_NONE)
    gd_margin_fraction: dict[str, float] | None = field(default=None, metadata=OMIT_NONE)


def _last(values: NDArray[np.float64] | None) -> float | None:
    return None if values is None else float(values[-1])


def observe(name: str) -> Callable[[Analysis], Finding[ObservedFacts]]:
    """The check of the optimizer ``name``'s run, next to GD's (required: ``ran(name)``)."""

    def check(a: Analysis) -> Finding[ObservedFacts]:
        run, gd = a.runs[name], a.runs.get("gd")
        norms = a.norms
        mine = norms.runs.get(name)
        gd_norms = norms.runs.get("gd") if gd is not None else None

        facts = ObservedFacts(
            float(run.lr),
            float(run.excess_loss[-1]),
            float(run.norm[-1]),
            None if gd is None else float(gd.excess_loss[-1]),
            _last(run.cos_mm),
            None if gd is None or run.cos_mm is None else _last(gd.cos_mm),
            _last(run.cos_mm_corrected),
            None if gd is None or run.cos_mm_corrected is None else _last(gd.cos_mm_corrected),
            _last(run.dist_f_wstar),
            None if gd is None or run.dist_f_wstar is None else _last(gd.dist_f_wstar),
            margin_fraction={} if mine is None else dict(mine.fractions),
            margin_lead={} if mine is None else dict(mine.leads),
            approached_norm=None if mine is None else mine.approached,
            approached_reason="the analysis measured no norm margins"
            if mine is None
            else mine.reason,
            norm_optimum=dict(norms.optima),
            norms_skipped=dict(norms.skipped),
            eq4_residual_final=None if mine is None else mine.eq4_residual,
            gd_margin_fraction=None if gd_norms is None else dict(gd_norms.fractions),
        )
        return Finding(facts)

    return check


#: Short names of the norms in the headline.
NORM_LABELS = {"l2": "l2", "max": "max", "l1": "l1", "spectral": "spec"}


def headline_norms(m: ObservedFacts) -> str:
    """``margin/opt l2 0.67 max 0.33 l1 0.59 spec 0.57 -> none`` (skipped norms: ``n/a``)."""
    if not m.margin_fraction:
        reasons = set(m.norms_skipped.values())
        if len(reasons) == 1 and len(reason := reasons.pop()) <= 80:
            return f"no norm optimum: margin/opt n/a, {reason}"
        return "no norm optimum (norms_skipped says why)"
    parts = [
        f"{NORM_LABELS.get(q, q)} {short(m.margin_fraction[q])}"
        if q in m.margin_fraction
        else f"{NORM_LABELS.get(q, q)} n/a"
        for q in NORMS
        if q in m.margin_fraction or q in m.norms_skipped
    ]
    return f"margin/opt {' '.join(parts)} -> {m.approached_norm or 'none'}"


def headline_observed(m: ObservedFacts) -> str:
    text = f"{headline_norms(m)}; CE - H {short(m.excess_final)} (GD {short(m.gd_excess_final)})"
    if m.cos_mm_corrected_final is not None:
        gd = m.gd_cos_mm_corrected_final
        text += (
            f"; 1 - cos(W_k - W*, W^mm) {short(1 - m.cos_mm_corrected_final)} "
            f"(GD {short(1 - (math.nan if gd is None else gd))})"
        )
    return text
