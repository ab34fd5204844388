"""The reference NTP-SVM: Definition 3 posed directly in cvxpy and solved by Clarabel.

Variables: ``X`` (V, r) with ``W = X V_r^T`` over the rank-r factor ``H = B V_r^T``
(``B = U_r S_r``), and the support logits ``t`` (m,). With logits ``L = B X^T``:

    min ||X||_F^2   s.t.  L[j, z] = t_j  (z in S_j),   L[j, v] <= t_j - 1  (v not in S_j),

all constraints vectorised over flat indices of ``vec(L)``. The row space of ``H`` holds
``W^mm`` (any component orthogonal to it changes no constraint and adds norm), so nothing is
lost. The duals of the inequalities are the multipliers of (6b) in the order of
:func:`ntpprops._separation.separation_atoms` (row-major: context, then token).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from ntpprops._errors import SolverError
from ntpprops._instance import NTPInstance
from ntpprops._separation import separation_atoms
from ntpprops._svm_active import polish_from, reduced_factor

__all__ = ["CLARABEL_SETTINGS", "solve_cvxpy"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Clarabel tolerances: tight, so that the active set read off the duals is right.
CLARABEL_SETTINGS = {
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "tol_ktratio": 1e-10,
    "max_iter": 500,
}

#: Retried with this static regularisation when Clarabel fails: its default (1e-8) hit a
#: NumericalError on a degenerate one-hot instance (tests/test_svm_dual.py) that 1e-7 solves
#: to 1e-12, while 1e-7 itself fails on contexts whose norms differ by 10^3 (tests/test_svm.py).
RETRY_SETTINGS = {**CLARABEL_SETTINGS, "static_regularization_constant": 1e-7}

#: A multiplier above this fraction of the largest counts as active when polishing.
ACTIVE_DUAL_RTOL = 1e-7


def solve_cvxpy(
    inst: NTPInstance, *, polish: bool = True
) -> tuple[FloatArray, FloatArray, BoolArray] | None:
    """Solve Definition 3 with cvxpy + Clarabel.

    Parameters
    ----------
    inst : NTPInstance
    polish : bool
        Re-solve the KKT equalities exactly on Clarabel's active set (then drop/add atoms as
        the active-set method does). ``False`` returns Clarabel's raw answer (accurate to its
        tolerances, about ``1e-8`` relative): the independent cross-check used in tests.

    Returns
    -------
    (W, duals, active) or None
        ``None`` when Clarabel certifies the problem infeasible (not separable).

    Raises
    ------
    SolverError
        On any other solver status.
    """
    import cvxpy as cp  # lazily: a heavy package, needed only by this reference method

    B, Vt = reduced_factor(inst)
    m, V = inst.m, inst.vocab_size
    supports = inst.supports
    sup_j, sup_z = np.nonzero(supports)
    out_j, out_v = np.nonzero(~supports)
    X = cp.Variable((V, B.shape[1]))
    t = cp.Variable(m)
    flat = cp.vec(B @ X.T, order="C")
    equal = flat[sup_j * V + sup_z] == t[sup_j]
    below = flat[out_j * V + out_v] <= t[out_j] - 1.0
    problem = cp.Problem(cp.Minimize(cp.sum_squares(X)), [equal, below])
    for settings in (CLARABEL_SETTINGS, RETRY_SETTINGS):
        try:
            with warnings.catch_warnings():
                # "Solution may be inaccurate": the status is checked below and the answer is
                # polished and KKT-verified anyway.
                warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
                problem.solve(solver=cp.CLARABEL, **settings)
            break
        except cp.error.SolverError as exc:
            if settings is RETRY_SETTINGS:
                raise SolverError(
                    f"Clarabel failed on the NTP-SVM ({exc}); try method='active-set'"
                ) from exc
    if problem.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        return None
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or X.value is None:
        raise SolverError(
            f"Clarabel returned status {problem.status!r} on the NTP-SVM; try method='active-set'"
        )
    # cvxpy's dual of f(x) <= g(x) is the non-negative multiplier; the sum_squares objective
    # is ||X||^2 = 2 * (1/2 ||W||^2), so the multipliers of Definition 3 are half of them.
    duals = np.maximum(np.asarray(below.dual_value, dtype=np.float64), 0.0) / 2.0
    W = np.asarray(X.value) @ Vt
    if not polish:
        return W, duals, duals > ACTIVE_DUAL_RTOL * float(np.max(duals, initial=0.0))
    atoms = separation_atoms(inst)
    active = np.zeros(supports.shape, dtype=bool)
    keep = duals > ACTIVE_DUAL_RTOL * float(np.max(duals, initial=0.0))
    active[atoms.ctx[keep], atoms.neg[keep]] = True
    return polish_from(inst, active)
