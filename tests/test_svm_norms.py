"""The NTP-SVM in the max, l1 and spectral norms: hand-worked optima, an independent cvxpy
formulation, the weak-duality certificate (valid, and corrupted ones rejected), and the
unchanged l2 default.

The reference formulation is written independently of ``ntpprops._svm_norms``: a full
``W`` variable, every pair ``z in S_j, v not in S_j`` as its own margin constraint and every
pair of support tokens as an equality (no anchors, no rank reduction), solved by Clarabel.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from _builders import random_instance
from _oracles import ntp_svm_constraints
from hypothesis import HealthCheck, given, settings
from ntpprops.strategies import non_separable_instances, separable_instances

from ntpprops import (
    NotSeparableError,
    NTPInstance,
    SolverError,
    _svm_norms,
    ntp_svm,
    ntp_svm_result,
)
from ntpprops._subspace import gram_factor
from ntpprops._svm_norms import (
    FEAS_RTOL,
    GAP_RTOL,
    duality_certificate,
    matrix_norm,
    optimal_face_width,
    solve_norm_svm,
)

OTHER_NORMS = ("max", "l1", "spectral")

#: The reference's own accuracy: Clarabel's default tolerances (1e-8) on these small, integer
#: instances, with two orders of room for conditioning.
REFERENCE_RTOL = 1e-6

CVXPY_NORM = {
    "max": lambda W: cp.max(cp.abs(W)),
    "l1": lambda W: cp.sum(cp.abs(W)),
    "spectral": cp.sigma_max,
}


def reference_optimum(inst: NTPInstance, norm: str) -> float:
    """``min ||W||`` s.t. (6a) and all pairwise (6b) margins, by cvxpy + Clarabel.

    (6a) is written as equal logits of consecutive support tokens (a chain, not an anchor),
    which avoids the redundant equalities that make Clarabel's KKT system singular.
    """
    W = cp.Variable(inst.weight_shape)
    constraints = ntp_svm_constraints(inst, W)
    problem = cp.Problem(cp.Minimize(CVXPY_NORM[norm](W)), constraints)
    # Clarabel's default KKT regularisation (1e-8) hits a NumericalError on the spectral
    # program with a free W (its directions outside the row space of H are unconstrained);
    # 1e-7, with iterative refinement, solves it (agreeing with SCS at eps 1e-9 to 2e-11).
    problem.solve(solver=cp.CLARABEL, static_regularization_constant=1e-7)
    assert problem.status == cp.OPTIMAL, problem.status
    return float(problem.value)


def assert_feasible(inst: NTPInstance, W: np.ndarray) -> None:
    """(6a) and (6b) on every pair, checked directly on the logits."""
    L = inst.embeddings @ W.T
    scale = np.linalg.norm(W) * np.linalg.norm(inst.embeddings, axis=1)
    for j in range(inst.m):
        support = inst.supports[j]
        if not support.all():
            # 1 - margin within the certificate's feasibility tolerance (it is relative to 1).
            assert L[j, support].min() - L[j, ~support].max() >= 1.0 - FEAS_RTOL
        spread = L[j, support].max() - L[j, support].min()
        # (6a) to rounding: the certificate's relative tolerance times ||W|| ||h_j|| (x 2 for
        # a pair, against its anchor-based generators).
        assert spread <= 2.0 * FEAS_RTOL * max(scale[j], 1.0)


# -- hand-worked optima -------------------------------------------------------------------

HAND_WORKED = {
    # d = 1, h = (1, -1), labels 0 and 1: both constraints read w0 - w1 >= 1 (F = {0}).
    # max: |w| <= 1/2 at w = (1/2, -1/2); l1: |w0| + |w1| >= 1; spectral = Euclidean norm of
    # the 2 x 1 matrix: 1/sqrt(2) at (1/2, -1/2).
    "one-hot-line": ([[1.0], [-1.0]], [[1, 0], [0, 1]], {"max": 0.5, "l1": 1.0}),
    # H = I: W_00 - W_10 >= 1 and W_11 - W_01 >= 1 on separate entries. max: 1/2 (forced
    # entrywise); l1: 1 + 1 = 2; spectral: >= 1 by the dual G = [[1, -1], [-1, 1]]
    # (nuclear norm 2, sum(lambda) = 2), attained by W = I.
    "one-hot-identity": ([[1.0, 0.0], [0.0, 1.0]], [[1, 0], [0, 1]], {"max": 0.5, "l1": 2.0}),
    # m = 1, V = 3, h = 1, S = {0, 1}: (6a) w0 = w1 = a, (6b) a - w2 >= 1. max: a = 1/2,
    # w2 = -1/2; l1: 2|a| + |w2| >= 1 with a = 0, w2 = -1.
    "support-of-two": ([[1.0]], [[1, 1, 0]], {"max": 0.5, "l1": 1.0}),
}
# Spectral on "support-of-two" (d = 1: the Euclidean norm of w): min 2 a^2 + w2^2 with
# a - w2 = 1 gives a = 1/3, w2 = -2/3, norm sqrt(2/3).
SPECTRAL_HAND = {
    "one-hot-line": 1.0 / np.sqrt(2.0),
    "one-hot-identity": 1.0,
    "support-of-two": np.sqrt(2.0 / 3.0),
}


@pytest.mark.parametrize("name", sorted(HAND_WORKED))
@pytest.mark.parametrize("norm", OTHER_NORMS)
def test_hand_worked_optimum(name: str, norm: str) -> None:
    H, supports, optima = HAND_WORKED[name]
    expected = SPECTRAL_HAND[name] if norm == "spectral" else optima[norm]
    P = np.asarray(supports, dtype=float)
    inst = NTPInstance(H, P / P.sum(axis=1, keepdims=True))
    result = ntp_svm_result(inst, norm=norm)
    assert result.norm == norm and result.kkt is None and result.certificate is not None
    assert result.certificate.ok
    # The answer is certified within GAP_RTOL; the hand value is exact.
    assert abs(matrix_norm(result.W, norm) - expected) <= GAP_RTOL[norm] * expected
    assert abs(result.margin - 1.0 / expected) <= GAP_RTOL[norm] / expected
    assert_feasible(inst, result.W)


def test_max_norm_one_hot_identity_is_the_hand_solution() -> None:
    # |W| <= 1/2 forces W_00 = W_11 = 1/2, W_10 = W_01 = -1/2: the max-norm optimum is unique.
    W = ntp_svm(NTPInstance(np.eye(2), np.eye(2)), norm="max")
    np.testing.assert_allclose(W, [[0.5, -0.5], [-0.5, 0.5]], atol=1e-9)


def test_l1_optimum_is_not_unique_but_max_is() -> None:
    inst = NTPInstance(np.eye(2), np.eye(2))
    # l1 face {W_00 - W_10 = 1, W_11 - W_01 = 1, sign patterns consistent}: W_00 in [0, 1].
    direction = np.array([[1.0, 0.0], [0.0, 0.0]])
    low, high = optimal_face_width(inst, "l1", direction)
    # The face's radius 2 (1 + 1e-7) moves the ends by <= 2e-7.
    assert abs(low - 0.0) <= 1e-6 and abs(high - 1.0) <= 1e-6
    rng = np.random.default_rng(0)
    low, high = optimal_face_width(inst, "max", rng.standard_normal((2, 2)))
    # Unique optimum: the face is the optimum inflated by the relative slack 1e-7 of the radius
    # 1/2, so each entry moves by <= 1e-7 and <D, W> by <= 1e-7 * sum |D| (< 1e-6 here).
    assert high - low <= 1e-6


# -- the independent formulation ----------------------------------------------------------

AGREEMENT = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("norm", OTHER_NORMS)
@AGREEMENT
@given(inst=separable_instances(max_contexts=3, max_vocab=4, max_dim=3))
def test_agrees_with_independent_formulation(norm: str, inst: NTPInstance) -> None:
    result = ntp_svm_result(inst, norm=norm)
    reference = reference_optimum(inst, norm)
    assert np.isfinite(reference) and reference > 0.0
    # Ours is proven within GAP_RTOL of the optimum, the reference within its own accuracy.
    assert (
        abs(result.certificate.upper - reference) <= (GAP_RTOL[norm] + REFERENCE_RTOL) * reference
    )
    assert abs(matrix_norm(result.W, norm) * result.margin - 1.0) <= 1e-12
    assert_feasible(inst, result.W)
    # Re-check the certificate from (W, lambda, mu) alone.
    again = duality_certificate(inst, result.W, result.duals, result.f_duals, norm)
    assert again.ok and again.lower <= again.upper * (1.0 + GAP_RTOL[norm])


@AGREEMENT
@given(inst=separable_instances(max_contexts=3, max_vocab=4, max_dim=3, overparameterized=False))
def test_each_optimum_is_below_the_norm_of_w_mm(inst: NTPInstance) -> None:
    # W^mm is feasible for every norm's problem, so its q-norm bounds the q-optimum.
    w_mm = ntp_svm(inst)
    for norm in OTHER_NORMS:
        optimum = ntp_svm_result(inst, norm=norm).certificate.upper
        assert optimum <= matrix_norm(w_mm, norm) * (1.0 + GAP_RTOL[norm])


@pytest.mark.parametrize("seed", range(2))
def test_random_instances_certified_with_nontrivial_f(seed: int) -> None:
    inst = random_instance(seed, m=5, V=6, d=7, support=3)  # n_F = 10 equalities (6a)
    for norm in OTHER_NORMS:
        result = ntp_svm_result(inst, norm=norm)
        reference = reference_optimum(inst, norm)
        assert (
            abs(result.certificate.upper - reference)
            <= (GAP_RTOL[norm] + REFERENCE_RTOL) * reference
        )
        assert_feasible(inst, result.W)


# -- certificates ----------------------------------------------------------------------------


def _l2_generator_duals(inst: NTPInstance, duals: np.ndarray) -> np.ndarray:
    """mu with sum(lambda A) + sum(mu E) = P_perp(sum lambda A): minus P_F's coefficients."""
    from ntpprops._atoms import atom_coefficients, atom_values
    from ntpprops._separability import separation_atoms

    C = atom_coefficients(separation_atoms(inst), duals, inst.m, inst.vocab_size)
    gens, factor = gram_factor(inst)
    scores = inst.embeddings @ (C.T @ inst.embeddings).T
    return -factor.solve(atom_values(gens, scores))


