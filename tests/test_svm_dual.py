"""The dual block-coordinate ascent (``method="dual-cd"``) against the exact solvers.

Tolerance for ``W^mm`` across methods: both answers pass the KKT check at ``KKT_RTOL``, and
for a strongly convex QP a KKT residual ``eps`` moves the solution by ``O(eps)`` relative
times a conditioning factor, so ``1e3 * KKT_RTOL`` leaves three orders for that factor.
"""

from __future__ import annotations

import itertools
import time

import cvxpy as cp
import numpy as np
import pytest
from _builders import instance_on_supports, random_support_instance, relative_error
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from ntpprops.strategies import non_separable_instances, one_hot_instances, separable_instances

from ntpprops import NotSeparableError, NTPInstance, is_separable, ntp_svm_result
from ntpprops._errors import SeparabilityUndecidedError, SolverError
from ntpprops._separability import (
    perp_combination_norm,
    separability_certificate_bound,
    separation_atoms,
)
from ntpprops._svm import KKT_RTOL, METHODS, kkt_report
from ntpprops._svm_active import (
    SEPARABLE_RTOL,
    _certificate_norm,
    _verified_polish,
    decide_separability,
    dual_witness,
    polish_from,
    reduced_factor,
)
from ntpprops._svm_dual import dual_coordinate_ascent, solve_block, witness_epochs

W_RTOL = 1e3 * KKT_RTOL

SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fresh(inst):
    """A copy without the caches, so each method solves from scratch."""
    return NTPInstance(inst.embeddings, inst.probs, inst.context_weights)


# -- the block subproblem -------------------------------------------------------------------


def _block_objective(c, g, k, support):
    return -float(np.sum(c[~support])) - float(c @ g) - 0.5 * k * float(c @ c)


@given(
    st.integers(2, 6).flatmap(
        lambda V: st.tuples(
            st.lists(st.floats(-3, 3), min_size=V, max_size=V),
            st.floats(0.1, 10.0),
            st.lists(st.booleans(), min_size=V, max_size=V).filter(any),
        )
    )
)
@settings(max_examples=60, deadline=None)
def test_block_step_solves_its_qp(data):
    g, k, support = np.array(data[0]), data[1], np.array(data[2])
    c, tau = solve_block(g, k, support)
    var = cp.Variable(g.size)
    problem = cp.Problem(
        cp.Maximize(-cp.sum(var[~support]) - g @ var - 0.5 * k * cp.sum_squares(var)),
        [cp.sum(var) == 0] + ([var[~support] <= 0] if (~support).any() else []),
    )
    problem.solve(solver=cp.CLARABEL)
    assert abs(float(np.sum(c))) <= 1e-12 * (1 + np.max(np.abs(c)))
    assert np.all(c[~support] <= 0.0)
    assert np.allclose(c[support], (tau - g[support]) / k, atol=1e-12)
    # Optimal: the closed form is at least as good as Clarabel's (to its 1e-8 accuracy),
    # and close to it: the QP is strongly concave with modulus k, so a feasible v with
    # objective gap f(c) - f(v) lies within sqrt(2 gap / k) of the maximiser c (the floor
    # 1e-8 on the gap covers Clarabel's feasibility and objective accuracy).
    best = _block_objective(c, g, k, support)
    assert best >= problem.value - 1e-7
    gap = best - _block_objective(var.value, g, k, support)
    assert np.linalg.norm(c - var.value) <= np.sqrt(2.0 * max(gap, 1e-8) / k)


def test_block_step_matches_brute_force_over_active_sets():
    # Enumerate every set of out tokens allowed to be negative; each gives an equality QP
    # solved in closed form; the best feasible one is the optimum.
    rng = np.random.default_rng(0)
    for _ in range(30):
        V = int(rng.integers(2, 7))
        support = np.zeros(V, dtype=bool)
        support[rng.choice(V, size=int(rng.integers(1, V)), replace=False)] = True
        g, k = rng.normal(0, 2, V), float(rng.uniform(0.2, 5))
        outs = np.flatnonzero(~support)
        best = -np.inf
        for size in range(outs.size + 1):
            for free in itertools.combinations(outs, size):
                mask = support.copy()
                mask[list(free)] = True
                lin = g + (~support)
                tau = float(np.sum(lin[mask])) / mask.sum()
                cand = np.where(mask, (tau - lin) / k, 0.0)
                if np.all(cand[~support] <= 1e-15):
                    best = max(best, _block_objective(cand, g, k, support))
        c, _ = solve_block(g, k, support)
        assert np.isfinite(best)
        assert _block_objective(c, g, k, support) >= best - 1e-12 * (1 + abs(best))


