"""Measures: what a sweep records about each instance, registered like conjectures.

A measure is a function of an :class:`~ntpprops.NTPInstance` returning a mapping from its
declared columns to values. Adding one takes a few lines::

    from ntpprops.sweep import measure

    @measure("rank_h", columns={"rank_h": "int"}, doc="rank of the embeddings")
    def rank_h(inst):
        return {"rank_h": int(np.linalg.matrix_rank(inst.embeddings))}

Solvers cache their results on the instance, so measures that need the same solve (e.g.
``separable`` and ``margin``) pay for it once. A measure that raises records its columns
as missing and the error in the row's ``error`` column: a sweep never stops on one instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

import ntpprops as ntp
from ntpprops._instance import NTPInstance
from ntpprops._separation import raw_margin
from ntpprops._svm_active import SEPARABLE_RTOL

__all__ = ["MEASURES", "ColumnType", "Measure", "get_measure", "measure"]

#: Column types a measure may declare (stored as Parquet bool, int64, float64, string).
ColumnType = Literal["bool", "int", "float", "str"]

#: Every registered measure, by name, in registration order.
MEASURES: dict[str, Measure] = {}


@dataclass(frozen=True)
class Measure:
    """A registered measure.

    Attributes
    ----------
    name : str
    columns : mapping of str to ColumnType
        The columns the function returns, with their types.
    function : callable
        ``function(inst) -> Mapping[str, value]`` with exactly the keys of ``columns``.
    doc : str
        One line for ``ntpprops sweep --list-measures``.
    """

    name: str
    columns: Mapping[str, ColumnType]
    function: Callable[[NTPInstance], Mapping[str, Any]]
    doc: str

    def __call__(self, inst: NTPInstance) -> dict[str, Any]:
        values = dict(self.function(inst))
        if set(values) != set(self.columns):
            raise ValueError(
                f"measure {self.name!r} returned columns {sorted(values)}, "
                f"declared {sorted(self.columns)}"
            )
        return values


#: Columns every row has whatever the measures; a measure may not declare them.
RESERVED = frozenset(
    {
        "m",
        "d",
        "vocab",
        "support",
        "support_law",
        "embedding",
        "pi",
        "trial",
        "seed",
        "base_seed",
        "seconds",
        "error",
        "measures",
        "ntpprops_version",
        "numpy_version",
        "scipy_version",
    }
)


def measure(
    name: str, *, columns: Mapping[str, ColumnType], doc: str = ""
) -> Callable[[Callable[[NTPInstance], Mapping[str, Any]]], Measure]:
    """Decorator registering ``function(inst) -> {column: value}`` as the measure ``name``.

    Raises
    ------
    ValueError
        If ``name`` is taken, a column is reserved or already declared by another measure, or
        a column type is unknown.
    """
    if name in MEASURES:
        raise ValueError(f"measure {name!r} is already registered")
    taken = {c: other.name for other in MEASURES.values() for c in other.columns}
    for column, kind in columns.items():
        if column in RESERVED:
            raise ValueError(f"measure {name!r}: column {column!r} is reserved")
        if column in taken:
            raise ValueError(f"measure {name!r}: column {column!r} belongs to {taken[column]!r}")
        if kind not in ("bool", "int", "float", "str"):
            raise ValueError(f"measure {name!r}: column {column!r} has unknown type {kind!r}")

    def register(function: Callable[[NTPInstance], Mapping[str, Any]]) -> Measure:
        entry = Measure(name, dict(columns), function, doc or (function.__doc__ or "").strip())
        MEASURES[name] = entry
        return entry

    return register


def get_measure(name: str) -> Measure:
    """The registered measure ``name``.

    Raises
    ------
    KeyError
        Naming the known measures.
    """
    try:
        return MEASURES[name]
    except KeyError:
        known = ", ".join(MEASURES)
        raise KeyError(f"unknown measure {name!r}; known measures: {known}") from None


#: A witness counts as checked when its component in F is below this fraction of its norm:
#: the relative scale at which :func:`ntpprops.is_separable` decides (``SEPARABLE_RTOL``).
WITNESS_F_RTOL = 1e-8


@measure(
    "separable",
    columns={"separable": "bool", "certificate_checked": "bool", "certificate_bound": "float"},
    doc="NTP-separable (Def. 2), its witness or Farkas certificate checked without a solver",
)
def _separable(inst: NTPInstance) -> dict[str, Any]:
    """Separable or not; ``certificate_checked`` re-checks the evidence solver-free.

    Separable: the witness has every raw margin ``>= 1`` and ``||P_F W|| <= 1e-8 ||W||``.
    Not separable: the certificate's bound (no separator has ``||W||`` below it) is at least
    ``1 / (SEPARABLE_RTOL max_i ||A_i||)``, the decision threshold of :func:`is_separable`.
    """
    result = ntp.is_separable(inst)
    if result.separable:
        W = result.witness
        assert W is not None
        norm = float(np.linalg.norm(W))
        in_f = float(np.linalg.norm(ntp.project_f(inst, W)))
        margin_ok = norm == 0.0 or raw_margin(inst, W) >= 1.0
        checked = bool(margin_ok and in_f <= WITNESS_F_RTOL * max(norm, 1.0))
        return {"separable": True, "certificate_checked": checked, "certificate_bound": np.nan}
    assert result.certificate is not None
    bound = ntp.separability_certificate_bound(inst, result.certificate)
    atoms = ntp.separation_atoms(inst)
    scale = float(np.max(np.linalg.norm(inst.embeddings[atoms.ctx], axis=1))) * np.sqrt(2.0)
    checked = bool(bound >= 1.0 / (SEPARABLE_RTOL * scale))
    return {"separable": False, "certificate_checked": checked, "certificate_bound": bound}


@measure(
    "compatible",
    columns={"compatible": "bool", "compat_residual": "float"},
    doc="NTP_H-compatible (Def. 1) and the residual of W* on the in-support log-ratios",
)
def _compatible(inst: NTPInstance) -> dict[str, Any]:
    result = ntp.is_compatible(inst)
    return {"compatible": bool(result.compatible), "compat_residual": float(result.residual)}


@measure(
    "margin",
    columns={"margin": "float", "w_mm_norm": "float"},
    doc="the NTP-SVM margin 1/||W^mm|| and ||W^mm|| (NaN when not separable)",
)
def _margin(inst: NTPInstance) -> dict[str, Any]:
    result = ntp.is_separable(inst)
    if not result.separable:
        return {"margin": np.nan, "w_mm_norm": np.nan}
    svm = ntp.ntp_svm_result(inst)
    # svm.margin, not result.margin: a large instance may be decided by a separator, whose
    # margin only brackets 1 / ||W^mm|| (SeparabilityResult.margin_upper).
    return {"margin": float(svm.margin), "w_mm_norm": float(np.linalg.norm(svm.W))}


@measure("fdim", columns={"f_dim": "int"}, doc="dim F (Eq. 5)")
def _fdim(inst: NTPInstance) -> dict[str, Any]:
    return {"f_dim": int(ntp.f_dimension(inst))}


#: Wall-time budget of ``certify_gd_bias`` per instance in the ``certify`` measure.
CERTIFY_BUDGET = 20.0


@measure(
    "certify",
    columns={"certified": "bool", "certify_steps": "int", "certify_seconds": "float"},
    doc=f"certify_gd_bias (Thm. 2) where compatible and separable ({CERTIFY_BUDGET:.0f} s budget)",
)
def _certify(inst: NTPInstance) -> dict[str, Any]:
    if not (ntp.is_separable(inst).separable and ntp.is_compatible(inst).compatible):
        return {"certified": None, "certify_steps": None, "certify_seconds": np.nan}
    report = ntp.certify_gd_bias(inst, time_budget=CERTIFY_BUDGET)
    return {
        "certified": bool(report),
        "certify_steps": int(report.steps[-1]) if len(report.steps) else 0,
        "certify_seconds": float(report.wall_time),
    }
