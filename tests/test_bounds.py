"""The proven bounds of ``ntpprops._bounds``, each on its own.

A proven bound can be wrong in two ways that "the measured value is on the right side of it"
never sees: it can be loose (or ``-inf``), or too tight on some other instance. So each bound
is pinned three ways:

- against a value derived by hand on a worked instance (derivation in the comments);
- on instances that come close to it (a loosened bound, or one tighter than its proof allows,
  fails there);
- against an arbitrary-precision oracle (``tests/_oracles.py``, mpmath at 50 digits) that
  re-evaluates the formula of each derivation one ``(j, z, v)`` triple at a time, on drawn
  small instances, together with ``CE(W) - H`` and ``W*``.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from _oracles import (
    EPS,
    dense_f_basis,
    mp_alignment_lower_bound,
    mp_excess_loss,
    mp_f_distance_bound,
    mp_w_star,
)
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import ntpprops as ntp
from ntpprops import strategies as nst

# -- the worked instance ---------------------------------------------------------------------
#
# Two orthogonal contexts h_0 = e_0, h_1 = e_1 (d = 2), V = 3, both with support {0, 1} and
# p = (1/2, 1/2, 0); weights pi = (1/4, 3/4).
#
# - W* = 0: every log-ratio log(p_0 / p_1) is 0.
# - F = span{(e_0 - e_1) e_k^T}: rows 0 and 1 of W may differ. In the unit direction
#   u_k = (e_0 - e_1) e_k^T / sqrt 2 the in-support logits of context k move by (1, -1)/sqrt 2,
#   whose variance under p = (1/2, 1/2) is 1/2; the contexts are orthogonal, so the Hessian of
#   CE_F on F is diag(pi_0 / 2, pi_1 / 2) = diag(1/8, 3/8): mu = 1/8, attained along u_0.
# - c = sum_j pi_j (sqrt 2 ||h_j||)^3 = 2^{3/2}.
# - W^mm: in F^perp rows 0 and 1 are equal, W = [a; a; b] per column; the margin
#   a - b >= 1 at least norm 2a^2 + b^2 gives a = 1/3, b = -2/3 in each column, so
#   W^mm = [[1/3, 1/3], [1/3, 1/3], [-2/3, -2/3]] and ||W^mm||^2 = 2 (1/9 + 1/9 + 4/9) = 4/3.

WORKED = ntp.NTPInstance(np.eye(2), [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]], [0.25, 0.75])
WORKED_MU, WORKED_C = 1.0 / 8.0, 2.0**1.5
WORKED_WMM = np.array([[1.0, 1.0], [1.0, 1.0], [-2.0, -2.0]]) / 3.0
WORKED_WMM_NORM = 2.0 / math.sqrt(3.0)
#: u_0, the unit direction of F with the smallest curvature mu.
WORKED_U0 = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]) / math.sqrt(2.0)


def test_worked_instance_limits_are_the_hand_derived_ones():
    np.testing.assert_allclose(ntp.w_star(WORKED), 0.0, atol=1e-15)
    np.testing.assert_allclose(ntp.ntp_svm(WORKED), WORKED_WMM, atol=1e-13)
    mu, c = ntp.f_curvature(WORKED)
    assert abs(mu - WORKED_MU) <= 8 * EPS and abs(c - WORKED_C) <= 8 * EPS


def test_f_distance_bound_hand_derived_value():
    # 2 sqrt(excess / mu) = 2 sqrt(1e-4 * 8) = 2 sqrt(8e-4) = 0.0565685424949238...
    bound = ntp.f_distance_bound(WORKED, 1e-4)
    assert abs(bound - 0.05656854249492380) <= 4 * EPS * bound
    # F = {0} (one-hot supports): P_F W = W* = 0 exactly, whatever the excess.
    assert ntp.f_distance_bound(ntp.NTPInstance(np.eye(2), np.eye(2)), 0.3) == 0.0


def test_f_distance_bound_regime_edge():
    # Proven for excess < mu r0^2 / 4 with r0 = 3 mu / (2 c) = 3 / (32 sqrt 2): the edge is
    # (1/8)(9/2048)/4 = 9/65536. Just inside, the bound is 2 sqrt(edge / mu) = r0 itself (the
    # Taylor ball's radius); at or beyond the edge nothing is proven (inf).
    edge, r0 = 9.0 / 65536.0, 3.0 / (32.0 * math.sqrt(2.0))
    inside = ntp.f_distance_bound(WORKED, edge * (1 - 1e-9))
    assert math.isfinite(inside) and abs(inside - r0) <= 1e-9 * r0
    assert ntp.f_distance_bound(WORKED, edge * (1 + 1e-9)) == math.inf
    # A non-positive curvature proves nothing either.
    assert ntp.f_distance_bound(WORKED, 1e-6, curvature=(0.0, 1.0)) == math.inf


def test_alignment_lower_bound_hand_derived_value():
    # excess 1e-4 and delta = f_distance_bound = 2 sqrt(8e-4), so sqrt 2 delta ||h_j|| = 0.08.
    # W* = 0, so G = min_j log(1/2 - sqrt(eps / (2 pi_j))) - log expm1(eps / pi_j) - 0.08:
    #   j = 0 (pi = 1/4): log(1/2 - sqrt(2e-4)) - log expm1(4e-4) - 0.08 = 7.0220068462020442
    #   j = 1 (pi = 3/4): log(1/2 - sqrt(2e-4/3)) - log expm1(4e-4/3) - 0.08 = 8.1329797170424530
    # (evaluated at 40 digits), and the bound is ||W^mm|| G / ||W|| = (2/sqrt 3) G / 10.
    delta = ntp.f_distance_bound(WORKED, 1e-4)
    bound = ntp.alignment_lower_bound(WORKED, np.zeros((3, 2)), WORKED_WMM_NORM, 1e-4, delta, 10.0)
    # Each log term is rounded to a few EPS of its size (<= 10): 1e-13 absolute is room.
    assert abs(bound - 0.81083150858122906) <= 1e-13


def test_alignment_lower_bound_is_uninformative_where_its_proof_is():
    W0 = np.zeros((3, 2))
    # delta = inf, an excess of exactly 0, a zero norm: -inf.
    for excess, delta, norm in [(1e-4, math.inf, 1.0), (0.0, 0.0, 1.0), (1e-4, 0.0, 0.0)]:
        assert ntp.alignment_lower_bound(WORKED, W0, 1.0, excess, delta, norm) == -math.inf
    # Pinsker leaves no room once sqrt(eps / (2 pi_0)) >= p = 1/2, i.e. eps >= pi_0 / 2 = 1/8.
    assert ntp.alignment_lower_bound(WORKED, W0, 1.0, 0.125, 0.0, 1.0) == -math.inf
    assert math.isfinite(ntp.alignment_lower_bound(WORKED, W0, 1.0, 0.124, 0.0, 1.0))
    # Every support full: W^mm = 0 and nothing to align with.
    full = ntp.NTPInstance(np.eye(2), [[0.5, 0.5], [0.25, 0.75]])
    assert ntp.alignment_lower_bound(full, np.zeros((2, 2)), 1.0, 1e-4, 0.0, 1.0) == -math.inf


# -- close to the bounds ---------------------------------------------------------------------


@pytest.mark.parametrize("s", [1e-3, 1e-2, 4e-2])
def test_f_distance_bound_is_tight_to_its_proof_along_the_flattest_direction(s):
    # W = s u_0 + 40 W^mm: P_F W - W* = s u_0 (W^mm is in F^perp), and the out-of-support mass
    # e^-40 is negligible, so CE(W) - H = pi_0 KL along u_0 = mu s^2 / 2 + O(s^4) (p = 1/2 is
    # symmetric: no cubic term). The bound 2 sqrt(excess / mu) is then sqrt 2 s (1 + O(s^2)):
    # sound (>= s), and no looser than the sqrt 2 its derivation pays for mu / 4 vs mu / 2.
    # (s = 0.04 keeps the excess, 1e-4, inside the proven regime, below 9/65536.)
    W = s * WORKED_U0 + 40.0 * WORKED_WMM
    excess = float(mp_excess_loss(WORKED, W))
    bound = ntp.f_distance_bound(WORKED, excess)
    assert math.isfinite(bound) and s <= bound <= math.sqrt(2.0) * s * (1 + s**2)


@pytest.mark.parametrize("R", [10.0, 20.0, 30.0])
def test_alignment_lower_bound_is_tight_along_the_svm_ray(R):
    # W = R W^mm: cos(W, W^mm) = 1, P_F W = W* exactly (delta = 0), and per context the
    # in-support logits are R/3, the out-of-support one -2R/3, so
    # CE(W) - H = log(1 + e^-R / 2) =: eps. Then expm1(eps / pi_j) ~ e^-R / (2 pi_j) and
    # q_low ~ 1/2 - O(sqrt eps), so G = R + log pi_j - O(sqrt eps) at the worst context
    # (pi_0 = 1/4) and the bound is G / R = 1 - log 4 / R + O(sqrt(eps) / R):
    # sound (<= cos = 1) and as close to 1 as its 1 / log(1/eps) rate allows.
    excess = float(mpmath.log1p(mpmath.exp(-R) / 2))
    norm = R * WORKED_WMM_NORM
    bound = ntp.alignment_lower_bound(WORKED, np.zeros((3, 2)), WORKED_WMM_NORM, excess, 0.0, norm)
    cos = 1.0
    assert math.isfinite(bound) and bound <= cos
    # O(sqrt eps) = 4 sqrt(2 eps) / R <= 4 e^{-R/2} / R; plus rounding of the logs (~1e-15 R).
    assert abs(R * (1.0 - bound) - math.log(4.0)) <= 4 * math.exp(-R / 2) + 1e-13 * R


def test_alignment_lower_bound_reads_the_weight_of_each_context():
    # The same ray with the weights swapped: the worst context is now context 1 (pi = 1/4),
    # and uniform weights give R (1 - bound) -> log 2; a bound that ignored pi_j, or used it
    # the wrong way up, would not move with it.
    R = 30.0
    excess = float(mpmath.log1p(mpmath.exp(-R) / 2))
    for weights, limit in [([0.75, 0.25], math.log(4.0)), ([0.5, 0.5], math.log(2.0))]:
        inst = WORKED.replace(context_weights=weights)
        bound = ntp.alignment_lower_bound(
            inst, np.zeros((3, 2)), WORKED_WMM_NORM, excess, 0.0, R * WORKED_WMM_NORM
        )
        assert abs(R * (1.0 - bound) - limit) <= 4 * math.exp(-R / 2) + 1e-13 * R


# -- the mpmath oracle -------------------------------------------------------------------------

SMALL = nst.separable_instances(max_contexts=3, max_vocab=4, max_dim=4)


@given(SMALL, st.data())
def test_excess_loss_and_w_star_match_mpmath(inst, data):
    W = data.draw(arrays(np.float64, inst.weight_shape, elements=st.floats(-8, 8)), label="W")
    exact = mp_excess_loss(inst, W)
    # CE and H are each rounded to ~(d + V) EPS times the logit scale |W| |h| + |log p| (<= ~100
    # here); their difference carries that absolute error, not a relative one.
    scale = float(np.abs(W).sum(axis=1).max() * np.abs(inst.embeddings).max()) + 50.0
    tol = 16 * (inst.dim + inst.vocab_size) * EPS * scale
    assert abs(ntp.excess_loss(inst, W) - float(exact)) <= tol
    W_mp, residual = mp_w_star(inst)
    assert residual <= mpmath.mpf(10) ** -40, "the oracle's W* does not solve Eq. 4"
    exact_star = np.array(W_mp.tolist(), dtype=np.float64)
    # A Gram solve in float64 errs by ~cond^2 EPS relative: small integer instances are
    # well conditioned (cond <= ~1e3), so 1e-8 relative (plus 1e-12 absolute) is room.
    err = np.linalg.norm(ntp.w_star(inst) - exact_star)
    assert err <= 1e-8 * np.linalg.norm(exact_star) + 1e-12


@given(
    SMALL,
    st.floats(-12, -1),
    st.floats(0.0, 2.0),
    st.floats(-1, 3),
)
def test_bounds_match_their_formula_in_mpmath(inst, log_excess, dist, log_norm):
    excess, norm = 10.0**log_excess, 10.0**log_norm
    mu, c = ntp.f_curvature(inst, basis=dense_f_basis(inst))
    f_bound = ntp.f_distance_bound(inst, excess, curvature=(mu, c))
    exact_f = mp_f_distance_bound(mu, c, excess)
    if exact_f == mpmath.inf:
        event("f_distance_bound: outside the quadratic regime")
        assert f_bound == math.inf
    else:
        assert abs(f_bound - float(exact_f)) <= 4 * EPS * f_bound
    w_star = ntp.w_star(inst)
    mm_norm = float(np.linalg.norm(ntp.ntp_svm(inst)))
    bound = ntp.alignment_lower_bound(inst, w_star, mm_norm, excess, dist, norm)
    exact = mp_alignment_lower_bound(inst, w_star, mm_norm, excess, dist, norm)
    if exact == -mpmath.inf:
        event("alignment bound: -inf")
        assert bound == -math.inf
    else:
        event("alignment bound: finite")
        # Each term of G is a log, a logit of W* or sqrt 2 delta ||h||, rounded to a few EPS
        # of its size; log(q_low) amplifies q_low's rounding by p / q_low. Only contexts with
        # an out-of-support token enter the bound (elsewhere q_low may be <= 0).
        constrained = inst.supports & ~np.all(inst.supports, axis=1)[:, None]
        p = inst.probs[constrained]
        q_low = p - np.sqrt(excess / (2.0 * inst.context_weights[np.nonzero(constrained)[0]]))
        logits = np.abs(inst.embeddings @ w_star.T).max()
        size = float(np.abs(np.log(q_low)).max() + 2 * logits + abs(math.log(excess)) + 30)
        size += math.sqrt(2.0) * dist * float(np.linalg.norm(inst.embeddings, axis=1).max())
        size += float(np.max(p / q_low))
        tol = 64 * EPS * size * mm_norm / norm
        assert math.isfinite(bound) and abs(bound - float(exact)) <= tol


# -- f_curvature -------------------------------------------------------------------------------


@given(nst.ntp_instances())
def test_f_curvature_kernel_form_equals_dense_hessian(inst):
    mu, c = ntp.f_curvature(inst)
    dense_mu, dense_c = ntp.f_curvature(inst, basis=dense_f_basis(inst))
    assert c == dense_c
    if math.isinf(dense_mu):
        event("F = {0}")
        assert math.isinf(mu)
    else:
        # For a unit W the in-support logit differences span <= sqrt2 ||h_j||, so each
        # context's variance is <= ||h_j||^2 / 2: that bounds the Hessian. The kernel form works
        # in the coordinates of the pivoted Cholesky factor of the unit-diagonal Gram matrix,
        # which amplifies rounding by at most cond(L)^2 ~ (max/min diag L)^2; the dense form by
        # V d. A Gram factor is only read through ntpprops' own f_curvature: no private import.
        from ntpprops._subspace import gram_factor

        _, factor = gram_factor(inst)
        diag = np.abs(np.diag(factor.cholesky))
        amplification = (diag.max() / diag.min()) ** 2 + inst.vocab_size * inst.dim
        hess_norm = float(inst.context_weights @ np.sum(inst.embeddings**2, axis=1)) / 2
        assert math.isfinite(mu) and abs(mu - dense_mu) <= 64 * EPS * amplification * hess_norm


def test_f_curvature_is_cached_and_matches_a_hand_computed_value():
    # One context, h = (1), p = (1/2, 1/2, 0): F = span{(e_0 - e_1) h^T}, unit direction
    # (e_0 - e_1)/sqrt2, logit gap sqrt2; the Hessian of CE_F there is p(1-p) * gap^2 = 1/2.
    inst = ntp.NTPInstance([[1.0]], [[0.5, 0.5, 0.0]])
    mu, c = ntp.f_curvature(inst)
    assert abs(mu - 0.5) <= 4 * EPS
    assert abs(c - 2**1.5) <= 4 * EPS  # (sqrt2 ||h||)^3 with ||h|| = 1
    assert inst._cache["f_curvature_mu"] == mu
    dense_mu, _ = ntp.f_curvature(inst, basis=dense_f_basis(inst))
    assert abs(dense_mu - 0.5) <= 4 * EPS


def test_gd_excess_bound_hand_derived_value():
    # One context h = (1), p = (1, 0): W* = 0 (F = {0}), W^mm = [[1/2], [-1/2]] (margin
    # W_0 - W_1 >= 1 at least norm). From W0 = 0, lr = 1, k = 4 and the single radius R:
    # U = R W^mm has logit gap R, CE(U) - H = log(1 + e^-R), ||W0 - U||^2 = R^2 / 2, so the
    # bound is log(1 + e^-R) + R^2 / (2 * 2 * 1 * 4) = log(1 + e^-R) + R^2 / 16.
    inst = ntp.NTPInstance([[1.0]], [[1.0, 0.0]])
    direction = np.array([[0.5], [-0.5]])
    for R in (0.5, 2.0, 4.0):
        got = ntp.gd_excess_bound(
            inst, np.zeros((2, 1)), 1.0, 4, np.zeros((2, 1)), direction, radii=np.array([R])
        )
        assert abs(got - (math.log1p(math.exp(-R)) + R**2 / 16)) <= 8 * EPS
    # Over several radii, the minimum: at R = 2 (0.3769...; 0.4897... at R = 0.5, 1.018... at 4).
    radii = np.array([0.5, 2.0, 4.0])
    got = ntp.gd_excess_bound(inst, np.zeros((2, 1)), 1.0, 4, np.zeros((2, 1)), direction, radii)
    assert abs(got - (math.log1p(math.exp(-2.0)) + 0.25)) <= 8 * EPS
    # k = 0: the initial excess itself, log 2 at W0 = 0.
    at_zero = ntp.gd_excess_bound(inst, np.zeros((2, 1)), 1.0, 0, 0 * direction, direction)
    assert abs(at_zero - math.log(2.0)) <= 4 * EPS