@pytest.mark.parametrize("seed", range(3))
def test_l2_default_unchanged_and_its_duals_certify_it(seed: int) -> None:
    inst = random_instance(seed)
    default = ntp_svm_result(inst)
    assert default is ntp_svm_result(inst, norm="l2")  # same cached answer
    assert default.norm == "l2" and default.certificate is None and default.f_duals is None
    assert default.kkt is not None and default.kkt.ok
    assert default.margin == 1.0 / np.linalg.norm(default.W)
    # The same weak-duality check, fed W^mm's KKT multipliers: gap at rounding level.
    cert = duality_certificate(
        inst, default.W, default.duals, _l2_generator_duals(inst, default.duals), "l2"
    )
    assert cert.ok and abs(cert.gap) <= 1e-8


@pytest.mark.parametrize("norm", OTHER_NORMS)
def test_corrupted_certificates_are_rejected(norm: str) -> None:
    inst = random_instance(1, m=5, V=6, d=7, support=3)
    result = ntp_svm_result(inst, norm=norm)
    lam, mu, W = result.duals, result.f_duals, result.W
    assert duality_certificate(inst, W, lam, mu, norm).ok
    flipped = lam.copy()
    flipped[int(np.argmax(lam))] *= -1.0  # a negative multiplier proves nothing
    bad = duality_certificate(inst, W, flipped, mu, norm)
    assert not bad.ok and bad.lower == 0.0
    shifted = duality_certificate(inst, W, lam, mu + 0.1, norm)  # a wrong G: loose bound
    assert not shifted.ok and shifted.gap > GAP_RTOL[norm]
    shrunk = duality_certificate(inst, 0.9 * W, lam, mu, norm)  # margins 0.9 < 1
    assert not shrunk.ok and shrunk.primal_infeasibility >= 0.1 - 1e-12


