"""The parts of a claim: status, facts, requirements, the registry entry and its verdict.

A claim is one :class:`ClaimSpec`: an id, the statement, the requirements that decide
before anything runs whether it applies (as scikit-learn's ``_yield_checks`` decides from
tags which checks to yield), a pure ``check`` over the frozen analysis returning typed
:class:`Facts`, and a ``headline`` that digests those facts in one line. :func:`judge`
turns an entry and an analysis into the :class:`Claim` row of the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar, get_args

from ntpprops.cli._analysis import Analysis

__all__ = [
    "OMIT_NONE",
    "STATUSES",
    "Claim",
    "ClaimSpec",
    "Facts",
    "Finding",
    "Requirement",
    "Status",
    "applicability",
    "judge",
]

Status = Literal["passed", "failed", "not_applicable", "observed"]
STATUSES: tuple[Status, ...] = get_args(Status)

#: Metadata of a :class:`Facts` field left out of ``measured`` while ``None``:
#: ``field(default=None, metadata=OMIT_NONE)``.
OMIT_NONE: Mapping[str, bool] = MappingProxyType({"omit_none": True})


@dataclass(frozen=True)
class Facts:
    """Base of the typed measurements of a claim; field names are the ``measured`` keys.

    A field holding another :class:`Facts` is merged into the parent's keys; a field with
    ``metadata=OMIT_NONE`` is left out while ``None``.
    """

    def measured(self) -> dict[str, Any]:
        """The measurements as the ``measured`` object of ``report.json``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Facts):
                out |= value.measured()
            elif not (value is None and f.metadata.get("omit_none")):
                out[f.name] = value
        return out


F = TypeVar("F", bound=Facts)


@dataclass(frozen=True)
class Finding(Generic[F]):
    """What a check found: its facts, whether the statement held, and notes for the reason.

    ``ok`` is ignored for observations (status ``observed``); ``statement`` overrides the
    entry's when the claim states a different case (Proposition 1 and its converse).
    """

    facts: F
    ok: bool = True
    reason: str = ""
    statement: str = ""


@dataclass(frozen=True)
class Requirement:
    """A hypothesis or stage a claim needs; ``unmet`` says why it fails (``None``: it holds).

    ``evidence``, when given, is what the requirement was decided on (e.g. ``d``, ``m`` and
    ``rank H`` for Lemma 1): the ``measured`` of the claim when the requirement fails.
    """

    name: str
    unmet: Callable[[Analysis], str | None]
    evidence: Callable[[Analysis], dict[str, Any]] | None = None


#: The requirements of a claim: groups checked in order; the first group with an unmet
#: requirement makes the claim ``not_applicable``, with the reasons of that group joined.
Requirements = tuple[tuple[Requirement, ...], ...]


@dataclass(frozen=True)
class ClaimSpec(Generic[F]):
    """One registry entry.

    Attributes
    ----------
    id : str
        The report's tag (``def1``, ``thm2``, ``obs-adam``, ...).
    statement : str
        The statement, with its place in docs/theory.md.
    requires : tuple of tuple of Requirement
        Groups of requirements (see :data:`Requirements`).
    check : callable
        ``check(analysis) -> Finding[F]``; called only when every requirement holds. Pure:
        it reads the analysis and solves nothing.
    headline : callable
        ``headline(facts) -> str``: the one-line digest of the terminal table.
    observed : bool
        What the paper only observes: status ``observed``, never gating.
    """

    id: str
    statement: str
    requires: Requirements
    check: Callable[[Analysis], Finding[F]]
    headline: Callable[[F], str]
    observed: bool = False


@dataclass(frozen=True)
class Claim:
    """One row of the report."""

    id: str
    statement: str
    status: Status
    measured: Mapping[str, Any]
    reason: str = ""
    headline: str = ""

    @property
    def gating(self) -> bool:
        return self.status in ("passed", "failed")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "status": self.status,
            "measured": dict(self.measured),
            "reason": self.reason,
        }


def _unmet(spec: ClaimSpec[Any], a: Analysis) -> list[tuple[Requirement, str]]:
    """The unmet requirements of the first group that has any, with their reasons."""
    for group in spec.requires:
        unmet = [(req, why) for req in group if (why := req.unmet(a)) is not None]
        if unmet:
            return unmet
    return []


def applicability(spec: ClaimSpec[Any], a: Analysis) -> str:
    """Why ``spec`` does not apply to ``a`` (empty when it does), before anything runs."""
    return "; ".join(why for _, why in _unmet(spec, a))


def judge(spec: ClaimSpec[F], a: Analysis) -> Claim:
    """Decide applicability, then run the check and digest its facts."""
    unmet = _unmet(spec, a)
    if unmet:
        why = "; ".join(reason for _, reason in unmet)
        evidence: dict[str, Any] = {}
        for req, _ in unmet:
            if req.evidence is not None:
                evidence |= req.evidence(a)
        return Claim(spec.id, spec.statement, "not_applicable", evidence, why, why)
    found = spec.check(a)
    status: Status = "observed" if spec.observed else ("passed" if found.ok else "failed")
    return Claim(
        spec.id,
        found.statement or spec.statement,
        status,
        found.facts.measured(),
        found.reason,
        spec.headline(found.facts),
    )
