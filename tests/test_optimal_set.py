"""Distance of a direction to the set of optimal directions (``ntpprops._optimal_set``):
hand-worked non-unique optima, an independent cvxpy formulation, and the certificate and size
refusals.

The reference is written independently of the package's LP: a full ``X`` variable, (6a) as
equal logits along a chain of support tokens, every (6b) pair as its own constraint, the norm
ball as a cvxpy atom, and ``P_perp`` from the dense oracle basis; Clarabel solves it.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from _oracles import EPS, ntp_svm_constraints, project_perp_dense
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ntpprops.strategies import separable_instances, weight_matrices

from ntpprops import NTPInstance, SolverError, ntp_svm_result
from ntpprops import _optimal_set as optimal_set
from ntpprops._optimal_set import DIST_ATOL, optimal_set_distance
from ntpprops._svm_norms import GAP_RTOL, matrix_norm

CVXPY_NORM = {"max": lambda X: cp.max(cp.abs(X)), "l1": lambda X: cp.sum(cp.abs(X))}

#: Clarabel's default tolerances (1e-8) on small integer instances, two orders of room.
REFERENCE_RTOL = 1e-6


def _one_hot(H, labels, V):
    return NTPInstance(H, np.eye(V)[labels])


# -- hand-worked: non-unique optima ---------------------------------------------------------

# One context h = (1, 0), V = 2: (6b) reads X_00 - X_10 >= 1. The max-norm optimum 1/2 forces
# X_00 = 1/2, X_10 = -1/2 and leaves X_01, X_11 anywhere in [-1/2, 1/2]: a square of optima.
LINE = _one_hot([[1.0, 0.0]], [0], 2)
# H = I, labels 0, 1: X_00 - X_10 >= 1, X_11 - X_01 >= 1. The l1 optimum 2 is attained on
# {[[a, b - 1], [a - 1, b]] : a, b in [0, 1]} (|a| + |a - 1| = 1 iff a in [0, 1]).
IDENTITY = _one_hot(np.eye(2), [0, 1], 2)


def _slack(inst, norm):
    """How much closer ``S_r`` (radius ``r* (1 + GAP_RTOL)``) may be than the exact optimal set
    on these instances, plus the certificate's gap: both unit-coefficient faces move by at most
    ``2 (r - r*)`` (the two entries of one constraint), the certificate by ``DIST_ATOL r*``."""
    r_star = 1.0 / ntp_svm_result(inst, norm=norm).margin
    return 2.0 * GAP_RTOL[norm] * r_star + DIST_ATOL * r_star


@pytest.mark.parametrize(
    ("inst", "norm", "W", "expected"),
    [
        # Two different optimal directions of the square: both at distance 0.
        (LINE, "max", [[1.0, 1.0], [-1.0, 1.0]], 0.0),
        (LINE, "max", [[1.0, -1.0], [-1.0, 0.0]], 0.0),
        # W_hat = [[1/2, 0], [0, 0]]: X_10 = -1/2 is forced, so the distance is 1/2.
        (LINE, "max", [[2.0, 0.0], [0.0, 0.0]], 0.5),
        # Two different optimal directions of the l1 face (a = b = 1 and a = b = 1/2).
        (IDENTITY, "l1", [[1.0, 0.0], [0.0, 1.0]], 0.0),
        (IDENTITY, "l1", [[0.5, -0.5], [-0.5, 0.5]], 0.0),
        # W_hat = (2/3) [[2, 0], [0, 1]] = [[4/3, 0], [0, 2/3]]: per coordinate pair
        # min_{a in [0,1]} |4/3 - a| + |1 - a| = 1/3 (a = 1) and
        # min_{b in [0,1]} |1 - b| + |2/3 - b| = 1/3, so the distance is 2/3.
        (IDENTITY, "l1", [[2.0, 0.0], [0.0, 1.0]], 2.0 / 3.0),
        # The l2 optimum is unique: W^mm = [[1/2, -1/2], [-1/2, 1/2]] (norm 1) on IDENTITY,
        # and the direction of [[1, 0], [0, 0]] at norm 1 is [[1, 0], [0, 0]]: distance 1.
        (IDENTITY, "l2", [[1.0, 0.0], [0.0, 0.0]], 1.0),
    ],
)
def test_hand_worked_distance(inst, norm, W, expected):
    result = optimal_set_distance(inst, np.array(W), norm)
    slack = _slack(inst, norm) if norm != "l2" else 1e-12  # l2: closed form, rounding only
    assert expected - slack <= result.distance <= expected + DIST_ATOL * result.optimum
    assert result.lower <= result.distance  # weak duality
    assert result.relative == pytest.approx(result.distance / result.optimum, rel=1e-15)


def test_two_optimal_directions_differ_but_both_have_distance_zero():
    # What a cosine with one solver's solution would miss: both are optimal, yet apart.
    A, B = np.array([[1.0, 1.0], [-1.0, 1.0]]), np.array([[1.0, -1.0], [-1.0, 0.0]])
    cos = float(np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B)))
    assert cos <= 0.5
    for W in (A, B):
        assert optimal_set_distance(LINE, W, "max").distance <= DIST_ATOL


# -- the independent formulation ---------------------------------------------------------------


def reference_distance(inst, direction, norm, radius):
    """``min ||direction - X||_q`` over (6a), every (6b) pair and ``||X||_q <= radius``."""
    X = cp.Variable(inst.weight_shape)
    constraints = [CVXPY_NORM[norm](X) <= radius]
    constraints += ntp_svm_constraints(inst, X)
    problem = cp.Problem(cp.Minimize(CVXPY_NORM[norm](direction - X)), constraints)
    problem.solve(solver=cp.CLARABEL)
    assert problem.status == cp.OPTIMAL, problem.status
    return float(problem.value)


@pytest.mark.parametrize("norm", ["max", "l1"])
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_distance_agrees_with_cvxpy(norm, data):
    inst = data.draw(separable_instances(max_contexts=3, max_vocab=3, max_dim=3), label="inst")
    W = data.draw(weight_matrices(inst), label="W")
    W_perp = project_perp_dense(inst, W)
    size = matrix_norm(W_perp, norm)
    assume(size > 1e-6)  # a direction, not rounding noise of P_perp
    result = optimal_set_distance(inst, W, norm)
    direction = result.optimum * W_perp / size
    # The package's direction is its own P_perp: the dense oracle's agrees to rounding.
    np.testing.assert_allclose(result.direction, direction, atol=1e-9 * (1.0 + result.optimum))
    expected = reference_distance(inst, direction, norm, result.radius)
    allowed = REFERENCE_RTOL * (1.0 + result.optimum) + DIST_ATOL * result.optimum
    assert abs(result.distance - expected) <= allowed, (result.distance, expected)
    # Weak duality, to the rounding of the lower bound's sums of V d terms of size r*.
    assert result.lower <= result.distance + 64 * EPS * W.size * (1.0 + result.optimum)
    assert 0.0 <= result.relative <= 2.0 + DIST_ATOL


# -- refusals -------------------------------------------------------------------------------


def test_refusals():
    with pytest.raises(ValueError, match="spectral"):
        optimal_set_distance(IDENTITY, np.eye(2), "spectral")
    with pytest.raises(ValueError, match="no direction"):
        optimal_set_distance(IDENTITY, np.zeros((2, 2)), "max")


def test_too_large_is_a_typed_error(monkeypatch):
    monkeypatch.setattr(optimal_set, "LP_MAX_NONZEROS", 10)
    with pytest.raises(SolverError, match="nonzeros"):
        optimal_set_distance(IDENTITY, np.eye(2), "l1")


@pytest.mark.parametrize("corrupt", ["point", "duals"])
def test_a_wrong_answer_fails_its_certificate(monkeypatch, corrupt):
    real = optimal_set._distance_lp

    def wrong(norm, w_hat, A, E, radius, max_seconds):
        x, lam, mu, U = real(norm, w_hat, A, E, radius, max_seconds)
        if corrupt == "point":  # a point outside the radius (infeasible)
            x = x * (1.0 + 1e-4)
        else:  # multipliers that prove less: the lower bound drops
            lam = lam * 0.5
        return x, lam, mu, U

    monkeypatch.setattr(optimal_set, "_distance_lp", wrong)
    with pytest.raises(SolverError, match="certificate"):
        optimal_set_distance(IDENTITY, np.array([[2.0, 0.0], [0.0, 1.0]]), "l1")