# -- separable instances: the same W^mm as the exact methods -----------------------------


def _assert_same_solution(inst, reference):
    ours = ntp_svm_result(_fresh(inst), method="dual-cd")
    assert ours.method == "dual-cd"
    assert ours.kkt.ok and kkt_report(inst, ours.W, ours.duals).ok
    assert relative_error(ours.W, reference.W) <= W_RTOL


@given(separable_instances(max_contexts=4, max_vocab=5, max_dim=5))
@SLOW
def test_dual_matches_active_set_overparameterized(inst):
    assume(len(separation_atoms(inst)) > 0)
    _assert_same_solution(inst, ntp_svm_result(_fresh(inst), method="active-set"))


@given(separable_instances(max_contexts=5, max_vocab=5, max_dim=3, overparameterized=False))
@SLOW
def test_dual_matches_active_set_rank_deficient(inst):
    assume(len(separation_atoms(inst)) > 0)
    _assert_same_solution(inst, ntp_svm_result(_fresh(inst), method="active-set"))


@given(one_hot_instances(max_contexts=5, max_vocab=4, separable=True))
@SLOW
def test_dual_matches_cvxpy_on_one_hot_crammer_singer(inst):
    # Remark 1: one-hot W^mm is the Crammer-Singer hard-margin SVM without bias.
    assume(len(separation_atoms(inst)) > 0)
    _assert_same_solution(inst, ntp_svm_result(_fresh(inst), method="cvxpy"))


@pytest.mark.parametrize(("m", "V", "d", "S"), [(30, 8, 40, 3), (40, 10, 25, 2), (60, 6, 40, 1)])
def test_dual_matches_cvxpy_and_active_set_on_random_instances(m, V, d, S):
    inst = random_support_instance(m, V, d, S, seed=m)
    assert is_separable(_fresh(inst))  # these sizes are below the separability threshold
    for method in ("active-set", "cvxpy"):
        _assert_same_solution(inst, ntp_svm_result(_fresh(inst), method=method))


# -- non-separable instances: never "separable", and bounds never overclaim -----------------


def _farkas_bound(inst):
    """The dense method's Farkas bound: every separator has norm >= 1 / certificate_norm."""
    sep = is_separable(_fresh(inst))
    assert not sep
    return separability_certificate_bound(inst, sep.certificate)


@given(non_separable_instances(max_contexts=4, max_vocab=4, max_dim=3))
@SLOW
def test_dual_never_claims_separable_and_certificates_check(inst):
    sep = undecided = None
    try:
        sep = decide_separability(_fresh(inst), method="dual-cd", max_seconds=5)
    except SeparabilityUndecidedError as err:
        undecided = err
    if undecided is not None:
        assert undecided.norm_lower_bound <= _farkas_bound(inst) * (1 + 1e-9)
    else:
        assert sep is not None and not sep
        # The certificate proves what the decision rule needs, checked without solvers.
        scale = np.sqrt(2) * np.max(np.linalg.norm(inst.embeddings[~inst.supports.all(1)], axis=1))
        bound = separability_certificate_bound(inst, sep.certificate)
        assert bound > 0.0 and 1.0 / bound <= SEPARABLE_RTOL * scale


def _ascent(inst, **budget):
    B, _ = reduced_factor(inst)
    return dual_coordinate_ascent(
        B,
        inst.supports,
        threshold=0.0,  # never concludes "not separable": only the bound is exercised
        polish=lambda active: None,
        certificate_norm=lambda C: np.inf,
        **budget,
    )


