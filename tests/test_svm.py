"""The NTP-SVM (Definition 3): exact solutions, KKT certificates and independent cross-checks.

Independent references: hand-derived ``W^mm`` on tiny instances, cvxpy + Clarabel on the
primal (raw, unpolished answer) and scikit-learn's Crammer-Singer SVM on one-hot data.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _builders import instance_on_supports as _instance
from _builders import random_support_instance, relative_error

from ntpprops import (
    NotSeparableError,
    NTPInstance,
    SVMResult,
    is_separable,
    ntp_margin,
    ntp_svm,
    ntp_svm_result,
    project_f,
)
from ntpprops._separability import (
    SeparabilityResult,
    raw_margin,
    separability_certificate_bound,
    separation_atoms,
)
from ntpprops._svm import KKT_RTOL, kkt_report
from ntpprops._svm_cvxpy import solve_cvxpy

# -- hand-derived solutions ---------------------------------------------------------------

HAND_BUILT = {
    # V = 2, d = 1, one-hot: h_1 = 1 with label 0 and h_2 = -2 with label 1. Constraints
    # w0 - w1 >= 1 and 2 (w0 - w1) >= 1; only the first binds, so W = (1/2, -1/2)^T with
    # lambda = (1/2, 0) (W = lambda_1 (e0 - e1) h_1).
    "one-hot-1d": (
        [[1.0], [-2.0]],
        [[1, 0], [0, 1]],
        np.array([[0.5], [-0.5]]),
        np.array([0.5, 0.0]),
    ),
    # V = 3, d = 1, m = 1, h = 1, S = {0, 1}: (6a) forces w0 = w1 = a, (6b) a - w2 >= 1.
    # min 2a^2 + (a - 1)^2 gives a = 1/3, W = (1/3, 1/3, -2/3)^T. Stationarity:
    # W = lambda P_perp(e0 - e2) = lambda (1/2, 1/2, -1) gives lambda = 2/3.
    "support-of-two": (
        [[1.0]],
        [[1, 1, 0]],
        np.array([[1.0], [1.0], [-2.0]]) / 3.0,
        np.array([2.0 / 3.0]),
    ),
    # Orthogonal contexts h_1 = (1, 0), h_2 = (0, 2) decouple the columns of W. Column 1 is
    # the previous case. Column 2 (context 2, S = {2}): 2 (w2 - w0) >= 1, 2 (w2 - w1) >= 1;
    # by symmetry w0 = w1 = -a, w2 = b, a + b = 1/2, min 2a^2 + b^2 gives a = 1/6, b = 1/3.
    # Duals: column 2 = 2 (mu_0 (e2 - e0) + mu_1 (e2 - e1)) gives mu_0 = mu_1 = 1/12.
    "orthogonal-contexts": (
        [[1.0, 0.0], [0.0, 2.0]],
        [[1, 1, 0], [0, 0, 1]],
        np.array([[1 / 3, -1 / 6], [1 / 3, -1 / 6], [-2 / 3, 1 / 3]]),
        np.array([2 / 3, 1 / 12, 1 / 12]),
    ),
}


@pytest.mark.parametrize("method", ["active-set", "cvxpy"])
@pytest.mark.parametrize("name", sorted(HAND_BUILT))
def test_hand_derived_solutions(name, method):
    H, supports, W_expected, duals_expected = HAND_BUILT[name]
    result = ntp_svm_result(_instance(H, supports), method=method)
    # Both methods end with an exact solve on the active set: rounding only (entries O(1)).
    np.testing.assert_allclose(result.W, W_expected, atol=1e-13)
    np.testing.assert_allclose(result.duals, duals_expected, atol=1e-13)
    assert result.margin == pytest.approx(1.0 / np.linalg.norm(W_expected), rel=1e-13)
    assert result.kkt.ok and result.method == method


# -- cross-checks against independent solvers ----------------------------------------------

CASES = [(8, 5, 10, 2), (12, 6, 14, 3), (6, 4, 3, 2), (10, 5, 4, 1), (30, 6, 40, 4)]

#: Seeds whose ``random_support_instance`` is separable, per case (``d > m`` makes every seed
#: separable by Lemma 1; the two ``d < m`` cases were searched once). Listing them, rather
#: than skipping non-separable seeds, keeps every case from silently checking nothing: before,
#: ``(6, 4, 3, 2)`` met no separable seed in ``range(4)`` and ran no check at all.
SEPARABLE_SEEDS = {
    (8, 5, 10, 2): (0, 1, 2, 3),
    (12, 6, 14, 3): (0, 1, 2, 3),
    (6, 4, 3, 2): (6,),
    (10, 5, 4, 1): (0, 1, 2, 4),
    (30, 6, 40, 4): (0, 1, 2, 3),
}


def _separable_cases(m: int, V: int, d: int, S: int, limit: int) -> list[NTPInstance]:
    instances = [random_support_instance(m, V, d, S, seed) for seed in SEPARABLE_SEEDS[m, V, d, S]]
    for inst in instances:
        assert is_separable(inst), "a listed seed is not separable"
    return instances[:limit]


@pytest.mark.parametrize(("m", "V", "d", "S"), CASES)
def test_active_set_agrees_with_raw_clarabel(m, V, d, S):
    for inst in _separable_cases(m, V, d, S, limit=4):
        ours = ntp_svm_result(inst)
        raw = solve_cvxpy(inst, polish=False)
        assert raw is not None
        W_raw, duals_raw, _ = raw
        # Clarabel stops at relative gap and feasibility 1e-12; for the 1-strongly convex
        # objective ||W||^2 / 2 that bounds ||W - W^mm||^2 / ||W^mm||^2 by about 1e-12, i.e.
        # 1e-6 relative (observed: ~1e-11).
        assert relative_error(W_raw, ours.W) <= 1e-6
        assert np.max(np.abs(duals_raw - ours.duals)) <= 1e-6 * np.max(ours.duals)
        polished = ntp_svm_result(inst, method="cvxpy")
        # Polished from Clarabel's active set: the same exact KKT point, to rounding.
        assert relative_error(polished.W, ours.W) <= 1e-10


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_raw_clarabel_active_set_holds_every_clearly_active_constraint(scale):
    # The unpolished answer's active set (a multiplier above a fraction of the largest) must
    # keep every constraint the exact solution clearly needs (dual > 1e-4 of the largest:
    # far above Clarabel's 1e-6 relative dual error), whatever the scale of the data; the
    # multipliers scale as 1 / scale^2, so a threshold that is not relative to the largest
    # one drops or keeps them all.
    inst = random_support_instance(8, 5, 10, 2, seed=1)
    inst = inst.replace(embeddings=scale * inst.embeddings)
    ours = ntp_svm_result(inst)
    raw = solve_cvxpy(inst, polish=False)
    assert raw is not None
    _, _, active = raw
    needed = ours.duals > 1e-4 * ours.duals.max()
    assert needed.any() and np.all(active[needed])
    assert not np.all(active), "every constraint active: the threshold selects nothing"


def test_one_hot_matches_crammer_singer_svm():
    sklearn_svm = pytest.importorskip("sklearn.svm")
    rng = np.random.default_rng(0)
    m, V, d = 30, 5, 40
    H = rng.standard_normal((m, d))
    labels = np.concatenate([np.arange(V), rng.integers(0, V, m - V)])
    result = ntp_svm_result(NTPInstance(H, np.eye(V)[labels]))
    # Remark 1: with every S_j = 1, W^mm is the hard-margin Crammer-Singer SVM. The soft-margin
    # problem has the same solution once C exceeds every per-sample dual mass sum_v lambda_jv.
    C = 100.0 * float(result.duals.reshape(m, V - 1).sum(axis=1).max())
    clf = sklearn_svm.LinearSVC(
        multi_class="crammer_singer", fit_intercept=False, C=C, tol=1e-8, max_iter=100_000
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(H, labels)
    # liblinear stops when its dual projected gradient is below tol = 1e-8; the dual
    # suboptimality is then O(n_dual * tol * max alpha) and, by 1-strong convexity of the
    # primal, ||W - W^mm|| = O(sqrt(that)) ~ 1e-5 relative here (observed: ~2e-9).
    assert relative_error(clf.coef_, result.W) <= 1e-5


# -- properties of the solution --------------------------------------------------------------


@pytest.mark.parametrize(("m", "V", "d", "S"), CASES)
def test_solution_passes_kkt_and_margin_identities(m, V, d, S):
    for inst in _separable_cases(m, V, d, S, limit=3):
        result = ntp_svm_result(inst)
        assert isinstance(result, SVMResult)
        kkt = result.kkt
        assert kkt.ok and kkt.worst <= KKT_RTOL
        assert result.duals.shape == result.active.shape
        assert np.all(result.duals >= 0.0)
        W = result.W
        # Exact KKT solve: margins and P_F W are rounding (1e-10 leaves room for
        # conditioning up to ~1e5).
        assert ntp_margin(inst, W) == pytest.approx(1.0 / np.linalg.norm(W), rel=1e-10)
        assert result.margin == pytest.approx(is_separable(inst).margin, rel=1e-12)
        assert np.linalg.norm(project_f(inst, W)) <= 1e-10 * np.linalg.norm(W)


def test_kkt_report_detects_perturbations():
    inst = random_support_instance(8, 5, 10, 2, seed=1)
    result = ntp_svm_result(inst)
    W, duals = result.W, result.duals
    assert kkt_report(inst, W, duals).ok
    assert not kkt_report(inst, 1.001 * W, duals).ok  # stationarity breaks
    assert not kkt_report(inst, 0.999 * W, 0.999 * duals).ok  # margins drop below 1
    bumped = duals.copy()
    bumped[np.argmin(duals)] += 1e-3 * duals.max()
    assert not kkt_report(inst, W, bumped).ok


@pytest.mark.parametrize("seed", range(3))
def test_kkt_report_residuals_are_relative(seed):
    # H -> c H maps atoms A -> c A, so (W / c, lambda / c^2) is the KKT point of the scaled
    # problem (margins <W / c, c A> unchanged, P_perp(sum lambda / c^2 c A) = W / c). Relative
    # residuals must not move; a perturbed dual vector makes them O(1e-3), not rounding.
    inst = random_support_instance(8, 5, 10, 2, seed=seed)
    result = ntp_svm_result(inst)
    duals = result.duals.copy()
    # Two inactive constraints (margin > 1, dual 0) get multipliers of either sign: the dual
    # and complementarity residuals become O(1e-2), relative to the largest multiplier.
    first, second = np.argsort(duals)[:2]
    duals[first], duals[second] = 1e-2 * duals.max(), -1e-2 * duals.max()
    base = kkt_report(inst, result.W, duals)
    assert base.complementarity >= 1e-4 and base.dual_infeasibility >= 1e-4
    for c in (1e-3, 1e3):
        scaled = inst.replace(embeddings=c * inst.embeddings)
        report = kkt_report(scaled, result.W / c, duals / c**2)
        # Every residual is a ratio of quantities computed to ~1e-13 relative (conditioning
        # of the instance ~1e2 times the n-term sums): 1e-8 relative is room.
        for name in ("primal_infeasibility", "dual_infeasibility", "complementarity"):
            assert getattr(report, name) == pytest.approx(getattr(base, name), rel=1e-8, abs=1e-12)
        assert report.stationarity == pytest.approx(base.stationarity, rel=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_kkt_report_never_certifies_the_zero_matrix(seed):
    # W = 0 violates every margin constraint (6b): no multipliers can make it a KKT point,
    # whatever they are (the true duals of W^mm, zeros, or anything else).
    inst = random_support_instance(8, 5, 10, 2, seed=seed)
    result = ntp_svm_result(inst)
    zero = np.zeros(inst.weight_shape)
    for duals in (result.duals, np.zeros_like(result.duals), np.ones_like(result.duals)):
        report = kkt_report(inst, zero, duals)
        assert not report.ok
        assert report.primal_infeasibility >= 1.0  # every margin of W = 0 is 0: violated by 1


def test_kkt_report_needs_multipliers():
    # The primal W^mm with all-zero duals: stationarity W = P_perp(sum lambda A) fails.
    inst = random_support_instance(8, 5, 10, 2, seed=0)
    W = ntp_svm_result(inst).W
    report = kkt_report(inst, W, np.zeros(len(separation_atoms(inst))))
    assert not report.ok and report.primal_infeasibility <= KKT_RTOL


def test_solution_ignores_context_weights_and_in_support_probabilities():
    inst = random_support_instance(12, 6, 14, 3, seed=2)
    rng = np.random.default_rng(3)
    other = _instance(inst.embeddings, inst.supports, seed=9, weights=rng.random(12) + 0.1)
    # Definition 3 reads only H and the supports: same problem, same exact solution.
    assert relative_error(ntp_svm(other), ntp_svm(inst)) <= 1e-12


def test_results_are_cached_and_ntp_svm_returns_a_copy():
    inst = random_support_instance(8, 5, 10, 2, seed=0)
    assert ntp_svm_result(inst) is ntp_svm_result(inst, method="auto")
    W = ntp_svm(inst)
    W[:] = 0.0
    assert np.any(ntp_svm(inst))


def test_active_set_size_limit_is_the_documented_one():
    from ntpprops._svm_active import DENSE_MAX_ENTRIES, active_set_fits

    # rank H = 2 < m = 3 (h_3 = h_1 + h_2), supports of size 2: the min-norm-point matrices
    # have V r = 2 V rows and max(sum_j (S_j - 1), 4 (V r + 1)) = 8 V + 4 columns, so they fit
    # while 2 V (8 V + 4) <= DENSE_MAX_ENTRIES. Only the decision is made here: no matrix of
    # that size is built.
    def inst(V: int) -> NTPInstance:
        P = np.zeros((3, V))
        P[:, :2] = 0.5
        return NTPInstance([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], P)

    largest = max(V for V in range(2, 20_000) if 2 * V * (8 * V + 4) <= DENSE_MAX_ENTRIES)
    assert active_set_fits(inst(largest))
    assert not active_set_fits(inst(largest + 1))


@pytest.mark.parametrize("method", ["active-set", "dual-cd", "cvxpy"])
def test_solve_time_is_a_duration(method):
    # A wall-clock duration: positive and finite (a sign slip in the bookkeeping would give
    # minus the machine's uptime). No bound on its size: timings are not asserted in tests.
    result = ntp_svm_result(random_support_instance(8, 5, 10, 2, seed=3), method=method)
    assert math.isfinite(result.solve_time) and result.solve_time > 0.0


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "cvxpy"])
def test_non_separable_raises_with_certificate(method):
    inst = _instance([[1.0, 1.0], [1.0, 1.0]], [[1, 0, 0], [0, 1, 1]])
    with pytest.raises(NotSeparableError, match="not NTP-separable") as info:
        ntp_svm(inst, method=method)
    certificate = info.value.certificate
    assert isinstance(certificate, SeparabilityResult) and not certificate
    assert separability_certificate_bound(inst, certificate.certificate) >= 1e12


def test_full_supports_raise_not_separable():
    inst = _instance([[1.0], [2.0]], [[1, 1], [1, 1]])
    with pytest.raises(NotSeparableError, match="every support is full"):
        ntp_svm_result(inst)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        ntp_svm(random_support_instance(4, 3, 5, 1, seed=0), method="gurobi")


def test_low_rank_many_atoms_matches_raw_clarabel():
    # rank H = 2 < m and 240 atoms: W^mm comes from the column-generation min-norm point.
    rng = np.random.default_rng(4)
    m, V = 60, 5
    labels = np.arange(m) % V
    angles = 2 * np.pi * labels / V + rng.uniform(-0.3, 0.3, m)
    H = rng.uniform(0.5, 2.0, m)[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
    inst = NTPInstance(H, np.eye(V)[labels])
    ours = ntp_svm_result(inst)
    W_raw, _, _ = solve_cvxpy(inst, polish=False)
    assert ours.kkt.ok
    assert relative_error(W_raw, ours.W) <= 1e-6  # Clarabel's tolerance, as derived above


def test_pattern_solve_reuses_cached_factors_and_evicts_stale_ones():
    from ntpprops._subspace import kernel
    from ntpprops._svm_active import _solve_pattern_blocks

    inst = random_support_instance(6, 4, 3, 2, seed=3)  # rank H = 3 < 6: singular blocks too
    K, out = kernel(inst), ~inst.supports
    first = inst.supports.copy()
    first[0, np.flatnonzero(out[0])[0]] = True  # one active atom
    cache: dict = {}
    _solve_pattern_blocks(K, first, out, cache)
    stale = set(cache)
    fresh = _solve_pattern_blocks(K, inst.supports, out, {})
    cached = _solve_pattern_blocks(K, inst.supports, out, cache)
    # Same factors, same operations: the cache changes nothing but the work done.
    np.testing.assert_array_equal(cached, fresh)
    needed = {np.flatnonzero(inst.supports[:, v]).tobytes() for v in range(inst.vocab_size)}
    assert set(cache) == needed and stale - needed  # the active atom's row set was evicted


def _two_scale_instance(seed, m, small_scale):
    """Half the contexts' embeddings shrunk by ``small_scale``; supports of size 2 of V = 5."""
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((m, 6))
    H[: m // 2] *= small_scale
    P = np.zeros((m, 5))
    for j in range(m):
        P[j, rng.choice(5, 2, replace=False)] = rng.uniform(0.1, 1.0, 2)
    return NTPInstance(H, P / P.sum(axis=1, keepdims=True))


@pytest.mark.parametrize(
    ("seed", "m", "small_scale"),
    # Each was refused with SolverError (by both methods) before rank was judged at unit
    # diagonal and the witness allowed the scale-up the KKT check accepts: rank H = 6 < m = 8
    # at norm ratios 10^2..10^4, and full rank (m = 4) at 10^5, where rounding in the margins
    # of ||W|| ~ 10^5 outgrew fixed 2^-44 bumps.
    [(19, 8, 1e-2), (0, 8, 1e-3), (2, 8, 1e-3), (0, 8, 1e-4), (0, 4, 1e-5)],
)
def test_contexts_of_very_different_norms_are_solved(seed, m, small_scale):
    inst = _two_scale_instance(seed, m, small_scale)
    for method in ("active-set", "cvxpy"):
        result = ntp_svm_result(inst, method=method)
        assert result.kkt.ok  # KKT residuals <= 1e-8: the unique optimum, whichever solver
        assert raw_margin(inst, result.W) > 0.0


def test_cycling_restart_starts_from_the_optimal_active_set(monkeypatch):
    # No instance found in testing makes PDAS cycle, so the first PDAS run is forced to
    # report cycling (None). The restart must then start from the support of the min-norm
    # point's multipliers, which (Definition 3's dual) holds every atom with a positive
    # multiplier at W^mm: checked here against Clarabel's raw duals, not our own solve.
    from ntpprops import _svm_active

    inst = random_support_instance(10, 6, 5, 2, seed=2)  # rank H = 5 < m: min-norm path
    assert is_separable(inst)
    real_pdas = _svm_active._pdas
    starts: list[np.ndarray] = []

    def cycles_once(inst_, active, deadline=None):
        starts.append(active.copy())
        return None if len(starts) == 1 else real_pdas(inst_, active, deadline)

    monkeypatch.setattr(_svm_active, "_pdas", cycles_once)
    W, duals, _ = _svm_active._solve_svm(inst, None)
    assert len(starts) == 2  # the restart ran
    atoms = separation_atoms(inst)
    W_raw, raw_duals, _ = solve_cvxpy(inst, polish=False)
    # Clarabel's duals are accurate to ~1e-7 of their scale; 1e-4 leaves room above that.
    clearly_active = raw_duals > 1e-4 * raw_duals.max()
    assert clearly_active.any()
    assert starts[1][atoms.ctx[clearly_active], atoms.neg[clearly_active]].all()
    assert relative_error(W_raw, W) <= 1e-6  # Clarabel's tolerance, as in the tests above
    assert kkt_report(inst, W, duals).ok
