"""The KKT certificate of an NTP-SVM solution (Definition 3), read off the instance only.

``W^mm = argmin ||W||_F`` subject to (6a) ``W in F^perp`` and (6b) ``<W, A_i> >= 1`` for the
out-of-support atoms ``A_i`` of :func:`ntpprops._separation.separation_atoms`. It is a
strongly convex QP, so the KKT conditions are necessary and sufficient: with multipliers
``lambda >= 0`` on (6b),

- primal feasibility: ``<W, A_i> >= 1`` and ``P_F W = 0``;
- dual feasibility: ``lambda >= 0``;
- complementarity: ``lambda_i (<W, A_i> - 1) = 0``;
- stationarity: ``W = P_perp(sum_i lambda_i A_i)``.

:func:`kkt_report` evaluates them from ``(W, lambda)`` alone, whatever produced them. It sits
below every solver (:mod:`ntpprops._svm_active`, :mod:`ntpprops._svm`), which import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ntpprops._atoms import atom_values
from ntpprops._embedding_ops import embedding_operator, logits_of, pull_back
from ntpprops._instance import NTPInstance
from ntpprops._separation import perp_combination, separation_atoms
from ntpprops._subspace import project_f_coefficients

__all__ = ["KKT_RTOL", "KKTReport", "kkt_report"]

FloatArray = NDArray[np.float64]

#: Relative tolerance every KKT residual of a returned ``W^mm`` must meet.
KKT_RTOL = 1e-8


@dataclass(frozen=True)
class KKTReport:
    """Relative KKT residuals of an NTP-SVM solution ``(W, lambda)``.

    Attributes
    ----------
    primal_infeasibility : float
        ``max(max_i (1 - <W, A_i>)^+, ||P_F W|| / ||W||)`` (margins are measured against the
        target 1, so the first term is already relative).
    dual_infeasibility : float
        ``max_i (-lambda_i)^+ / max_i |lambda_i|``.
    complementarity : float
        ``max_i |lambda_i (<W, A_i> - 1)| / max_i |lambda_i|``.
    stationarity : float
        ``||W - P_perp(sum_i lambda_i A_i)|| / ||W||``.
    ok : bool
        Every residual is at most :data:`KKT_RTOL`.
    """

    primal_infeasibility: float
    dual_infeasibility: float
    complementarity: float
    stationarity: float
    ok: bool

    @property
    def worst(self) -> float:
        """The largest of the four residuals."""
        return max(
            self.primal_infeasibility,
            self.dual_infeasibility,
            self.complementarity,
            self.stationarity,
        )


def kkt_report(inst: NTPInstance, W: FloatArray, duals: FloatArray) -> KKTReport:
    """Relative KKT residuals of ``(W, duals)`` for Definition 3, read off the instance only.

    Parameters
    ----------
    inst : NTPInstance
    W : ndarray, shape (V, d)
    duals : ndarray, shape (n_out,)

    Returns
    -------
    KKTReport
    """
    atoms = separation_atoms(inst)
    H = embedding_operator(inst)
    scores = logits_of(H, W)
    margins = atom_values(atoms, scores)
    w_norm = float(np.linalg.norm(W))
    if w_norm == 0.0:
        return KKTReport(np.inf, np.inf, np.inf, np.inf, False)
    in_f = pull_back(H, project_f_coefficients(inst, scores))
    primal = max(float(np.max(1.0 - margins, initial=0.0)), float(np.linalg.norm(in_f)) / w_norm)
    lam_scale = float(np.max(np.abs(duals), initial=0.0))
    if lam_scale == 0.0:
        return KKTReport(primal, np.inf, np.inf, np.inf, False)
    dual = max(0.0, float(np.max(-duals, initial=0.0))) / lam_scale
    comp = float(np.max(np.abs(duals * (margins - 1.0)))) / lam_scale
    stat = float(np.linalg.norm(W - perp_combination(inst, duals))) / w_norm
    ok = max(primal, dual, comp, stat) <= KKT_RTOL
    return KKTReport(primal, dual, comp, stat, bool(ok))