@pytest.mark.parametrize("seed", range(4))
def test_undecided_bound_is_a_valid_lower_bound_on_separator_norms(seed):
    # Non-separable by construction (two contexts on one ray with different supports) and
    # separable ones: the bound is below the true min separator norm (inf, resp. ||W^mm||).
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((6, 3))
    supports = np.zeros((6, 5), dtype=bool)
    for j in range(6):
        supports[j, rng.choice(5, size=2, replace=False)] = True
    separable = seed % 2 == 0
    if not separable:
        H[1] = 2.0 * H[0]
        supports[1] = ~supports[0]
        supports[1, 4] = False
        supports[1, 3] = True
    inst = instance_on_supports(H, supports, seed)
    with pytest.raises(SeparabilityUndecidedError) as info:
        _ascent(inst, max_epochs=50)
    err = info.value
    assert isinstance(err, SolverError)
    assert "more time" in str(err) and "d >= m" in str(err)
    assert err.norm_lower_bound > 0.0  # the ascent proved something
    if is_separable(_fresh(inst)):
        W = ntp_svm_result(_fresh(inst), method="active-set").W
        assert err.norm_lower_bound <= float(np.linalg.norm(W)) * (1 + 1e-9)
        assert err.margin_upper_bound >= 1.0 / float(np.linalg.norm(W)) * (1 - 1e-9)
    else:
        # Never more than the Farkas certificate of the dense method allows (it is inf here).
        assert err.norm_lower_bound <= _farkas_bound(inst)


def test_budget_runs_out_with_the_bracket_in_the_message():
    inst = random_support_instance(40, 10, 20, 3, seed=1)
    with pytest.raises(SeparabilityUndecidedError, match=r"\|\|W\|\| >= .*gamma\* <=") as info:
        decide_separability(_fresh(inst), method="dual-cd", max_epochs=2)
    assert info.value.margin_upper_bound == pytest.approx(1.0 / info.value.norm_lower_bound)


def test_polish_gives_up_at_its_deadline_and_succeeds_without_one():
    # One PDAS solve from a poor active set can exceed the ascent's whole budget (200 s on the
    # GPL-3 text at d = 384): the deadline must stop it, and must not change a timely answer.
    inst = random_support_instance(30, 8, 40, 3, seed=30)
    start = ~inst.supports
    assert _verified_polish(inst, start, time.perf_counter() - 1.0) is None
    with pytest.raises(SolverError, match="deadline"):
        polish_from(inst, start, time.perf_counter() - 1.0)
    solution = _verified_polish(inst, start, time.perf_counter() + 600.0)
    assert solution is not None and kkt_report(inst, solution[0], solution[1]).ok


# -- wiring ---------------------------------------------------------------------------------


def test_method_is_listed_and_auto_keeps_active_set_on_small_instances():
    assert "dual-cd" in METHODS
    inst = random_support_instance(20, 6, 30, 2, seed=2)  # rank H = m: separable (Lemma 1)
    assert ntp_svm_result(inst).method == "active-set"


def test_auto_uses_dual_beyond_the_dense_size(monkeypatch):
    import ntpprops._svm_active as active

    monkeypatch.setattr(active, "DENSE_MAX_ENTRIES", 10.0)
    inst = random_support_instance(30, 8, 20, 2, seed=3)  # rank 20 < 30: the dense test would run
    result = ntp_svm_result(inst)
    assert result.method == "dual-cd" and result.kkt.ok
    assert is_separable(inst).margin == pytest.approx(result.margin, rel=W_RTOL)


def test_dual_not_separable_raises_with_checkable_certificate():
    inst = instance_on_supports([[1.0, 1.0], [1.0, 1.0]], [[1, 0, 0], [0, 1, 1]])
    with pytest.raises(NotSeparableError, match="not NTP-separable") as info:
        ntp_svm_result(inst, method="dual-cd")
    sep = info.value.certificate
    assert not sep and separability_certificate_bound(inst, sep.certificate) >= 1e12


def test_zero_embedding_is_not_separable_exactly():
    inst = instance_on_supports([[0.0, 0.0], [1.0, 2.0]], [[1, 0, 0], [0, 1, 1]])
    sep = decide_separability(inst, method="dual-cd")
    assert not sep and separability_certificate_bound(inst, sep.certificate) == np.inf


def test_cvxpy_solves_a_degenerate_one_hot_instance() -> None:
    # A random seed found Clarabel's NumericalError here (default static regularisation).
    H = [[1.0, 1.0, -2.0], [0.0, -3.0, -1.0], [0.0, 0.0, 3.0], [0.0, -9.0, -3.0]]
    P = [[1.0, 0.0, 0.0]] * 4
    ref = ntp_svm_result(NTPInstance(H, P), method="active-set")
    got = ntp_svm_result(NTPInstance(H, P), method="cvxpy")
    assert got.kkt.ok
    assert relative_error(got.W, ref.W) <= W_RTOL


