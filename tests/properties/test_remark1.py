"""Remark 1 (one-hot): ``H = 0``, ``W* = 0``, ``F = {0}``, and ``W^mm`` is Crammer–Singer.

The multiclass hard-margin SVM without bias is solved here by a second, independent
formulation: a dense cvxpy QP directly in ``W`` (``min ||W||^2/2`` subject to
``(W h_j)_{y_j} - (W h_j)_v >= 1``). Agreement is not asserted to a guessed tolerance:
each solution's distance to the exact SVM is *proven* from its own duals
(:func:`_checks.svm_distance_bound`), and the two must agree within the sum.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
from _checks import svm_distance_bound
from _oracles import dense_f_basis
from hypothesis import assume, event, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpprops import NTPInstance, f_dimension, is_separable, ntp_svm_result, project_f, w_star
from ntpprops import strategies as nst


def _crammer_singer(inst):
    """Dense QP in ``W``; returns ``(status, W, atoms, duals)`` with atoms ``(j, y_j, v)``."""
    labels = np.argmax(inst.supports, axis=1)
    ctx, neg = np.nonzero(~inst.supports)
    pos = labels[ctx]
    eye = np.eye(inst.vocab_size)
    # Row i is vec((e_{y_j} - e_v) h_j^T), row-major: <W, atom> = A_i . vec(W).
    A = np.stack(
        [
            np.kron(eye[y] - eye[v], inst.embeddings[j])
            for j, y, v in zip(ctx, pos, neg, strict=True)
        ]
    )
    w = cp.Variable(A.shape[1])
    constraint = A @ w >= 1
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w)), [constraint])
    problem.solve(solver=cp.CLARABEL)
    if problem.status != cp.OPTIMAL:
        return problem.status, None, None, None
    duals = np.maximum(constraint.dual_value, 0.0)  # Clarabel's are >= 0 up to rounding
    return problem.status, w.value.reshape(inst.weight_shape), (ctx, pos, neg), duals


@given(nst.one_hot_instances(), st.data())
def test_remark1_one_hot_structure(inst, data):
    assert np.all(inst.support_sizes == 1)
    assert inst.entropy == 0.0  # 1 log 1 = 0 exactly
    assert f_dimension(inst) == 0 and dense_f_basis(inst).shape[1] == 0
    assert not np.any(w_star(inst))
    W = data.draw(arrays(np.float64, inst.weight_shape, elements=st.floats(-10, 10)), label="W")
    assert not np.any(project_f(inst, W)), "F = {0}: every projection onto F is 0"


@given(nst.one_hot_instances())
@example(  # is_separable raised SolverError (raw margin 1 - 1.6e-12; duals up to 117)
    NTPInstance([[-3, -1, 1], [-3, 2, 2], [-1, 2, 1], [0, 0, 2]], [[1, 0], [0, 1], [1, 0], [0, 1]])
)
def test_remark1_wmm_is_crammer_singer(inst):
    status, W_cs, atoms, duals = _crammer_singer(inst)
    separable = bool(is_separable(inst))
    event("separable" if separable else "not separable")
    if not separable:
        assert status == cp.INFEASIBLE, f"package: not separable; cvxpy: {status}"
    # The rest compares the two optima, which exist only for a separable instance.
    assume(separable)
    assert status == cp.OPTIMAL, f"package: separable; cvxpy: {status}"
    result = ntp_svm_result(inst)
    W = np.asarray(result.W)
    # Each distance to the exact SVM is proven (strong convexity + weak duality).
    allowed = svm_distance_bound(inst, W, atoms, np.asarray(result.duals))
    allowed += svm_distance_bound(inst, W_cs, atoms, duals)
    assert np.linalg.norm(W - W_cs) <= allowed, (
        f"||W^mm - W_cs|| = {np.linalg.norm(W - W_cs):.3g} > proven {allowed:.3g}"
    )
