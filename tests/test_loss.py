"""Losses: CE (Eq. 2), its gradient, the excess over the entropy, CE_F (Eq. 12), smoothness.

References are independent: loop-and-``math`` formulas, central finite differences,
closed forms on one-context instances, and ``decimal`` arithmetic at 50 digits.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from _oracles import EPS, central_gradient, naive_ce, naive_ce_f, numerical_hessian

from ntpprops import (
    NTPInstance,
    ce_f_loss,
    ce_grad,
    ce_loss,
    excess_loss,
    logits,
    safe_step_size,
    smoothness_bound,
)
from ntpprops._loss import softmax

SEEDS = range(6)


def random_instance(seed: int, m: int = 3, V: int = 4, d: int = 2) -> NTPInstance:
    """Random supports (some partial, some full) and random positive weights."""
    rng = np.random.default_rng(seed)
    P = np.zeros((m, V))
    for j in range(m):
        support = rng.choice(V, size=rng.integers(1, V + 1), replace=False)
        P[j, support] = rng.dirichlet(np.ones(support.size))
    return NTPInstance(rng.standard_normal((m, d)), P, rng.random(m) + 0.1)


def random_w(inst: NTPInstance, seed: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed + 100).standard_normal(inst.weight_shape)


def rounding_scale(inst: NTPInstance, W: np.ndarray) -> float:
    """A bound on the size of the numbers a loss evaluation adds: 1 + max|logit| + max|log p|."""
    log_p = np.log(inst.probs[inst.supports])
    return 1.0 + float(np.max(np.abs(logits(inst, W)))) + float(np.max(np.abs(log_p)))


# -- CE and its gradient --------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_ce_loss_matches_the_naive_formula(seed):
    inst = random_instance(seed)
    W = random_w(inst, seed)
    # Both sum m*V terms of size <= rounding_scale, each with a few eps of relative error.
    tol = 8 * EPS * inst.m * inst.vocab_size * rounding_scale(inst, W)
    assert ce_loss(inst, W) == pytest.approx(naive_ce(inst, W), abs=tol)


@pytest.mark.parametrize("seed", SEEDS)
def test_ce_grad_matches_central_finite_differences(seed):
    inst = random_instance(seed)
    W = random_w(inst, seed)
    step = 1e-5
    numeric = central_gradient(lambda X: ce_loss(inst, X), W, step)
    # Truncation: step^2/6 * |f'''|, and along coordinate (z, k) the third derivative of
    # log-sum-exp is h_jk^3 q(1-q)(1-2q), at most |h_jk|^3 / (6 sqrt 3) per context.
    third = inst.context_weights @ np.abs(inst.embeddings) ** 3 / (6 * math.sqrt(3))
    truncation = step**2 / 6 * np.broadcast_to(third, W.shape)
    # Rounding: two evaluations, each off by <= 8 eps * m V * scale, divided by 2 step.
    rounding = 8 * EPS * inst.m * inst.vocab_size * rounding_scale(inst, W) / step
    np.testing.assert_array_less(np.abs(ce_grad(inst, W) - numeric), truncation + rounding)


def test_ce_grad_against_its_closed_form_on_one_context():
    # V = 2, h = 2, pi = 1: grad = (softmax(W h) - p) h^T.
    inst = NTPInstance([[2.0]], [[0.3, 0.7]])
    W = np.array([[0.5], [-0.25]])
    q0 = 1 / (1 + math.exp(-(1.0 - -0.5)))  # logits (1, -0.5)
    expected = np.array([[(q0 - 0.3) * 2], [((1 - q0) - 0.7) * 2]])
    np.testing.assert_allclose(ce_grad(inst, W), expected, rtol=4 * EPS, atol=4 * EPS)


@pytest.mark.parametrize("seed", SEEDS)
def test_ce_minus_entropy_equals_excess_loss_where_both_are_accurate(seed):
    inst = random_instance(seed)
    W = random_w(inst, seed)  # excess is O(1): CE - H loses nothing relevant
    tol = 16 * EPS * inst.m * inst.vocab_size * rounding_scale(inst, W)
    assert ce_loss(inst, W) - inst.entropy == pytest.approx(excess_loss(inst, W), abs=tol)
    assert excess_loss(inst, W) >= 0.0


def test_ce_equals_entropy_when_the_logits_are_the_log_probabilities():
    # H = I (d = m), full supports, W = log(P)^T: softmax(W h_j) = p_j exactly in theory.
    P = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    inst = NTPInstance(np.eye(2), P, [1.0, 2.0])
    W = np.log(P).T
    tol = 16 * EPS * inst.m * inst.vocab_size * rounding_scale(inst, W)
    assert ce_loss(inst, W) == pytest.approx(inst.entropy, abs=tol)
    assert 0.0 <= excess_loss(inst, W) <= tol


# -- the excess loss when it is tiny -----------------------------------------------------------


@pytest.mark.parametrize("t", [1.0, 50.0, 500.0])
def test_excess_loss_is_accurate_when_tiny_one_hot(t):
    # V = 2, one-hot support, logit difference t: excess = -log softmax_0 = log1p(e^{-t}).
    inst = NTPInstance([[1.0]], [[1.0, 0.0]])
    W = np.array([[t / 2], [-t / 2]])  # exact halves: the logit difference is exactly t
    # log1p(exp(-t)) is correctly rounded to ~1 ulp; logaddexp adds a couple more.
    assert excess_loss(inst, W) == pytest.approx(math.log1p(math.exp(-t)), rel=8 * EPS)


def test_excess_loss_underflows_to_zero_not_to_garbage():
    inst = NTPInstance([[1.0]], [[1.0, 0.0]])
    W = np.array([[5e5], [-5e5]])  # excess = log1p(e^{-1e6}) ~ 10^-434295: below any float
    assert excess_loss(inst, W) == 0.0
    assert ce_loss(inst, W) == 0.0


def decimal_kl(P: np.ndarray, L: np.ndarray, pi: np.ndarray) -> float:
    """``sum_j pi_j KL(p_j || softmax(l_j))`` in 50-digit decimal arithmetic on the exact
    binary values of ``P``, ``L`` and ``pi``."""
    with localcontext() as ctx:
        ctx.prec = 50
        total = Decimal(0)
        for p_row, l_row, weight in zip(P, L, pi, strict=True):
            logits_ = [Decimal(float(x)) for x in l_row]
            top = max(logits_)
            lse = top + sum((x - top).exp() for x in logits_).ln()
            kl = sum(
                Decimal(float(p)) * (Decimal(float(p)).ln() - x + lse)
                for p, x in zip(p_row, logits_, strict=True)
                if p > 0
            )
            total += Decimal(float(weight)) * kl
        return float(total)


@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-8])
@pytest.mark.parametrize("gap", [0.0, 40.0])
def test_excess_loss_near_the_entropy_against_decimal_arithmetic(delta, gap):
    # Logits = log p + delta * u on the supports (in-support KL ~ delta^2) and the
    # out-of-support token ``gap`` below them (mass ~ e^{-gap}). CE - H cannot resolve this:
    # its rounding (~eps) exceeds the excess (~delta^2) for delta = 1e-8.
    P = np.array([[0.2, 0.3, 0.5, 0.0], [0.0, 0.25, 0.0, 0.75]])
    u = np.array([[1.0, -2.0, 0.5, 0.0], [0.0, 0.7, 0.0, -1.3]])
    log_p = np.log(np.where(P > 0, P, 1.0))
    L = np.where(P > 0, log_p + delta * u, np.min(log_p) - gap)
    inst = NTPInstance(np.eye(2), P, [1.0, 3.0])
    W = L.T  # H = I: the logits are exactly L
    expected = decimal_kl(inst.probs, logits(inst, W), inst.context_weights)
    # x_z = log p_z - log q_z|S carries an absolute error <= 8 eps * scale, and enters the KL
    # multiplied by |x_z| (~delta); the remaining sums add a few eps relative.
    x_size = delta * np.max(np.abs(u)) + math.exp(-gap)
    tol = 8 * EPS * rounding_scale(inst, W) * x_size + 8 * EPS * expected
    assert excess_loss(inst, W) == pytest.approx(expected, abs=tol)


def test_excess_loss_is_finite_for_subnormal_probabilities():
    # Regression: p_z = 1e-320 made expm1(-log(p_z / q_z)) overflow to inf.
    inst = NTPInstance([[1.0]], [[1.0 - 1e-320, 1e-320, 0.0]])
    W = np.zeros((3, 1))  # q = (1/3, 1/3, 1/3)
    # KL = (1 - 1e-320) log(3 (1 - 1e-320)) + 1e-320 log(3e-320) = log 3 to double precision.
    assert excess_loss(inst, W) == pytest.approx(math.log(3), rel=8 * EPS)


# -- huge weights -----------------------------------------------------------------------------


def test_losses_at_norm_1e6_full_support_against_closed_forms():
    # V = 2, p = (0.3, 0.7), logit difference R = 1e6 in favour of token 0:
    # -log q_0 = log1p(e^{-R}) = 0 and -log q_1 = R + log1p(e^{-R}) = R in double precision.
    R = 1e6
    inst = NTPInstance([[1.0]], [[0.3, 0.7]])
    W = np.array([[R / 2], [-R / 2]])
    assert ce_loss(inst, W) == pytest.approx(0.7 * R, rel=4 * EPS)
    assert ce_f_loss(inst, W) == pytest.approx(0.7 * R, rel=4 * EPS)  # full support: CE_F = CE
    assert excess_loss(inst, W) == pytest.approx(0.7 * R - inst.entropy, rel=4 * EPS)
    # softmax = (1, e^{-R}) = (1, 0): grad = (q - p) h = (0.7, -0.7).
    np.testing.assert_allclose(ce_grad(inst, W), [[0.7], [-0.7]], rtol=4 * EPS)


def test_losses_at_norm_1e6_partial_support_against_closed_forms():
    # Support {0, 1} with p = (1/2, 1/2), logits (R, R, 0): CE = log 2 + log1p(e^{-R}/2) = log 2,
    # excess = log1p(e^{-R}/2) underflows to 0, CE_F = H = log 2, gradient (0, 0, e^{-R}) = 0.
    R = 1e6
    inst = NTPInstance([[1.0]], [[0.5, 0.5, 0.0]])
    W = np.array([[R], [R], [0.0]])
    assert ce_loss(inst, W) == pytest.approx(math.log(2), rel=4 * EPS)
    assert ce_f_loss(inst, W) == pytest.approx(math.log(2), rel=4 * EPS)
    assert excess_loss(inst, W) == 0.0
    np.testing.assert_array_equal(ce_grad(inst, W), np.zeros((3, 1)))


@pytest.mark.parametrize("seed", SEEDS)
def test_every_loss_is_finite_at_norm_1e6(seed):
    inst = random_instance(seed)
    W = random_w(inst, seed)
    W *= 1e6 / np.linalg.norm(W)
    assert all(math.isfinite(f(inst, W)) for f in (ce_loss, ce_f_loss, excess_loss))
    assert np.all(np.isfinite(ce_grad(inst, W)))
    # Rows of softmax sum to 1 even when the logits are ~1e6 apart.
    np.testing.assert_allclose(softmax(logits(inst, W)).sum(axis=1), 1.0, rtol=0, atol=4 * EPS)


# -- CE_F (Eq. 12) ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_ce_f_loss_matches_eq_12_term_by_term(seed):
    inst = random_instance(seed)
    W = random_w(inst, seed)
    tol = 8 * EPS * inst.m * inst.vocab_size**2 * rounding_scale(inst, W)
    assert ce_f_loss(inst, W) == pytest.approx(naive_ce_f(inst, W), abs=tol)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3, 1e6])
@pytest.mark.parametrize("seed", SEEDS)
def test_ce_is_at_least_ce_f(seed, scale):
    inst = random_instance(seed)
    W = random_w(inst, seed, scale)
    # CE - CE_F = sum_j pi_j log(1 + out-of-support mass ratio) >= 0; rounding of the two
    # sums is at most 8 eps * m V * scale each.
    tol = 16 * EPS * inst.m * inst.vocab_size * rounding_scale(inst, W)
    assert ce_loss(inst, W) >= ce_f_loss(inst, W) - tol


# -- smoothness -------------------------------------------------------------------------------


def hessian_tolerance(inst: NTPInstance, W: np.ndarray, step: float) -> float:
    """Error bound on the top eigenvalue of the finite-difference Hessian.

    Each entry has truncation error <= step^2/6 * |4th derivative of CE| <= step^2/6 *
    sum_j pi_j (2 max|h_j|)^4 (a cumulant of a variable with range 2 max|h_j| is at most the
    4th power of the range) and rounding error <= 8 eps * max|grad| / step; the spectral norm
    of the error matrix is at most its size times the largest entry.
    """
    reach = 2 * np.max(np.abs(inst.embeddings), axis=1)
    truncation = step**2 / 6 * float(inst.context_weights @ reach**4)
    rounding = 8 * EPS * (1 + float(np.max(np.abs(ce_grad(inst, W))))) / step
    return W.size * (truncation + rounding)


@pytest.mark.parametrize("seed", SEEDS)
def test_smoothness_bound_dominates_the_hessian(seed):
    inst = random_instance(seed)
    W = random_w(inst, seed)
    step = 1e-4
    hessian = numerical_hessian(lambda X: ce_grad(inst, X), W, step)
    top = float(np.linalg.eigvalsh(hessian)[-1])
    assert top <= smoothness_bound(inst) + hessian_tolerance(inst, W, step)


def test_smoothness_bound_is_attained_at_zero_for_two_tokens():
    # At W = 0 with V = 2, softmax = (1/2, 1/2): the softmax Hessian diag(q) - q q^T has top
    # eigenvalue exactly 1/2, so the CE Hessian's top eigenvalue is 1/2 lambda_max(H^T pi H).
    inst = NTPInstance([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], [[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]])
    W = np.zeros(inst.weight_shape)
    step = 1e-4
    top = float(np.linalg.eigvalsh(numerical_hessian(lambda X: ce_grad(inst, X), W, step))[-1])
    expected = (
        0.5
        * np.linalg.eigvalsh(inst.embeddings.T @ np.diag(inst.context_weights) @ inst.embeddings)[
            -1
        ]
    )
    assert smoothness_bound(inst) == pytest.approx(expected, rel=16 * EPS)
    assert top == pytest.approx(smoothness_bound(inst), abs=hessian_tolerance(inst, W, step))


def test_smoothness_bound_uses_the_smaller_gram_either_way():
    # m < d and m > d paths must agree with the direct definition.
    rng = np.random.default_rng(7)
    for m, d in [(3, 8), (8, 3)]:
        P = rng.dirichlet(np.ones(4), size=m)
        inst = NTPInstance(rng.standard_normal((m, d)), P, rng.random(m) + 0.1)
        direct = inst.embeddings.T @ (inst.context_weights[:, None] * inst.embeddings)
        expected = 0.5 * np.linalg.eigvalsh(direct)[-1]
        assert smoothness_bound(inst) == pytest.approx(expected, rel=64 * EPS)
        assert safe_step_size(inst) == pytest.approx(1 / (2 * expected), rel=64 * EPS)


def test_zero_embeddings_give_zero_smoothness_and_a_unit_step():
    inst = NTPInstance(np.zeros((2, 3)), [[0.5, 0.5], [1.0, 0.0]])
    assert smoothness_bound(inst) == 0.0
    assert safe_step_size(inst) == 1.0