def test_certificate_norm_accepts_zero_out_entries() -> None:
    # A dual iterate with C_out <= 0 and most out entries exactly 0 (the usual case) is a
    # valid certificate; only a positive out entry makes it prove nothing (inf).
    inst = random_support_instance(4, 3, 2, 1, 0)
    out = ~inst.supports
    C = np.zeros(inst.supports.shape)
    C[0, np.flatnonzero(out[0])[0]] = -1.0
    C[0, np.flatnonzero(inst.supports[0])[0]] = 1.0
    y = -C[out]
    got = _certificate_norm(inst, C)
    assert np.isfinite(got)
    assert abs(got - perp_combination_norm(inst, y)) <= 1e-12 * max(1.0, got)
    C[1, np.flatnonzero(out[1])[0]] = 1e-3
    assert _certificate_norm(inst, C) == np.inf


@settings(max_examples=20, deadline=None)
@given(non_separable_instances(max_contexts=4, max_vocab=4, max_dim=3))
def test_the_direct_exit_answers_not_separable_with_a_checked_certificate(inst):
    # With a generous threshold the ascent leaves at its first epoch through the direct
    # "certificate small enough" exit (before any refinement): the outcome must say not
    # separable, carry no solution, and a simplex certificate whose exact norm is the one
    # reported, at most the threshold.
    assume(np.all(np.any(inst.embeddings != 0.0, axis=1)))  # a zero h_j exits at epoch 0
    B, _ = reduced_factor(inst)
    threshold = 1e6
    outcome = dual_coordinate_ascent(
        B,
        inst.supports,
        threshold=threshold,
        polish=lambda active: None,
        certificate_norm=lambda C: _certificate_norm(inst, C),
    )
    assert outcome.epochs == 1
    assert not outcome.separable and outcome.solution is None
    y = outcome.certificate
    assert y is not None and np.all(y >= 0.0) and abs(float(y.sum()) - 1.0) <= 1e-12
    assert outcome.certificate_norm <= threshold


# -- deciding "separable" by a separator of the primal iterate -------------------------------


def _witness_ascent(inst, **budget):
    """The ascent with the witness check (at the decision threshold) and a polish that never
    succeeds."""
    B, _ = reduced_factor(inst)
    threshold = SEPARABLE_RTOL * _atom_scale(inst)
    return dual_coordinate_ascent(
        B,
        inst.supports,
        threshold=0.0,
        polish=lambda active: None,
        certificate_norm=lambda C: np.inf,
        witness=lambda X: dual_witness(inst, X, threshold),
        **budget,
    )


def _atom_scale(inst):
    """``max_i ||A_i||`` (over contexts with out-of-support tokens)."""
    return np.sqrt(2) * np.max(np.linalg.norm(inst.embeddings[~inst.supports.all(1)], axis=1))


