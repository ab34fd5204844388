"""The registry: one entry per claim of docs/theory.md, in report order.

Adding a claim is adding one :class:`~ntpprops.cli.claims._base.ClaimSpec` to
:data:`CLAIMS`: its id, statement, requirements (decided before the check runs), a pure
check over the analysis returning typed facts, and the headline of those facts. A check
that needs a new solve adds it to the analysis (a stage or a control), not to the check.
"""

from __future__ import annotations

from typing import Any

from ntpprops.cli._analysis import Analysis
from ntpprops.cli.claims._base import Claim, ClaimSpec, judge
from ntpprops.cli.claims._direction import (
    check_descent,
    check_lemma2,
    check_thm1,
    check_thm2,
    headline_descent,
    headline_lemma2,
    headline_thm1,
    headline_thm2,
)
from ntpprops.cli.claims._loss import (
    check_fullsupport,
    check_genie,
    check_lemma4,
    check_prop1,
    headline_fullsupport,
    headline_genie,
    headline_lemma4,
    headline_prop1,
)
from ntpprops.cli.claims._observations import headline_observed, observe
from ntpprops.cli.claims._requirements import (
    ALL_FULL,
    COMPATIBLE,
    CORPUS,
    GD_RUN,
    LEMMA1,
    NOT_FULL_IF_COMPATIBLE,
    ONE_HOT,
    PLATEAU,
    REGPATH,
    SEPARABILITY_DECIDED,
    W_MM,
    ran,
)
from ntpprops.cli.claims._structure import (
    check_appc,
    check_def1,
    check_def2,
    check_def3,
    check_lemma1,
    check_remark1,
    headline_appc,
    headline_def1,
    headline_def2,
    headline_def3,
    headline_lemma1,
    headline_remark1,
)

__all__ = ["CLAIMS", "check_all", "claim_ids"]


def _observation(name: str, label: str) -> ClaimSpec[Any]:
    return ClaimSpec(
        f"obs-{name}",
        f"App. A (observed, not proven): {label} shows the same implicit bias as GD "
        "and converges faster",
        ((ran(name),),),
        observe(name),
        headline_observed,
        observed=True,
    )


CLAIMS: tuple[ClaimSpec[Any], ...] = (
    ClaimSpec(
        "def1",
        "Definition 1: Eq. 4 is solvable (compatible) with unique solution W* in F",
        (),
        check_def1,
        headline_def1,
    ),
    ClaimSpec(
        "def2",
        "Definition 2: some W in F-perp has every NTP margin >= 1 (separable)",
        ((SEPARABILITY_DECIDED,),),
        check_def2,
        headline_def2,
    ),
    ClaimSpec(
        "def3",
        "Definition 3: W^mm is the min-norm W with (6a),(6b); it depends only on H and the "
        "supports, not on pi nor on in-support probabilities",
        ((W_MM,),),
        check_def3,
        headline_def3,
    ),
    ClaimSpec(
        "lemma1",
        "Lemma 1: d > m and rank H = m imply compatible and separable",
        ((LEMMA1,),),
        check_lemma1,
        headline_lemma1,
    ),
    ClaimSpec(
        "remark1",
        "Remark 1: one-hot data (all S_j = 1) have H = 0, F = {0}, W* = 0, and W^mm is the "
        "Crammer-Singer hard-margin SVM",
        ((ONE_HOT,),),
        check_remark1,
        headline_remark1,
    ),
    ClaimSpec(
        "prop1",
        "Proposition 1: CE reaches H (in the limit) iff compatible and separable",
        ((NOT_FULL_IF_COMPATIBLE,), (SEPARABILITY_DECIDED,), (PLATEAU,)),
        check_prop1,
        headline_prop1,
    ),
    ClaimSpec(
        "lemma4",
        "Lemma 4.1-4.2: CE_F(W*) = H and W* is the unique minimiser of CE_F on F; "
        "W* does not depend on pi",
        ((COMPATIBLE,),),
        check_lemma4,
        headline_lemma4,
    ),
    ClaimSpec(
        "genie",
        "Genie bound (Eq. 9): CE(W* + R W^mm) <= H + V exp(||W*|| M - R), M = sqrt(2) max ||h_j||",
        ((COMPATIBLE, W_MM),),
        check_genie,
        headline_genie,
    ),
    ClaimSpec(
        "descent",
        "Descent direction (proof of Thm. 1): <-grad CE(W), W^mm> = sum_j pi_j sum_{v not in "
        "S_j} softmax_v(W h_j) (margin of W^mm at (j, v)) > 0 for every finite W",
        ((W_MM,),),
        check_descent,
        headline_descent,
    ),
    ClaimSpec(
        "thm1",
        "Theorem 1: the constrained minimiser W_B lies on ||W|| = B, aligns with W^mm as "
        "B grows, and P_F W_B -> W*",
        ((COMPATIBLE, W_MM), (REGPATH,)),
        check_thm1,
        headline_thm1,
    ),
    ClaimSpec(
        "lemma2",
        "Lemma 2: GD with eta <= 1/(2L) has CE(W_k) -> H, ||W_k|| -> infinity, "
        "||P_perp W_k|| -> infinity, P_F W_k bounded",
        ((COMPATIBLE, W_MM), (GD_RUN,)),
        check_lemma2,
        headline_lemma2,
    ),
    ClaimSpec(
        "thm2",
        "Theorem 2: GD iterates align with W^mm (cos -> 1) and P_F W_k -> W*; the corrected "
        "W_k - W* aligns faster",
        ((COMPATIBLE, W_MM), (GD_RUN,)),
        check_thm2,
        headline_thm2,
    ),
    ClaimSpec(
        "fullsupport",
        "Full supports: if every S_j = V, F-perp gets no update and GD converges to "
        "W* + P_perp W_0",
        ((ALL_FULL,), (GD_RUN,), (COMPATIBLE,)),
        check_fullsupport,
        headline_fullsupport,
    ),
    ClaimSpec(
        "appc",
        "App. C: a corpus reduces to one context per distinct prefix; Shannon: H_t >= H_{t+1}",
        ((CORPUS,),),
        check_appc,
        headline_appc,
    ),
    _observation("ngd", "normalised GD"),
    _observation("adam", "Adam"),
)


def claim_ids() -> tuple[str, ...]:
    """The ids of :data:`CLAIMS`, in report order."""
    return tuple(spec.id for spec in CLAIMS)


def check_all(a: Analysis) -> list[Claim]:
    """Judge every claim of :data:`CLAIMS` on ``a``, in order."""
    return [judge(spec, a) for spec in CLAIMS]
