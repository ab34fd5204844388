"""What App. A only observes (normalised GD, Adam): measured and reported, never gating."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

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


def _last(values: NDArray[np.float64] | None) -> float | None:
    return None if values is None else float(values[-1])


def observe(name: str) -> Callable[[Analysis], Finding[ObservedFacts]]:
    """The check of the optimizer ``name``'s run, next to GD's (required: ``ran(name)``)."""

    def check(a: Analysis) -> Finding[ObservedFacts]:
        run, gd = a.runs[name], a.runs.get("gd")

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
        )
        return Finding(facts)

    return check


def headline_observed(m: ObservedFacts) -> str:
    text = f"CE - H {short(m.excess_final)} (GD {short(m.gd_excess_final)})"
    if m.cos_mm_corrected_final is not None:
        gd = m.gd_cos_mm_corrected_final
        text += (
            f"; 1 - cos(W_k - W*, W^mm) {short(1 - m.cos_mm_corrected_final)} "
            f"(GD {short(1 - (math.nan if gd is None else gd))})"
        )
    return text