def _check_separator(inst, W, margin):
    """Definition 2 for ``W`` recomputed from ``H`` (no solver): equal support logits to the
    (6a) standard of ``W^mm`` (``KKT_RTOL`` of the largest logit) and out-of-support gaps
    ``>= 1``; ``margin`` is ``1 / ||W||``."""
    Z = inst.embeddings @ np.asarray(W).T
    tol = KKT_RTOL * max(1.0, float(np.max(np.abs(Z))))
    lo = np.where(inst.supports, Z, np.inf).min(axis=1)
    hi_in = np.where(inst.supports, Z, -np.inf).max(axis=1)
    has_out = ~inst.supports.all(axis=1)
    best_out = np.where(inst.supports, -np.inf, Z).max(axis=1)
    assert np.all(hi_in - lo <= tol)
    assert np.all(lo[has_out] - best_out[has_out] >= 1.0)
    assert margin == pytest.approx(1.0 / float(np.linalg.norm(W)), rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_separator_of_the_ascent_brackets_the_exact_margin(seed):
    # Rank-deficient (d < m) random instances with small supports are separable; the ascent
    # without a polish can only answer by a separator, whose margin must lie below
    # gamma* = 1 / ||W^mm|| (exact active-set method) and the proven upper end above it.
    inst = random_support_instance(12, 8, 8, 2, seed=seed)
    assert reduced_factor(inst)[0].shape[1] < inst.m
    assert is_separable(_fresh(inst))  # every seed here (the bracket below needs it)
    gamma = 1.0 / float(np.linalg.norm(ntp_svm_result(_fresh(inst), method="active-set").W))
    outcome = _witness_ascent(inst, max_epochs=5000)
    assert outcome.separable and outcome.solution is None and outcome.witness is not None
    W, margin = outcome.witness
    _check_separator(inst, W, margin)
    # Both ends are exact inequalities; W_RTOL covers the KKT accuracy of the reference.
    assert margin <= gamma * (1 + W_RTOL)
    assert gamma <= (1.0 / outcome.norm_bound) * (1 + W_RTOL)
    assert outcome.state is not None and outcome.state.shape == inst.supports.shape


@given(non_separable_instances(max_contexts=4, max_vocab=4, max_dim=3))
@SLOW
def test_ascent_with_separator_check_never_claims_separable(inst):
    # Threshold 0 never concludes "not separable" from the bound and the polish never
    # succeeds: the answers left are the budget running out, or the exact certificate of a
    # zero embedding with a non-full support.
    try:
        outcome = _witness_ascent(_fresh(inst), max_epochs=200)
    except SeparabilityUndecidedError:
        event("undecided")
    else:
        assert not outcome.separable and outcome.certificate is not None


def test_separator_is_the_projection_of_the_iterate_not_the_iterate():
    # X violates (6a) on a two-token support but has positive gaps; its projection onto
    # F-perp is the separator, and an X whose projection does not separate gives None.
    H = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    inst = instance_on_supports(H, [[1, 1, 0], [0, 0, 1], [0, 0, 1]])
    B, Vt = reduced_factor(inst)
    W = np.array([[3.0, -1.0], [2.0, -1.0], [-1.0, 4.0]])  # context 0: logits 3 != 2
    threshold = SEPARABLE_RTOL * _atom_scale(inst)
    found = dual_witness(inst, W @ Vt.T, threshold)
    assert found is not None
    _check_separator(inst, *found)
    assert dual_witness(inst, np.zeros((3, B.shape[1])), threshold) is None
    assert dual_witness(inst, -W @ Vt.T, threshold) is None
    # Above its own margin the threshold refuses the same separator.
    assert dual_witness(inst, W @ Vt.T, 2.0 * found[1]) is None


def test_rounding_of_the_projection_is_not_a_separator():
    # Found by Hypothesis: h_0 = h_1 with S_1 = {0, 1} forces w_0 = w_1, so S_0 = {1} has
    # gap 0; the projection leaves a gap of rounding size that scaling would blow up to 1.
    inst = instance_on_supports([[1.0], [1.0]], [[0, 1, 0], [1, 1, 0]])
    X = np.array([[0.1], [0.3], [-1.0]])
    assert dual_witness(inst, X, SEPARABLE_RTOL * _atom_scale(inst)) is None


def test_w_mm_continues_from_a_separator_decision(monkeypatch):
    import ntpprops._svm_active as active

    monkeypatch.setattr(active, "DENSE_MAX_ENTRIES", 10.0)
    inst = random_support_instance(30, 8, 20, 2, seed=3)
    reference = ntp_svm_result(_fresh(inst), method="active-set")
    sep = decide_separability(inst, method="dual-cd")
    outcome = inst._cache["svm_dual_outcome"]
    # Decided by a separator (the instance is built so): W^mm continues from its state.
    assert sep.margin_upper is not None
    assert outcome.witness is not None and outcome.state is not None
    assert sep.margin <= reference.margin * (1 + W_RTOL) <= sep.margin_upper * (1 + W_RTOL)
    got = ntp_svm_result(inst, method="dual-cd")
    _assert_same_solution(inst, reference)
    assert relative_error(got.W, reference.W) <= W_RTOL


def test_separable_without_w_mm_is_a_plain_solver_error(monkeypatch):
    # Once a separator decided the instance, failing to polish W^mm must not be reported as
    # "separability undecided".
    import ntpprops._svm_active as active

    monkeypatch.setattr(active, "DENSE_MAX_ENTRIES", 10.0)
    monkeypatch.setattr(active, "_verified_polish", lambda inst, act, deadline=None: None)
    inst = random_support_instance(30, 8, 20, 2, seed=3)
    sep = decide_separability(inst, method="dual-cd", max_seconds=30)
    assert sep and sep.margin_upper is not None and sep.margin <= sep.margin_upper
    with pytest.raises(SolverError, match="is NTP-separable") as info:
        active.solve_dual_cd(inst, max_seconds=0.5)
    assert not isinstance(info.value, SeparabilityUndecidedError)


def test_witness_epochs_double_then_step():
    tried = [e for e in range(1, 41) if witness_epochs(e)]
    assert tried == [1, 2, 4, 8, 16, 24, 32, 40]