def test_solver_answer_failing_its_certificate_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = random_instance(2, m=5, V=6, d=7, support=3)
    honest = _svm_norms._lp_max

    def corrupted(*args: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w, lam, mu = honest(*args)
        return w, lam, mu + 0.1

    monkeypatch.setattr(_svm_norms, "_lp_max", corrupted)
    with pytest.raises(SolverError, match="duality certificate"):
        ntp_svm_result(inst, norm="max")


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", OTHER_NORMS)
@settings(max_examples=5, deadline=None)
@given(inst=non_separable_instances(max_contexts=3, max_vocab=3, max_dim=2))
def test_not_separable_raises(norm: str, inst: NTPInstance) -> None:
    with pytest.raises(NotSeparableError):
        ntp_svm_result(inst, norm=norm)


def test_full_supports_raise() -> None:
    inst = NTPInstance(np.eye(2), np.full((2, 2), 0.5))
    with pytest.raises(NotSeparableError, match="every support is full"):
        ntp_svm(inst, norm="max")


def test_bad_arguments() -> None:
    inst = random_instance(0)
    with pytest.raises(ValueError, match="norm must be one of"):
        ntp_svm(inst, norm="linf")
    with pytest.raises(ValueError, match="method='auto' only"):
        ntp_svm(inst, norm="max", method="cvxpy")


def test_spectral_size_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_svm_norms, "SPECTRAL_MAX_ORDER", 3)
    with pytest.raises(SolverError, match="semidefinite block"):
        _svm_norms.solve_norm_svm(random_instance(0), "spectral")


@pytest.mark.parametrize("norm", ["max", "l1", "spectral"])
def test_a_time_limit_is_a_typed_error_not_a_hang(norm: str) -> None:
    inst = random_instance(2, m=5, V=6, d=7, support=3)
    with pytest.raises(ValueError, match="max_seconds"):
        solve_norm_svm(inst, norm, max_seconds=0.0)
    # 1 ns cannot even cover building the constraints: refused before the solver starts.
    with pytest.raises(SolverError, match="max_seconds"):
        solve_norm_svm(inst, norm, max_seconds=1e-9)
    # A generous limit changes nothing: the certified optimum is the unlimited one's.
    limited = solve_norm_svm(inst, norm, max_seconds=600.0)
    assert limited.certificate.ok
    assert limited.certificate.upper == pytest.approx(
        1.0 / ntp_svm_result(inst, norm=norm).margin, rel=GAP_RTOL[norm]
    )
