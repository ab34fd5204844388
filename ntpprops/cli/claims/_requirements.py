"""The hypotheses and stages claims require, each with the reason it gives when unmet."""

from __future__ import annotations

from typing import Any

import numpy as np

from ntpprops._compat import incompatibility_bound
from ntpprops._separability import separability_certificate_bound
from ntpprops.cli._analysis import Analysis, no_svm_reason
from ntpprops.cli.claims._base import Requirement

__all__ = [
    "ALL_FULL",
    "COMPATIBLE",
    "CORPUS",
    "GD_RUN",
    "LEMMA1",
    "NOT_FULL_IF_COMPATIBLE",
    "ONE_HOT",
    "PLATEAU",
    "REGPATH",
    "SEPARABILITY_DECIDED",
    "W_MM",
    "failing_conditions",
    "not_compatible_reason",
    "ran",
]


def all_full(a: Analysis) -> bool:
    """Whether every support is the whole vocabulary (``S_j = V``)."""
    return bool(np.all(a.inst.supports))


def undecided_reason(a: Analysis) -> str:
    """The claim needs the separability verdict, which the solver could not reach."""
    return f"needs the NTP-separability verdict, undecided at this size: {a.sep_error}"


def not_separable_reason(a: Analysis) -> str:
    assert a.sep is not None and a.sep.certificate is not None
    bound = separability_certificate_bound(a.inst, a.sep.certificate)
    return (
        "needs NTP-separability, which fails: the Farkas certificate proves every separator "
        f"has ||W|| >= {bound:.3g}"
    )


def not_compatible_reason(a: Analysis) -> str:
    assert a.compat.certificate is not None
    bound = incompatibility_bound(a.inst, a.compat.certificate)
    return (
        "needs NTP_H-compatibility, which fails: the certificate proves every solution of "
        f"Eq. 4 has ||W|| >= {bound:.3g}"
    )


def _no_w_mm(a: Analysis) -> str | None:
    """Why ``W^mm`` is missing: full supports (nothing to separate), not separable, or
    separable by a separator with ``W^mm`` beyond the stage (large instances)."""
    if a.svm is not None:
        return None
    if all_full(a):
        return (
            "every support is full (S_j = V): nothing diverges and W^mm does not exist "
            "(see fullsupport)"
        )
    if a.sep is None:
        return undecided_reason(a)
    if a.sep.separable:
        return "needs W^mm, " + no_svm_reason(a.inst, a.sep, a.sep_error)
    return not_separable_reason(a)


def failing_conditions(a: Analysis) -> str:
    """Which of compatibility and separability fail, with their certificates' norms."""
    parts = []
    if not a.compat.compatible:
        parts.append(f"not compatible (certificate norm {a.compat.certificate_norm:.3g})")
    if a.sep is None:
        parts.append("separability undecided")
    elif not a.sep.separable:
        parts.append(f"not separable (certificate norm {float(a.sep.certificate_norm):.3g})")
    return " and ".join(parts)


def _lemma1_evidence(a: Analysis) -> dict[str, Any]:
    inst = a.inst
    return {"m": inst.m, "d": inst.dim, "rank_H": int(np.linalg.matrix_rank(inst.embeddings))}


def _lemma1(a: Analysis) -> str | None:
    inst = a.inst
    rank = int(np.linalg.matrix_rank(inst.embeddings))
    if inst.dim <= inst.m:
        return f"d = {inst.dim} <= m = {inst.m}"
    return f"rank H = {rank} < m" if rank < inst.m else None


def _one_hot(a: Analysis) -> str | None:
    many = int(np.sum(a.inst.support_sizes > 1))
    return f"{many} of {a.inst.m} contexts have S_j > 1" if many else None


def _all_full(a: Analysis) -> str | None:
    inst = a.inst
    short = inst.m - int(np.sum(inst.support_sizes == inst.vocab_size))
    return f"{short} of {inst.m} contexts have S_j < V" if short else None


def _not_full_if_compatible(a: Analysis) -> str | None:
    if a.compat.compatible and all_full(a):
        return "every support is full (S_j = V): H is attained at W* (see fullsupport)"
    return None


def _plateau(a: Analysis) -> str | None:
    converse = not (a.compat.compatible and a.separable)
    if converse and len(a.plateau) < 2:
        return f"{failing_conditions(a)}; GD was not run"
    return None


def ran(name: str) -> Requirement:
    """The optimizer ``name`` was run."""
    return Requirement(f"{name} run", lambda a: None if name in a.runs else f"{name} not run")


COMPATIBLE = Requirement(
    "compatible", lambda a: None if a.compat.compatible else not_compatible_reason(a)
)
W_MM = Requirement("W^mm exists", _no_w_mm)
SEPARABILITY_DECIDED = Requirement(
    "separability decided", lambda a: undecided_reason(a) if a.sep is None else None
)
LEMMA1 = Requirement("d > m and rank H = m", _lemma1, _lemma1_evidence)
ONE_HOT = Requirement("one-hot (every S_j = 1)", _one_hot)
ALL_FULL = Requirement("full supports (every S_j = V)", _all_full)
NOT_FULL_IF_COMPATIBLE = Requirement("some S_j < V", _not_full_if_compatible)
GD_RUN = Requirement("GD run", lambda a: None if "gd" in a.runs else "GD was not run")
REGPATH = Requirement(
    "regularisation path", lambda a: None if a.regpath is not None else a.regpath_error or "no path"
)
PLATEAU = Requirement("GD plateau (converse)", _plateau)
CORPUS = Requirement(
    "corpus input", lambda a: None if a.corpus is not None else "input is not a corpus"
)
