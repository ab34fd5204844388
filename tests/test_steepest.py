"""Normalised steepest descent, Muon, signum and the decaying schedule, each against its
textbook update on hand-computed gradients (expected values written out, not recomputed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _oracles import EPS

from ntpprops import OPTIMIZERS, NTPInstance, train
from ntpprops._steepest import (
    NEWTON_SCHULZ_COEFFS,
    newton_schulz,
    nsd,
    scheduled,
    steepest_direction,
)


def steps(optimizer, grads):
    """The updates of ``optimizer`` fed ``grads`` in turn (params stay 0: none of these
    methods reads them)."""
    state = optimizer.init(np.zeros_like(grads[0]))
    out = []
    for g in grads:
        update, state = optimizer.update(np.asarray(g, dtype=float), state, np.zeros_like(g))
        out.append(update)
    return out


# (norm, gradient, unit steepest direction by hand)
DIRECTIONS = [
    # sign(g); sign(0) = 0.
    ("max", [[2.0, -0.5], [0.0, -7.0]], [[1.0, -1.0], [0.0, -1.0]]),
    # The entry of largest |g| is g[0, 1] = -3.
    ("l1", [[1.0, -3.0], [2.0, 0.5]], [[0.0, -1.0], [0.0, 0.0]]),
    # g / ||g||_F with ||(3, 4)|| = 5.
    ("l2", [[3.0, 4.0]], [[0.6, 0.8]]),
    # Diagonal g = diag(3, -2): U V^T = diag(1, -1).
    ("spectral", [[3.0, 0.0], [0.0, -2.0]], [[1.0, 0.0], [0.0, -1.0]]),
    # Rank one g = 2 u u^T, u = (1, 1)/sqrt(2): U V^T = u u^T (the zero singular value drops).
    ("spectral", [[1.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]]),
    # A row: U V^T = g / ||g||.
    ("spectral", [[3.0, 4.0]], [[0.6, 0.8]]),
]


@pytest.mark.parametrize(("norm", "g", "expected"), DIRECTIONS)
def test_steepest_direction_by_hand(norm, g, expected):
    D = steepest_direction(np.array(g), norm)
    # Rounding of an SVD / a division: a few eps on entries of size 1.
    np.testing.assert_allclose(D, expected, atol=16 * EPS)


@pytest.mark.parametrize("norm", ["max", "l1", "l2", "spectral"])
def test_zero_gradient_is_a_fixed_point(norm):
    assert not np.any(steepest_direction(np.zeros((2, 3)), norm))


@pytest.mark.parametrize(("norm", "g", "expected"), DIRECTIONS)
def test_nsd_steps_follow_the_decaying_schedule(norm, g, expected):
    # eta_t = 0.1 (t + 1)^(-1/2): steps 0, 1, 3 scale by 1, 1/sqrt(2), 1/2.
    updates = steps(OPTIMIZERS[f"nsd-{norm}"](0.1, decay=0.5), [g] * 4)
    for t, scale in [(0, 1.0), (1, 1.0 / math.sqrt(2.0)), (3, 0.5)]:
        np.testing.assert_allclose(updates[t], -0.1 * scale * np.array(expected), atol=16 * EPS)


def test_constant_nsd_max_is_sign_descent():
    g = np.array([[2.0, -0.5], [0.0, -7.0]])
    for a, b in zip(
        steps(nsd("max", 0.05, decay=0.0), [g] * 3),
        steps(OPTIMIZERS["sign"](0.05), [g] * 3),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_signum_by_hand():
    # beta = 1/2: M_1 = (0.5, -0.5) -> sign (1, -1); M_2 = 0.5 M_1 + 0.5 (-3, -1) =
    # (-1.25, -0.75) -> sign (-1, -1), at step size 0.2 / sqrt(2).
    updates = steps(OPTIMIZERS["signum"](0.2, beta=0.5), [[[1.0, -1.0]], [[-3.0, -1.0]]])
    np.testing.assert_allclose(updates[0], [[-0.2, 0.2]], atol=EPS)
    np.testing.assert_allclose(updates[1], [[0.2 / math.sqrt(2.0)] * 2], atol=EPS)


def test_muon_with_exact_polar_factor_by_hand():
    # beta = 1/2: M_1 = diag(1, 0) -> polar diag(1, 0); M_2 = diag(1/2, 1) -> polar I.
    opt = OPTIMIZERS["muon"](0.3, beta=0.5, orthogonalize="svd")
    g1, g2 = [[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]
    updates = steps(opt, [g1, g2])
    np.testing.assert_allclose(updates[0], [[-0.3, 0.0], [0.0, 0.0]], atol=16 * EPS)
    np.testing.assert_allclose(updates[1], -0.3 / math.sqrt(2.0) * np.eye(2), atol=16 * EPS)


def quintic_by_hand(s: float, n: int) -> float:
    """The scalar Newton-Schulz map p(s) = a s + b s^3 + c s^5 applied n times."""
    a, b, c = 3.4445, -4.7750, 2.0315
    for _ in range(n):
        s = a * s + b * s**3 + c * s**5
    return s


def test_newton_schulz_acts_on_singular_values():
    # M = Q diag(3, 4) R^T: X_0 has singular values (0.6, 0.8); each acts by the scalar map.
    assert NEWTON_SCHULZ_COEFFS == (3.4445, -4.7750, 2.0315)
    theta, phi = 0.3, -1.1
    Q = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    R = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
    M = Q @ np.diag([3.0, 4.0]) @ R.T
    for n in (1, 5):
        expected = Q @ np.diag([quintic_by_hand(0.6, n), quintic_by_hand(0.8, n)]) @ R.T
        # Five rounds of products of unit-scale 2x2 matrices: rounding ~1e-15.
        np.testing.assert_allclose(newton_schulz(M, n), expected, atol=1e-13)
    # Wide and tall inputs agree up to transposition; zero stays zero.
    tall = np.array([[3.0], [4.0]])
    np.testing.assert_allclose(newton_schulz(tall, 5), newton_schulz(tall.T, 5).T, atol=1e-15)
    assert not np.any(newton_schulz(np.zeros((2, 3))))


def test_muon_newton_schulz_update_by_hand():
    # beta = 0: M_t = g_t = diag(3, 4) (scale-free), so the first update is
    # -lr diag(p^5(0.6), p^5(0.8)).
    updates = steps(OPTIMIZERS["muon"](0.1, beta=0.0), [np.diag([3.0, 4.0])])
    expected = -0.1 * np.diag([quintic_by_hand(0.6, 5), quintic_by_hand(0.8, 5)])
    np.testing.assert_allclose(updates[0], expected, atol=1e-14)


def test_adam_decay_is_scheduled_adam():
    # A constant gradient makes Adam's bias-corrected step -lr g / (|g| + eps) (see
    # test_optim); the schedule scales step t by (t + 1)^(-1/2).
    g = np.array([[2.0, -0.5]])
    updates = steps(OPTIMIZERS["adam-decay"](0.1), [g] * 4)
    for t in range(4):
        np.testing.assert_allclose(
            updates[t], -0.1 * (t + 1) ** -0.5 * g / (np.abs(g) + 1e-8), rtol=1e-12
        )


def test_schedule_arguments():
    base = nsd("l2", 0.1, decay=0.0)
    assert scheduled(base, 0.0) is base
    assert scheduled(base, 1.0).hyperparams["decay"] == 1.0
    for bad, error in [
        (-0.1, ValueError),
        (1.5, ValueError),
        (math.nan, ValueError),
        ("1", TypeError),
    ]:
        with pytest.raises(error):
            scheduled(base, bad)
    with pytest.raises(ValueError, match="norm must be"):
        nsd("linf", 0.1)
    with pytest.raises(ValueError, match="orthogonalize"):
        OPTIMIZERS["muon"](0.1, orthogonalize="qr")
    with pytest.raises(ValueError, match="ns_steps"):
        OPTIMIZERS["muon"](0.1, ns_steps=0)


@pytest.mark.parametrize("name", ["nsd-max", "nsd-l1", "nsd-l2", "nsd-spectral", "muon", "signum"])
def test_registered_methods_train(name):
    from _builders import random_instance

    inst = random_instance(0)
    run = train(inst, name, steps=50, lr=0.1, record=[0, 50], limits=False)
    # Each is a descent method for small enough steps: the loss went down.
    assert np.isfinite(run.loss).all() and run.loss[-1] < run.loss[0]


#: (method, the norm of its one-hot limit, whether the plain residual visibly drifts here):
#: signum's momentum keeps the sign of the frozen row for thousands of steps and every
#: drift of nsd-l1 stays on the (non-unique) l1-optimal face, so those two only check the
#: exact run.
SIGN_TYPE = [
    ("sign", "max", True),
    ("nsd-max", "max", True),
    ("nsd-l2", "l2", True),
    ("nsd-spectral", "spectral", True),
    ("signum", "max", False),
    ("nsd-l1", "l1", False),
]


@pytest.mark.parametrize(("name", "norm", "drifts"), SIGN_TYPE)
def test_train_keeps_sign_type_directions_once_the_residual_is_below_eps(name, norm, drifts):
    from ntpprops._norm_margins import margin_fraction
    from ntpprops._optim import EXACT_RESIDUAL_METHODS, _resolve_optimizer, run_optimizer

    # One-hot, m = 1, h = (1, 1): every method's first step is a multiple of
    # (e_0 - e_1) h^T (nsd-l1: entry (0, 0) of the tie), optimal in its norm, and the exact
    # residual keeps that sign pattern at every later step, so the direction never moves:
    # the fraction stays 1 up to rounding (12 digits of room). lr = 1 takes the margin far
    # past the ~37 nats where q_1 < eps within the 3000 steps (decayed or not).
    one_hot = NTPInstance([[1.0, 1.0]], [[1.0, 0.0]])
    assert name in EXACT_RESIDUAL_METHODS
    run = train(one_hot, name, steps=3000, lr=1.0, record=[3000], limits=False)
    assert abs(margin_fraction(one_hot, run.W, norm) - 1.0) <= 1e-12
    if drifts:
        # The plain in-place softmax rounds q_0 - p_0 to 0 once q_1 < eps: row 0 freezes
        # while row 1 keeps moving, and the direction drifts off the optimum.
        optimizer, _ = _resolve_optimizer(one_hot, name, 1.0)
        plain = run_optimizer(
            one_hot, optimizer, np.zeros((2, 2)), 3000, np.array([3000]), lambda *args: None
        )
        assert margin_fraction(one_hot, plain, norm) < 0.99
