"""The regularisation path of Theorem 1: KKT, the sphere, an independent solver, the limits."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.optimize

import ntpprops._regpath as regpath_module
from ntpprops import (
    InvalidInstanceError,
    NTPInstance,
    SolverError,
    ce_grad,
    ce_loss,
    excess_loss,
    ntp_svm_result,
    project_f,
    regularization_path,
    w_star,
)
from ntpprops._regpath import (
    DENSE_MAX_COORDINATES,
    MF_KKT_RTOL,
    MF_STEP_RTOL,
    RegularizationPath,
    _check_norms,
    _choose_method,
    _mf_kkt,
    _mf_newton,
    _MFProblem,
    _Problem,
    _solve_path,
)


def random_instance(seed: int, m: int, V: int, d: int, S: int) -> NTPInstance:
    """Gaussian ``H``, random supports of size ``S`` and Dirichlet probabilities."""
    rng = np.random.default_rng(seed)
    P = np.zeros((m, V))
    for j in range(m):
        support = rng.choice(V, S, replace=False)
        P[j, support] = rng.dirichlet(np.ones(S))
    return NTPInstance(rng.normal(size=(m, d)), P)


def svm_by_cvxpy(inst: NTPInstance) -> np.ndarray:
    """``W^mm`` of Definition 3 written out constraint by constraint (independent of ntpprops)."""
    W = cp.Variable(inst.weight_shape)
    cons = []
    for j, h in enumerate(inst.embeddings):
        scores = W @ h
        inside = np.flatnonzero(inst.supports[j])
        outside = np.flatnonzero(~inst.supports[j])
        cons += [scores[z] == scores[inside[0]] for z in inside[1:]]
        cons += [scores[z] - scores[v] >= 1 for z in inside for v in outside]
    cp.Problem(cp.Minimize(cp.sum_squares(W)), cons).solve(solver=cp.CLARABEL)
    return np.asarray(W.value)


def cosine(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B)))


@pytest.fixture(scope="module")
def separable() -> NTPInstance:
    # d > m with Gaussian H: rank m, so compatible and separable (Lemma 1).
    return random_instance(0, m=3, V=5, d=4, S=3)


@pytest.fixture(scope="module")
def long_path(separable: NTPInstance) -> RegularizationPath:
    return regularization_path(separable, np.geomspace(0.1, 1000.0, 21))


def norms_of(path: RegularizationPath) -> np.ndarray:
    return np.linalg.norm(path.weights.reshape(len(path.norms), -1), axis=1)


def test_result_fields_and_shapes(separable: NTPInstance, long_path: RegularizationPath) -> None:
    k = 21
    assert long_path.weights.shape == (k, *separable.weight_shape)
    for name in ("norms", "loss", "excess_loss", "cos_mm", "dist_f_wstar", "multipliers"):
        assert getattr(long_path, name).shape == (k,), name
    assert long_path.converged.all() and long_path.active.all()
    with pytest.raises(AttributeError):
        long_path.norms = np.ones(k)  # type: ignore[misc]


def test_minimiser_lies_on_the_sphere(long_path: RegularizationPath) -> None:
    # Theorem 1: separable and compatible, so ||W_B|| = B; the KKT polish meets 1e-12 in log.
    np.testing.assert_allclose(norms_of(long_path), long_path.norms, rtol=1e-10)


def test_kkt_of_the_ball_constrained_problem(separable: NTPInstance) -> None:
    # B up to 20: ||grad CE|| stays >= 1e-8, so ce_grad's rounding (~1e-16 absolute)
    # is below 1e-7 of it; 1e-6 leaves room for the solver's 1e-11 relative steps.
    path = regularization_path(separable, np.geomspace(0.1, 20.0, 8))
    for W, B, lam in zip(path.weights, path.norms, path.multipliers, strict=True):
        g = ce_grad(separable, W)
        lam_kkt = -float(np.sum(g * W)) / B**2  # the multiplier that fits best
        assert lam_kkt > 0
        assert np.linalg.norm(g + lam_kkt * W) <= 1e-6 * np.linalg.norm(g)
        assert lam == pytest.approx(lam_kkt, rel=1e-6)


def test_loss_fields_match_the_loss_module(separable: NTPInstance) -> None:
    path = regularization_path(separable, [0.5, 5.0, 20.0])
    for W, loss, excess in zip(path.weights, path.loss, path.excess_loss, strict=True):
        # Both are sums of O(1) log-sum-exp terms over the same logits, up to rounding.
        assert loss == pytest.approx(ce_loss(separable, W), rel=1e-12)
        assert excess == pytest.approx(excess_loss(separable, W), rel=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_agrees_with_slsqp_on_a_tiny_instance(seed: int) -> None:
    inst = random_instance(seed, m=2, V=3, d=3, S=2)
    shape = inst.weight_shape
    norms = [0.5, 2.0, 6.0]
    path = regularization_path(inst, norms)
    for W, B in zip(path.weights, norms, strict=True):
        ref = scipy.optimize.minimize(
            lambda w: ce_loss(inst, w.reshape(shape)),
            np.zeros(np.prod(shape)),
            jac=lambda w: ce_grad(inst, w.reshape(shape)).ravel(),
            constraints=[
                {"type": "ineq", "fun": lambda w, B=B: B**2 - w @ w, "jac": lambda w: -2 * w}
            ],
            method="SLSQP",
            options={"ftol": 1e-13, "maxiter": 1000},
        )
        assert ref.success, ref.message
        # Our minimiser is at least as good (SLSQP stops at ~1e-12 in the loss) ...
        assert ce_loss(inst, W) <= ref.fun + 1e-11
        # ... and unique: SLSQP's point agrees to the square root of its loss accuracy,
        # scaled by the curvature along the sphere (>= 1e-3 here).
        np.testing.assert_allclose(ref.x.reshape(shape), W, atol=1e-4 * B)


def test_direction_converges_to_the_svm(separable: NTPInstance, long_path) -> None:
    w_mm = svm_by_cvxpy(separable)
    cos = np.array([cosine(W, w_mm) for W in long_path.weights])
    # The path's own cos_mm (W^mm from ntp_svm) agrees with the independent QP (Clarabel
    # solves to ~1e-8 relative).
    if long_path.cos_mm is not None:
        np.testing.assert_allclose(long_path.cos_mm, cos, atol=1e-7)
    # Not monotone everywhere: on this instance cos dips by 5e-3 between B = 6 and 10 (the
    # theorem is about the limit). From B = 16 on it rises at every step of the grid, by
    # >= 7e-5, far above the QP's 1e-8.
    large = long_path.norms >= 16
    assert np.all(np.diff(cos[large]) > 0)
    # Theorem 1: 1 - cos -> 0; here from 0.48 at B = 0.1 to 5.1e-5 at B = 1000.
    assert 1 - cos[-1] < 1e-3 * (1 - cos[0])


def test_f_component_converges_to_w_star(separable: NTPInstance, long_path) -> None:
    dist = long_path.dist_f_wstar
    W_star = w_star(separable)
    # Cross-check against the kernel-form projector at moderate B (where ||P_perp W|| ~ B
    # leaves project_f an absolute rounding of ~1e-16 B cond).
    for i in (0, 10):
        direct = np.linalg.norm(project_f(separable, long_path.weights[i]) - W_star)
        assert dist[i] == pytest.approx(direct, rel=1e-8, abs=1e-10)
    # Lemma 4.5: P_F W_B -> W*; monotone on this grid, down to the rounding of W*.
    assert np.all(np.diff(dist[:15]) < 0)
    assert dist[-1] < 1e-12


def test_excess_loss_decreases_along_the_path(long_path: RegularizationPath) -> None:
    # Larger balls contain smaller ones; the excess falls until its ~1e-30 floor: the F
    # coordinates are exact to ~10 ulps of ||W*||, and KL on the support is quadratic in that
    # error (~(1e-15)^2), so it cannot resolve less.
    ex = long_path.excess_loss
    assert np.all(np.diff(ex[:16]) < 0)
    assert np.all(ex >= 0) and ex[-1] < 1e-28
    assert np.all(np.diff(long_path.multipliers) < 0)


def test_finite_minimiser_makes_the_constraint_inactive() -> None:
    # One direction only: equal h, V = 2, supports {0} and {1}, pi = (3/4, 1/4). The logit gap
    # w = W_0 - W_1 has CE = 3/4 log(1 + e^-w) + 1/4 log(1 + e^w), minimised at w = log 3 by
    # W = (log 3 / 2, -log 3 / 2): norm log(3) / sqrt(2) = 0.777.
    inst = NTPInstance([[1.0], [1.0]], [[1.0, 0.0], [0.0, 1.0]], [3.0, 1.0])
    path = regularization_path(inst, [0.3, 0.7, 2.0, 50.0])
    half = np.log(3) / 2
    for W, B in zip(path.weights[:2], path.norms[:2], strict=True):
        np.testing.assert_allclose(W, [[B / np.sqrt(2)], [-B / np.sqrt(2)]], rtol=1e-12)
    for W in path.weights[2:]:
        # Newton's quadratic convergence: at the 1e-11 relative step, W is exact to ~1e-15.
        np.testing.assert_allclose(W, [[half], [-half]], rtol=1e-12)
    np.testing.assert_array_equal(path.active, [True, True, False, False])
    np.testing.assert_array_equal(path.multipliers[2:], 0.0)
    assert path.multipliers[0] > path.multipliers[1] > 0
    assert path.cos_mm is None  # not separable: no W^mm
    assert path.converged.all()


def test_full_supports_converge_to_w_star() -> None:
    inst = random_instance(5, m=3, V=4, d=5, S=4)
    W_star = w_star(inst)
    norm_star = np.linalg.norm(W_star)
    path = regularization_path(inst, [0.5 * norm_star, 2 * norm_star])
    assert path.active.tolist() == [True, False]
    np.testing.assert_allclose(norms_of(path)[0], path.norms[0], rtol=1e-10)
    # The unconstrained minimiser is W* (CE = CE_F, minimised on F at W*; Lemma 4.2),
    # solved by Newton to 1e-11 relative steps (so ~1e-12 after the last quadratic step).
    np.testing.assert_allclose(path.weights[1], W_star, atol=1e-9 * np.linalg.norm(W_star))
    assert path.excess_loss[1] < 1e-18
    assert path.cos_mm is None


def test_weakly_separable_path_stays_on_the_sphere() -> None:
    # Equal h, supports {0} and {1} of V = 3: not separable (the two contexts need opposite
    # margins), yet lowering token 2 always helps: the infimum is not attained.
    inst = NTPInstance([[1.0], [1.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    path = regularization_path(inst, [1.0, 10.0, 20.0])
    assert path.active.all() and path.converged.all()
    np.testing.assert_allclose(norms_of(path), path.norms, rtol=1e-10)
    assert path.cos_mm is None
    # The growing part is the token-2 logit: W ~ (c, c, c - t) up to per-context shifts.
    W = path.weights[-1][:, 0]
    assert W[2] < W[0] and W[2] < W[1]
    # Token 2's probability is e^{-1.22 B}; below ~1e-16 of the O(1) terms the diverging
    # direction is lost to rounding (only out-of-support mass that vanishes everywhere, as in
    # separable instances, is computed exactly): the path says so instead of stalling.
    with pytest.raises(SolverError, match="beyond"):
        regularization_path(inst, [100.0])


def test_zero_gradient_at_the_origin_means_nothing_binds() -> None:
    # Uniform full supports: W = 0 already attains the entropy.
    inst = NTPInstance([[1.0, 0.0], [0.0, 2.0]], np.full((2, 3), 1 / 3))
    path = regularization_path(inst, [1.0, 5.0])
    np.testing.assert_array_equal(path.weights, 0.0)
    assert not path.active.any()
    np.testing.assert_allclose(path.excess_loss, 0.0, atol=1e-16)


def test_norms_are_sorted(separable: NTPInstance) -> None:
    path = regularization_path(separable, [5.0, 1.0, 2.0])
    np.testing.assert_array_equal(path.norms, [1.0, 2.0, 5.0])


@pytest.mark.parametrize(
    ("norms", "match"),
    [
        ([], "empty"),
        ([1.0, -2.0], "positive and finite"),
        ([0.0], "positive and finite"),
        ([1.0, np.inf], "positive and finite"),
        ([np.nan], "positive and finite"),
        ([[1.0, 2.0]], "1-D"),
        (["a"], "1-D array of floats"),
    ],
)
def test_bad_norms_are_rejected(separable: NTPInstance, norms: object, match: str) -> None:
    with pytest.raises(InvalidInstanceError, match=match):
        regularization_path(separable, norms)  # type: ignore[arg-type]


def test_norms_beyond_float64_range_raise(separable: NTPInstance) -> None:
    # margin 0.53: the multiplier ~ e^{-0.53 B} / B passes 1e-280 near B = 1200.
    with pytest.raises(SolverError, match="beyond the float64 range"):
        regularization_path(separable, [1e5])


def test_incompatible_but_separable_instance() -> None:
    # Same h, same support {0, 1}, log-ratios 0 and log 4: Eq. 4 has no solution (no W*),
    # while lowering token 2 separates. The path still lies on the sphere.
    inst = NTPInstance([[1.0, 0.5], [1.0, 0.5]], [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])
    path = regularization_path(inst, [1.0, 10.0, 40.0])
    assert path.dist_f_wstar is None
    assert path.active.all() and path.converged.all()
    np.testing.assert_allclose(norms_of(path), path.norms, rtol=1e-10)
    # The in-support gap settles at the pooled optimum p(0) = (0.5 + 0.2) / 2 = 0.35, up to
    # the ridge pull of order lam_B (3e-26 at B = 40) and rounding.
    q = np.exp(inst.embeddings[0] @ path.weights[-1].T)
    assert q[0] / (q[0] + q[1]) == pytest.approx(0.35, rel=1e-9)


# -- the matrix-free method ----------------------------------------------------------------

MF_CASES = [(0, (3, 5, 4, 3)), (1, (6, 8, 5, 3)), (2, (10, 12, 8, 4))]


@pytest.mark.parametrize(("seed", "shape"), MF_CASES, ids=["m3V5", "m6V8", "m10V12"])
def test_matrix_free_agrees_with_dense(seed: int, shape: tuple[int, int, int, int]) -> None:
    inst = random_instance(seed, *shape)
    norms = _check_norms([0.5, 2.0, 10.0, 50.0])
    dense = _solve_path(inst, norms, "dense")
    free = _solve_path(inst, norms, "matrix-free")
    assert (dense.method, free.method) == ("dense", "matrix-free")
    assert free.converged.all() and free.active.all()
    np.testing.assert_allclose(free.multipliers, dense.multipliers, rtol=1e-6)
    # Both are minimisers of the same strictly convex problem: the matrix-free one stops at
    # relative Newton steps MF_STEP_RTOL = 1e-9 (per block, times 1 + ||c|| <= 51), so its
    # distance to the dense (1e-11) solution is below 2 * 1e-9 * 51 ~ 1e-7; 1e-6 leaves room
    # for the curvature along the sphere.
    np.testing.assert_allclose(free.weights, dense.weights, rtol=0, atol=1e-6)
    np.testing.assert_allclose(free.norm_error, 0.0, atol=1e-12)
    assert np.all(free.kkt_residual <= 1e-7)  # finite and small: NaN fails
    assert np.all(dense.kkt_residual <= 1e-12)


def test_hessian_vector_product_matches_the_dense_hessian() -> None:
    inst = random_instance(7, m=5, V=6, d=4, S=3)
    mf, dense = _MFProblem(inst), _Problem(inst)
    rng = np.random.default_rng(0)
    c = mf.fac.project_p(rng.normal(size=mf.fac.shape_p))  # a point: F part and P part
    x = np.concatenate([rng.normal(size=mf.fac.n_f), c.ravel()])
    v = np.concatenate(
        [rng.normal(size=mf.fac.n_f), mf.fac.project_p(rng.normal(size=c.shape)).ravel()]
    )
    pt = mf.point(x)
    lam = 0.3
    hv = mf.hess_vec(pt, lam, v, (True, True))
    # Central finite difference of the gradient along v: error O(h^2 |third derivative|)
    # plus rounding eps / h; h = 1e-5 puts both near 1e-10 for O(1) data; tolerance 1e-7.
    h = 1e-5
    fd = (mf.point(x + h * v).grad - mf.point(x - h * v).grad) / (2 * h) + lam * v
    np.testing.assert_allclose(hv, fd, rtol=0, atol=1e-7 * (1 + np.linalg.norm(fd)))
    # The same quadratic form as the dense Hessian (different bases of the same space: compare
    # v^T H v, basis-free, with the dense coordinates of the same W directions).
    W_of = lambda y: mf.fac.weights(y, inst.vocab_size)  # noqa: E731
    basis = dense.red.basis  # (V r, n) orthonormal
    to_dense = lambda y: basis.T @ (W_of(y) @ dense.red.row_basis.T).ravel()  # noqa: E731
    dpt = dense.point(to_dense(x))
    M = dense.hessian(dpt, lam)
    vd = to_dense(v)
    assert float(v @ hv) == pytest.approx(float(vd @ M @ vd), rel=1e-10)


def test_method_is_chosen_by_size() -> None:
    small = random_instance(0, m=3, V=5, d=4, S=3)  # V r = 15
    assert _choose_method(small) == "dense"
    assert regularization_path(small, [1.0]).method == "dense"
    # V r = 40 * 40 = 1600 > DENSE_MAX_COORDINATES: too large for the dense Hessian.
    big = random_instance(1, m=40, V=40, d=45, S=3)
    assert 40 * 40 > DENSE_MAX_COORDINATES
    assert _choose_method(big) == "matrix-free"
    path = regularization_path(big, [2.0, 8.0])
    assert path.method == "matrix-free"
    assert path.converged.all() and path.active.all()
    np.testing.assert_allclose(norms_of(path), path.norms, rtol=1e-12)
    # KKT in the original weights (ce_grad, independent of the reduction), to the solver's
    # reported accuracy widened by ce_grad's own rounding.
    for W, lam in zip(path.weights, path.multipliers, strict=True):
        g = ce_grad(big, W)
        assert np.linalg.norm(g + lam * W) <= 1e-6 * np.linalg.norm(g)


def test_one_gemm_adjoints_match_the_separate_ones() -> None:
    inst = random_instance(3, m=8, V=9, d=6, S=3)
    fac = _MFProblem(inst).fac
    rng = np.random.default_rng(1)
    R = rng.normal(size=inst.supports.shape)
    R[:, 0] -= R.sum(axis=1)  # zero row sums, as a softmax residual or Jacobian product has
    g_f, g_p = fac.adjoints(R)
    # The same sums of O(1) terms in another order (m V r ~ 400 terms): 1e-12 is ~100 eps.
    np.testing.assert_allclose(g_f, fac.f_adjoint(R), rtol=0, atol=1e-12 * np.abs(R).sum())
    np.testing.assert_allclose(g_p, fac.p_adjoint(R), rtol=0, atol=1e-12 * np.abs(R).sum())
    # Also for the positive "size" matrix of the KKT scale (no zero row sums).
    size = np.abs(R)
    s_f, s_p = fac.adjoints(size)
    np.testing.assert_allclose(s_f, fac.f_adjoint(size), rtol=0, atol=1e-12 * size.sum())
    np.testing.assert_allclose(s_p, fac.p_adjoint(size), rtol=0, atol=1e-12 * size.sum())


def test_block_products_agree_with_the_joint_product() -> None:
    inst = random_instance(4, m=8, V=9, d=6, S=3)
    mf = _MFProblem(inst)
    n_f = mf.fac.n_f
    rng = np.random.default_rng(2)
    x = np.concatenate(
        [rng.normal(size=n_f), mf.fac.project_p(rng.normal(size=mf.fac.shape_p)).ravel()]
    )
    pt = mf.point(x)
    v = np.concatenate(
        [rng.normal(size=n_f), mf.fac.project_p(rng.normal(size=mf.fac.shape_p)).ravel()]
    )
    v_f, v_p = v.copy(), v.copy()
    v_f[n_f:], v_p[:n_f] = 0.0, 0.0
    joint = mf.hess_vec(pt, 0.3, v, (True, True))
    # The joint product (one GEMM of X_F + D) is the sum of the block columns; each block's
    # own product (exact P maps, F maps through K) computes its diagonal block: rounding only.
    by_cols = mf.hess_vec(pt, 0.3, v_f, (True, True)) + mf.hess_vec(pt, 0.3, v_p, (True, True))
    tol = 1e-12 * (1 + np.linalg.norm(joint))
    np.testing.assert_allclose(joint, by_cols, rtol=0, atol=tol)
    np.testing.assert_allclose(
        mf.hess_vec(pt, 0.3, v, (True, False))[:n_f],
        by_cols[:n_f] - (mf.hess_vec(pt, 0.3, v_p, (True, True))[:n_f]),
        rtol=0,
        atol=tol,
    )
    np.testing.assert_allclose(
        mf.hess_vec(pt, 0.3, v, (False, True))[n_f:],
        by_cols[n_f:] - (mf.hess_vec(pt, 0.3, v_f, (True, True))[n_f:]),
        rtol=0,
        atol=tol,
    )


def test_matrix_free_work_is_all_joint_products_and_kkt_is_certified() -> None:
    # Large enough for the matrix-free method (V r = 1600 > DENSE_MAX_COORDINATES).
    inst = random_instance(1, m=40, V=40, d=45, S=3)
    path = regularization_path(inst, [2.0, 8.0])
    assert path.method == "matrix-free" and path.converged.all()
    # The certified stop: every converged point reports its KKT residual at or below the
    # target (the step test MF_STEP_RTOL, when it fires first, leaves it smaller still).
    assert np.all(path.kkt_residual <= MF_KKT_RTOL)
    mf = _MFProblem(inst)
    c = mf.fac.project_p(np.random.default_rng(0).normal(size=mf.fac.shape_p)).ravel()
    c = np.concatenate([np.zeros(mf.fac.n_f), c])
    sol = _mf_newton(mf, c, 4.0, MF_STEP_RTOL, 1e-6)
    assert sol.converged and _mf_kkt(mf, sol.pt, sol.lam) <= 1e-6
    # Every CG iteration was a product with the P block free: no separate F-only solves
    # (on GPL-3 those were 2/3 of the iterations, each as costly as a joint product).
    assert mf.stats.cg == mf.stats.products > 0
    # A start that already meets the target stops at the first check, without a CG step.
    before = mf.stats.snapshot()
    again = _mf_newton(mf, sol.pt.c, 4.0, MF_STEP_RTOL, 1e-6)
    assert again.converged and mf.stats.cg == before[1]


def test_matrix_free_uses_a_cached_w_mm_only() -> None:
    # The matrix-free sizes make the SVM take minutes: cos_mm only from a W^mm already solved.
    inst = random_instance(1, m=40, V=40, d=45, S=3)  # rank m: separable (Lemma 1)
    assert regularization_path(inst, [2.0]).cos_mm is None
    W_mm = ntp_svm_result(inst).W
    path = regularization_path(inst, [2.0])
    assert path.cos_mm is not None
    # One dot product and two norms of 1800 entries each: rounding ~1e-13.
    assert path.cos_mm[0] == pytest.approx(cosine(path.weights[0], W_mm), rel=1e-12)


def test_a_spent_time_budget_keeps_the_points_solved():
    # A budget spent at once still solves the first norm by the dense method (small
    # instances), stops before the next one, says how many were asked for; the point equals
    # the unbudgeted one.
    inst = NTPInstance(np.eye(2), np.array([[1.0, 0.0], [1 / 3, 2 / 3]]))
    norms = [1.0, 2.0, 4.0]
    full = regularization_path(inst, norms)
    cut = regularization_path(inst, norms, max_seconds=1e-9)
    assert (cut.requested, full.requested) == (3, 3)
    assert cut.norms.tolist() == [1.0] and cut.weights.shape[0] == 1
    assert cut.method == full.method == "dense"
    # Both are the same solver's answer at B = 1 from the same start.
    np.testing.assert_array_equal(cut.weights[0], full.weights[0])
    with pytest.raises(InvalidInstanceError, match="max_seconds"):
        regularization_path(inst, norms, max_seconds=0.0)


def test_a_matrix_free_newton_stops_at_the_deadline(monkeypatch):
    # On real text a single norm can take minutes: the matrix-free Newton checks the deadline
    # at every step, and a path that reached no norm says so with a typed error.
    monkeypatch.setattr(regpath_module, "DENSE_MAX_COORDINATES", 0)
    inst = NTPInstance(np.eye(2), np.array([[1.0, 0.0], [1 / 3, 2 / 3]]))
    assert regularization_path(inst, [1.0, 2.0]).method == "matrix-free"
    with pytest.raises(SolverError, match="first norm B = 1 was not reached within max_seconds"):
        regularization_path(inst, [1.0, 2.0], max_seconds=1e-9)


@pytest.mark.parametrize("m", [8, 40])
def test_matrix_free_on_sparse_one_hot_embeddings_agrees_with_dense(monkeypatch, m) -> None:
    # H sparse with orthogonal columns (one-hot contexts, scaled rows): the matrix-free
    # method then works on H itself (no SVD), and at m = 40 the block-diagonal factor of F's
    # Gram matrix is held sparse too. Reference at m = 8: the dense method; at m = 40 (where
    # the dense method takes minutes): the matrix-free method on the same instance held
    # dense, itself checked against the dense method in test_matrix_free_agrees_with_dense.
    import ntpprops._embedding_ops as ops

    rng = np.random.default_rng(7)
    V = 6
    H = np.diag(rng.uniform(0.5, 2.0, m))
    P = np.zeros((m, V))
    for j in range(m):
        support = rng.choice(V, rng.integers(1, 4), replace=False)
        P[j, support] = rng.dirichlet(np.ones(support.size))
    norms = _check_norms([0.5, 2.0, 10.0, 50.0])
    held_dense = NTPInstance(H, P)
    assert regpath_module._factor(held_dense).row_basis is not None  # 64 or 1600 entries
    reference = _solve_path(held_dense, norms, "dense" if m == 8 else "matrix-free")
    monkeypatch.setattr(ops, "SPARSE_MIN_ENTRIES", 0)
    monkeypatch.setattr(ops, "SPARSE_MAX_DENSITY", 0.5)
    inst = NTPInstance(H, P)
    factored = regpath_module._factor(inst)
    assert factored.row_basis is None  # the sparse factorisation
    assert isinstance(factored.chol_inv, np.ndarray) == (m == 8)
    free = _solve_path(inst, norms, "matrix-free")
    assert free.converged.all()
    # As in test_matrix_free_agrees_with_dense: Newton steps to 1e-9 relative, ||c|| <= 51.
    np.testing.assert_allclose(free.weights, reference.weights, rtol=0, atol=1e-6)
    np.testing.assert_allclose(free.multipliers, reference.multipliers, rtol=1e-6)
    np.testing.assert_allclose(free.norm_error, 0.0, atol=1e-12)  # ||W_B|| = B to rounding
    assert np.all(free.kkt_residual <= 1e-7)  # finite and small: NaN fails
