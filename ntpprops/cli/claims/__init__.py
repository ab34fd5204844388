"""The claims of docs/theory.md, each judged on one analysed instance.

A claim's status is

- ``passed`` / ``failed``: a proven statement whose hypotheses hold, checked numerically;
- ``not_applicable``: its hypotheses fail, decided before the check runs (the reason says
  which, with the evidence);
- ``observed``: what the paper only observes (NGD, Adam); reported, never gating.

Modules: :mod:`._base` (status, facts, registry entry, :func:`judge`), :mod:`._tolerances`,
:mod:`._requirements`, :mod:`._numerics` (shared measurements and the proven-bound gate),
the checks by kind — :mod:`._structure` (definitions, Lemma 1, Remark 1, App. C),
:mod:`._loss` (``W*`` and the loss), :mod:`._direction` (``W^mm``: descent, Theorems 1-2,
Lemma 2), :mod:`._observations` — and :mod:`._registry`, the table of every claim.
"""

from ntpprops.cli.claims._base import STATUSES, Claim, ClaimSpec, Status, applicability, judge
from ntpprops.cli.claims._registry import CLAIMS, check_all, claim_ids

__all__ = [
    "CLAIMS",
    "STATUSES",
    "Claim",
    "ClaimSpec",
    "Status",
    "applicability",
    "check_all",
    "claim_ids",
    "judge",
]
