"""Optimizers as data, the training loop and the fused GD kernels."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
import scipy.special
from _builders import one_hot_instance, random_instance
from _oracles import EPS, naive_gd
from hypothesis import given
from hypothesis import strategies as st
from ntpprops.strategies import ntp_instances, weight_matrices

import ntpprops
import ntpprops._kernels as kernels
import ntpprops._svm as svm_module
from ntpprops import OPTIMIZERS, NTPInstance, Optimizer, TrainResult, train
from ntpprops._errors import InvalidInstanceError
from ntpprops._kernels import HAVE_NUMBA, FusedGD
from ntpprops._optim import record_steps


def full_support_instance(seed: int = 0) -> NTPInstance:
    rng = np.random.default_rng(seed)
    return NTPInstance(rng.standard_normal((3, 4)), rng.dirichlet(np.ones(3), size=3))


# -- optimizers on problems with known answers ----------------------------------------------


def run(optimizer: Optimizer, grad, W0: np.ndarray, steps: int) -> np.ndarray:
    W, state = W0.copy(), optimizer.init(W0)
    for _ in range(steps):
        updates, state = optimizer.update(grad(W), state, W)
        W = W + updates
    return W


TARGET = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.5]])


def quadratic_grad(W: np.ndarray) -> np.ndarray:
    """Gradient of ``f(W) = ||W - TARGET||^2 / 2``, minimised at ``TARGET``."""
    return W - TARGET


# (name, hyper, steps, bound on ||W_k - TARGET||_F from W0 = 0, ||TARGET|| = 3.98):
QUADRATIC_TABLE = [
    # GD contracts by exactly (1 - lr) per step.
    ("gd", {"lr": 0.5}, 60, 4.0 * 0.5**60),
    # Heavy ball on a 1-smooth, 1-strongly convex quadratic with beta = 0.1, lr = 0.8:
    # the iteration matrix has spectral radius sqrt(beta) ~ 0.32 (double root); 1e-10 after
    # 200 steps leaves a margin of many orders of magnitude for the polynomial factor.
    ("momentum", {"lr": 0.8, "beta": 0.1}, 200, 1e-10),
    # NGD moves exactly lr towards TARGET until it is within lr, then stays within lr.
    ("ngd", {"lr": 0.05}, 100, 0.05),
    # Sign descent moves each coordinate by lr towards its target: error <= lr per entry.
    ("sign", {"lr": 0.05}, 100, 0.05 * math.sqrt(TARGET.size)),
]


@pytest.mark.parametrize(("name", "hyper", "steps", "bound"), QUADRATIC_TABLE, ids=lambda x: x)
def test_optimizer_reaches_quadratic_minimum(name, hyper, steps, bound):
    W = run(OPTIMIZERS[name](**hyper), quadratic_grad, np.zeros_like(TARGET), steps)
    assert np.linalg.norm(W - TARGET) <= bound


def test_adam_with_constant_gradient_is_sign_descent():
    # Bias correction makes the moment estimates of a constant g exactly g and g^2, so each
    # Adam step is -lr g / (|g| + eps) (Kingma and Ba, Sec. 3); rounding of 1 - b^t only.
    g = np.array([[2.0, -0.5], [1e-3, -7.0]])
    opt = OPTIMIZERS["adam"](0.1)
    W, state = np.zeros_like(g), opt.init(g)
    for _ in range(5):
        updates, state = opt.update(g, state, W)
        np.testing.assert_allclose(updates, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    assert state.count == 5


def test_momentum_velocity_is_geometric_sum():
    # Constant gradient: v_k = g (1 - beta^(k+1)) / (1 - beta), in closed form.
    g = np.array([[1.0, -2.0]])
    opt = OPTIMIZERS["momentum"](0.1, beta=0.5)
    state = opt.init(g)
    for k in range(6):
        updates, state = opt.update(g, state, g)
        np.testing.assert_allclose(updates, -0.1 * g * (1 - 0.5 ** (k + 1)) / 0.5, rtol=1e-14)


def test_ngd_step_has_length_lr_and_zero_gradient_is_a_fixed_point():
    opt = OPTIMIZERS["ngd"](0.3)
    g = np.array([[3.0, 4.0]])
    updates, _ = opt.update(g, opt.init(g), g)
    assert np.linalg.norm(updates) == pytest.approx(0.3, rel=4 * EPS)
    updates, _ = opt.update(np.zeros_like(g), opt.init(g), g)
    assert not np.any(updates)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_are_data(name):
    opt = OPTIMIZERS[name](0.1)
    assert isinstance(opt, Optimizer)
    assert opt.name == name
    assert opt.hyperparams["lr"] == 0.1
    state = opt.init(np.zeros((2, 3)))
    assert isinstance(state, tuple)  # a NamedTuple state
    with pytest.raises(TypeError):
        opt.hyperparams["lr"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "hyper", "error"),
    [
        ("gd", {"lr": 0.0}, ValueError),
        ("gd", {"lr": -1.0}, ValueError),
        ("ngd", {"lr": math.inf}, ValueError),
        ("adam", {"lr": 0.1, "b1": 1.0}, ValueError),
        ("momentum", {"lr": 0.1, "beta": -0.1}, ValueError),
        ("sign", {"lr": "0.1"}, TypeError),
    ],
)
def test_bad_hyperparameters_raise(name, hyper, error):
    with pytest.raises(error):
        OPTIMIZERS[name](**hyper)


# -- GD on NTP instances -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_fused_gd_matches_the_formula(seed):
    inst = random_instance(seed)
    W0 = np.random.default_rng(seed).standard_normal(inst.weight_shape)
    lr = ntpprops.safe_step_size(inst)
    expected = naive_gd(inst, W0, lr, 300)
    for mode in ("logit", "weight"):
        loop = FusedGD(
            inst.embeddings, inst.probs, inst.context_weights, lr, W0, mode=mode, backend="numpy"
        )
        loop.advance(120)
        loop.advance(180)
        # GD with eta <= 1/L is non-expansive, so per-step rounding (a few eps * |W|) adds up
        # at most linearly: 300 steps * 16 eps * max(1, |W|).
        tol = 300 * 16 * EPS * max(1.0, np.abs(expected).max())
        np.testing.assert_allclose(loop.weights(), expected, rtol=0, atol=tol)


def test_train_gd_matches_generic_optimizer_loop():
    inst = random_instance(7)
    fused = train(inst, "gd", steps=400, init="lecun", seed=1, backend="numpy")
    generic = train(inst, OPTIMIZERS["gd"](fused.lr), steps=400, init="lecun", seed=1)
    tol = 400 * 16 * EPS * max(1.0, np.abs(generic.W).max())  # as in the test above
    np.testing.assert_allclose(fused.W, generic.W, rtol=0, atol=tol)
    np.testing.assert_allclose(fused.loss, generic.loss, rtol=1e-12)


@pytest.mark.parametrize("block_floats", [1, 7, 12, 10**6])
@pytest.mark.parametrize("spread", [3.0, 300.0])
def test_blocked_softmax_passes_match_scipy_softmax(monkeypatch, block_floats, spread):
    # 7 and 12 floats give blocks of 1 and 2 rows of V = 5, leaving a short last block of 11.
    monkeypatch.setattr(kernels, "SOFTMAX_BLOCK_FLOATS", block_floats)
    rng = np.random.default_rng(block_floats)
    # Spread 300: row sums beyond e^LOG_SUM_LIMIT in some blocks, not in others.
    Z = rng.standard_normal((11, 5)) * spread
    Z[3] += 2000.0  # exp overflows unless this row is shifted
    Z[7] -= 2000.0  # exp underflows to 0 unless this row is shifted
    scale = rng.uniform(0.5, 2.0, size=11)
    out, row = np.empty_like(Z), np.empty(11)
    with np.errstate(over="ignore"):  # as in the GD loops that call it
        kernels._scaled_residual_numpy(Z, np.zeros_like(Z), scale, out, row)
    expected = scale[:, None] * scipy.special.softmax(Z, axis=1)
    # exp of a logit, shifted or not, a sum of <= 5 terms and two scalings: a few eps each.
    np.testing.assert_allclose(out, expected, rtol=0, atol=8 * EPS * scale.max())


#: The kernels' implementations: the numpy reference and, when installed, the numba twins.
BACKENDS = [
    "numpy",
    pytest.param("numba", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_unshifted_exp_is_accepted_exactly_when_the_row_sums_are_in_range(backend):
    normalise = (
        kernels._normalise_rows if backend == "numpy" else kernels._numba_kernel("normalise_rows")
    )
    limit = kernels.LOG_SUM_LIMIT
    accepted = np.array([[0.0, 1.0, 2.0], [limit - 2.0, 0.0, 1.0], [-limit + 1.0, -900.0, -limit]])
    scale = np.array([0.5, 1.0, 2.0])
    E, row = np.exp(accepted), np.empty(3)
    assert normalise(E, scale, row)
    # exp, sum, divide, multiply: a few eps relative; a term that underflowed (e^-900 here) is
    # off by at most e^-108 of its row (LOG_SUM_LIMIT's bound).
    softmax = scipy.special.softmax(accepted, axis=1)
    np.testing.assert_allclose(E / scale[:, None], softmax, rtol=8 * EPS, atol=np.exp(-108))
    rejected = {
        "sum above e^limit": [limit + 1.0, 0.0, 0.0],
        "sum below e^-limit": [-limit - 2.0, -limit - 2.0, -limit - 2.0],
        "overflow": [800.0, 0.0, 0.0],
        "NaN": [np.nan, 0.0, 0.0],
    }
    with np.errstate(over="ignore"):
        for case, bad_row in rejected.items():
            E = np.exp(np.vstack([accepted[:2], bad_row]))
            before = E.copy()
            assert not normalise(E, scale, row), case
            np.testing.assert_array_equal(E, before)  # left alone for the shifted route


def test_shifted_softmax_subtracts_each_rows_maximum():
    Z = np.array([[2000.0, 1999.0, 0.0], [-2000.0, -2001.0, -2000.5]])
    out, row, scale = np.empty_like(Z), np.empty(2), np.array([1.0, 3.0])
    kernels._scaled_softmax_shifted(Z, scale, row, out)
    shifted = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_array_equal(row, scale / shifted.sum(axis=1))
    np.testing.assert_array_equal(out, shifted * row[:, None])


@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_mode_redoes_the_blocks_whose_logits_overflow(monkeypatch, backend):
    # Context norms 1 and 1e3 in alternating 2-row blocks: logits of ~1e3 overflow exp.
    monkeypatch.setattr(kernels, "SOFTMAX_BLOCK_FLOATS", 2 * 5)  # 2-row blocks of V = 5
    inst = random_instance(3, m=7, V=5, d=4)
    H = inst.embeddings * np.array([1.0, 1.0, 1e3, 1e3, 1.0, 1.0, 1e3])[:, None]
    inst = NTPInstance(H, inst.probs, inst.context_weights)
    W0 = np.random.default_rng(3).standard_normal(inst.weight_shape)
    lr = ntpprops.safe_step_size(inst)
    expected = naive_gd(inst, W0, lr, 50)
    args = (inst.embeddings, inst.probs, inst.context_weights, lr, W0)
    loop = FusedGD(*args, mode="weight", backend=backend)  # warnings are errors: none escapes
    loop.advance(50)
    tol = 50 * 16 * EPS * max(1.0, np.abs(expected).max())  # as in test_fused_gd_matches...
    np.testing.assert_allclose(loop.weights(), expected, rtol=0, atol=tol)


@pytest.mark.parametrize("mode", ["weight", "logit"])
def test_fused_gd_is_independent_of_the_softmax_blocking(monkeypatch, mode):
    inst = random_instance(5, m=9, V=7, d=12)
    W0 = np.random.default_rng(5).standard_normal(inst.weight_shape)
    lr = ntpprops.safe_step_size(inst)
    expected = naive_gd(inst, W0, lr, 200)
    monkeypatch.setattr(kernels, "SOFTMAX_BLOCK_FLOATS", 2 * 7 + 3)  # 2-row blocks of the 9 rows
    args = (inst.embeddings, inst.probs, inst.context_weights, lr, W0)
    loop = FusedGD(*args, mode=mode, backend="numpy")  # type: ignore[arg-type]
    loop.advance(200)
    tol = 200 * 16 * EPS * max(1.0, np.abs(expected).max())  # as in test_fused_gd_matches...
    np.testing.assert_allclose(loop.weights(), expected, rtol=0, atol=tol)


@given(
    data=st.data(),
    mode=st.sampled_from(["logit", "weight"]),
    backend=st.sampled_from(["numpy", "numba"] if HAVE_NUMBA else ["numpy"]),
    block_floats=st.integers(1, 40),
)
def test_one_fused_step_is_the_gd_formula_at_any_weight_scale(data, mode, backend, block_floats):
    # Weights up to 3e6 give logits far beyond e^600: rows and blocks take either softmax route.
    inst = data.draw(ntp_instances(max_contexts=6, max_vocab=5, max_dim=4), label="inst")
    W0 = data.draw(weight_matrices(inst, max_log10_scale=6), label="W0")
    lr = ntpprops.safe_step_size(inst)
    expected = W0 - lr * ntpprops.ce_grad(inst, W0)
    saved, kernels.SOFTMAX_BLOCK_FLOATS = kernels.SOFTMAX_BLOCK_FLOATS, block_floats
    try:
        args = (inst.embeddings, inst.probs, inst.context_weights, lr, W0)
        loop = FusedGD(*args, mode=mode, backend=backend)  # type: ignore[arg-type]
        loop.advance(1)
        got = loop.weights()
    finally:
        kernels.SOFTMAX_BLOCK_FLOATS = saved
    (m, d), V = inst.embeddings.shape, inst.vocab_size
    abs_H = np.abs(inst.embeddings)
    # Each implementation's logits are off by <= gamma_d sum_k |h_jk w_vk|, which moves a
    # softmax entry s by <= 2 s max|dz| (derivative of softmax); exp, the row sum of V terms and
    # the scaling add (V + 4) eps relative; the m-term products and the separate P part another
    # (m + 4) eps of sum_j pi_j |h_jk|. Twice over (both sides), then eps |W| for the update.
    gamma_d = (d + 2) * EPS
    logit_error = gamma_d * (abs_H @ np.abs(W0).T).max()
    relative = 4 * (2 * logit_error) + 2 * (V + m + 8) * EPS
    tol = 2 * EPS * np.abs(expected) + 2 * lr * relative * (inst.context_weights @ abs_H)
    assert np.all(np.abs(got - expected) <= tol), np.abs(got - expected).max()


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed (optional accelerator)")
@pytest.mark.parametrize("mode", ["logit", "weight"])
@pytest.mark.parametrize("seed", range(3))
def test_numba_loop_equals_numpy_loop(seed, mode):
    # m > d in weight mode, the shape it is chosen for; weights of norm ~300 take some blocks'
    # row sums beyond e^LOG_SUM_LIMIT, so both routes of the softmax are compared.
    m, d = (5, 9) if mode == "logit" else (9, 5)
    inst = random_instance(seed, m=m, V=7, d=d)
    W0 = np.random.default_rng(seed).standard_normal(inst.weight_shape) * (1 + 300 * seed)
    lr = 1.9 / ntpprops.smoothness_bound(inst)
    args = (inst.embeddings, inst.probs, inst.context_weights, lr, W0)
    loops = [FusedGD(*args, mode=mode, backend=b) for b in ("numpy", "numba")]
    for loop in loops:
        loop.advance(500)
    # Same operations in the same order except exp/sum rounding: <= a few eps per step,
    # accumulated at most linearly by the non-expansive GD map (eta < 2/L).
    W_np, W_nb = (loop.weights() for loop in loops)
    tol = 500 * 16 * EPS * max(1.0, np.abs(W_np).max())
    np.testing.assert_allclose(W_nb, W_np, rtol=0, atol=tol)


def test_auto_backend_compiles_only_for_long_runs(monkeypatch):
    monkeypatch.setattr(kernels, "HAVE_NUMBA", True)
    monkeypatch.setattr(kernels, "_COMPILED", {})  # nothing compiled yet in this process
    assert kernels.resolve_backend("auto", kernels.AUTO_NUMBA_MIN_STEPS - 1, 10) == "numpy"
    assert kernels.resolve_backend("auto", kernels.AUTO_NUMBA_MIN_STEPS, 10) == "numba"
    entries = kernels.AUTO_NUMBA_MIN_ENTRY_STEPS // 100
    assert kernels.resolve_backend("auto", 99, entries) == "numpy"
    assert kernels.resolve_backend("auto", 100, entries) == "numba"
    compiled = types.SimpleNamespace(signatures=["(float64[:, :], ...)"])  # a used dispatcher
    monkeypatch.setattr(kernels, "_COMPILED", {"logit_steps": compiled})
    assert kernels.resolve_backend("auto", 1, 1) == "numba"  # no compile left to repay
    assert kernels.resolve_backend("auto", 1, 1, kernel="normalise_rows") == "numpy"


def test_without_numba_the_numpy_loop_is_used(monkeypatch):
    monkeypatch.setattr(kernels, "HAVE_NUMBA", False)
    assert kernels.resolve_backend("auto", 10**9) == "numpy"
    with pytest.raises(ValueError, match="needs numba"):
        kernels.resolve_backend("numba", 10)
    inst = random_instance(0)
    loop = FusedGD(inst.embeddings, inst.probs, inst.context_weights, 0.1, np.zeros((5, 6)))
    assert loop.backend == "numpy"


@pytest.mark.parametrize("seed", range(5))
def test_gd_loss_decreases_by_the_descent_lemma_at_the_safe_step(seed):
    inst = random_instance(seed, m=3 + seed % 3, V=4, d=5 + seed % 2, support=2)
    lr = ntpprops.safe_step_size(inst)
    L = ntpprops.smoothness_bound(inst)
    result = train(inst, "gd", steps=150, init="lecun", seed=seed, record=np.arange(151))
    drop = -np.diff(result.loss)
    # Descent lemma: CE_k - CE_{k+1} >= eta (1 - eta L / 2) ||g_k||^2; slack: rounding of CE.
    guaranteed = lr * (1 - lr * L / 2) * result.grad_norm[:-1] ** 2
    assert np.all(drop >= guaranteed - 64 * EPS * np.abs(result.loss[:-1]))
    assert np.all(np.diff(result.excess_loss) <= 0)


def test_full_support_gd_converges_to_w_star_plus_perp_of_w0():
    # docs/theory.md: every S_j = V puts the gradient in F, so P_perp W_k = P_perp W_0 exactly and
    # P_F W_k -> W*: the limit is W* + P_perp(W_0).
    inst = full_support_instance()
    W0 = np.random.default_rng(3).standard_normal(inst.weight_shape)
    result = train(inst, "gd", steps=20_000, init=W0, lr=1.9 / ntpprops.smoothness_bound(inst))
    limit = ntpprops.w_star(inst) + ntpprops.project_f_perp(inst, W0)
    perp_drift = np.linalg.norm(ntpprops.project_f_perp(inst, result.W - W0))
    assert perp_drift <= 1e-12 * 20_000 * max(1.0, np.abs(W0).max())  # rounding per step
    # Near the minimiser ||W - limit|| <= ||grad|| / mu with mu the smallest curvature of CE
    # on F there; factor 2 for the Hessian's change over that tiny distance.
    mu = smallest_curvature_on_f(inst, limit)
    assert np.linalg.norm(result.W - limit) <= 2 * result.grad_norm[-1] / mu + 1e-12
    assert result.grad_norm[-1] < 1e-9  # the run did converge (linear rate on F)


def smallest_curvature_on_f(inst: NTPInstance, W: np.ndarray) -> float:
    """``lambda_min`` of the dense Hessian of CE at ``W`` restricted to F (tiny instances)."""
    V, d = inst.weight_shape
    hess = np.zeros((V * d, V * d))
    for h, p_weight, s in zip(
        inst.embeddings, inst.context_weights, _softmax_rows(inst, W), strict=True
    ):
        hess += p_weight * np.kron(np.diag(s) - np.outer(s, s), np.outer(h, h))
    basis = np.stack([ntpprops.project_f(inst, e.reshape(V, d)).ravel() for e in np.eye(V * d)])
    u, sing, _ = np.linalg.svd(basis.T)
    q = u[:, sing > 1e-10]
    return float(np.linalg.eigvalsh(q.T @ hess @ q)[0])


def _softmax_rows(inst: NTPInstance, W: np.ndarray) -> np.ndarray:
    Z = inst.embeddings @ W.T
    S = np.exp(Z - Z.max(axis=1, keepdims=True))
    return S / S.sum(axis=1, keepdims=True)


# -- TrainResult and its metrics ---------------------------------------------------------------


HAND_W_MM = np.array([[0.5, -0.5], [-0.5, 0.5]])


def test_train_result_fields_and_metrics(monkeypatch):
    monkeypatch.setattr(svm_module, "ntp_svm", lambda inst, **kw: HAND_W_MM.copy())
    inst = one_hot_instance()
    result = train(inst, "gd", steps=1000)
    assert isinstance(result, TrainResult)
    n = result.steps.size
    assert result.steps[0] == 0 and result.steps[-1] == 1000
    for name in ("loss", "excess_loss", "norm", "grad_norm", "cos_mm", "cos_mm_corrected"):
        assert getattr(result, name).shape == (n,)
    assert result.W.shape == result.W0.shape == (2, 2)
    assert result.method == "gd" and result.lr == ntpprops.safe_step_size(inst)
    # From W0 = 0, symmetry keeps W_k on the ray of W^mm: cos = 1 after step 0 (0/0 = nan).
    assert math.isnan(result.cos_mm[0])
    np.testing.assert_allclose(result.cos_mm[1:], 1.0, rtol=0, atol=4 * EPS)
    np.testing.assert_array_equal(result.cos_mm_corrected[1:], result.cos_mm[1:])  # W* = 0
    np.testing.assert_allclose(result.dist_f_wstar, 0.0, atol=0)  # F = {0}
    assert np.all(np.diff(result.norm) > 0)  # W_k = c_k W^mm with c_k increasing
    assert result.norm[-1] == pytest.approx(np.linalg.norm(result.W), rel=0)
    # H = 0 entropy (one-hot): the excess is the loss itself.
    np.testing.assert_allclose(result.excess_loss, result.loss, rtol=1e-12)
    with pytest.raises(AttributeError):
        result.lr = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.loss[0] = 0.0


def test_missing_limits_give_none(monkeypatch):
    def not_separable(inst, **kw):
        raise ntpprops.NotSeparableError("no separator")

    monkeypatch.setattr(svm_module, "ntp_svm", not_separable)
    result = train(random_instance(0), "ngd", steps=10)
    assert result.cos_mm is None and result.cos_mm_corrected is None and result.w_mm is None
    assert result.dist_f_wstar is not None and result.w_star is not None  # d > m: compatible
    assert "no separator" in result.metric_notes["cos_mm"]
    assert set(result.metric_notes) == {"cos_mm", "cos_mm_corrected"}


@pytest.mark.parametrize(
    ("steps", "record", "expected"),
    [
        (0, "log", [0]),
        (5, "log", [0, 1, 2, 3, 4, 5]),
        (1000, 2, [0, 1000]),
        (1000, [0, 10, 999], [0, 10, 999]),
        (10, np.array([3, 7]), [3, 7]),
    ],
)
def test_record_modes(steps, record, expected):
    np.testing.assert_array_equal(record_steps(steps, record), expected)


def test_log_record_is_log_spaced_with_ends():
    grid = record_steps(10**6, "log")
    assert grid[0] == 0 and grid[-1] == 10**6 and 40 <= grid.size <= 50
    big = grid[grid >= 100]  # rounding to integers moves these by at most 0.5%
    # 49 points from 1 to 10^6: constant ratio 10^(6/48), up to twice that rounding.
    np.testing.assert_allclose(big[1:] / big[:-1], 10 ** (6 / 48), rtol=0.01)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"method": "sgd"}, ValueError),
        ({"method": 3}, TypeError),
        ({"steps": -1}, ValueError),
        ({"steps": 2.5}, TypeError),
        ({"steps": True}, TypeError),
        ({"lr": 0.0}, ValueError),
        ({"lr": math.nan}, ValueError),
        ({"init": "he"}, ValueError),
        ({"init": np.zeros((2, 2))}, InvalidInstanceError),
        ({"init": np.full((5, 6), np.inf)}, InvalidInstanceError),
        ({"init": "lecun", "seed": "zero"}, TypeError),
        ({"record": "linear"}, ValueError),
        ({"record": 1}, ValueError),
        ({"record": [5, 3]}, ValueError),
        ({"record": [0, 11]}, ValueError),
        ({"record": [0.5, 1.0]}, TypeError),
        ({"method": OPTIMIZERS["gd"](0.1), "lr": 0.1}, ValueError),
        ({"backend": "cuda"}, ValueError),
        ({"method": "adam", "backend": "cuda"}, ValueError),
        ({"limits": True}, TypeError),
        ({"limits": ntpprops.Limits.of(one_hot_instance())}, ValueError),
    ],
)
def test_bad_arguments_raise(kwargs, error):
    inst = random_instance(0)
    with pytest.raises(error):
        train(inst, **{"steps": 10, **kwargs})


def test_bad_instance_raises():
    with pytest.raises(TypeError, match="NTPInstance"):
        train("not an instance")  # type: ignore[arg-type]


def test_divergence_raises_solver_error():
    inst = random_instance(1)
    with pytest.raises(ntpprops.SolverError, match="overflowed"):
        # The gradient is bounded, so only absurd weights overflow: logits of 1e308-sized W.
        train(inst, "gd", steps=10, init=np.full(inst.weight_shape, 1e308))


def test_seed_determinism_and_lecun_scale():
    inst = random_instance(0, m=3, V=40, d=50)
    a = train(inst, "adam", steps=20, init="lecun", seed=5)
    b = train(inst, "adam", steps=20, init="lecun", seed=5)
    c = train(inst, "adam", steps=20, init="lecun", seed=6)
    np.testing.assert_array_equal(a.W, b.W)
    assert not np.array_equal(a.W0, c.W0)
    # LeCun normal: 2000 N(0, 1/d) entries; the sample variance is within 5 standard errors
    # (sqrt(2 / n) relative) of 1/d.
    var = a.W0.var() * inst.dim
    assert abs(var - 1.0) <= 5 * math.sqrt(2 / a.W0.size)


def test_default_learning_rates():
    inst = random_instance(0)
    assert train(inst, "gd", steps=1).lr == ntpprops.safe_step_size(inst)
    for name in ("ngd", "adam", "sign"):
        assert train(inst, name, steps=1).lr == 0.01
