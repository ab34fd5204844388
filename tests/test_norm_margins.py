"""Norm-aware margin fractions, the Eq. 4 residual and margin trajectories."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _builders import random_instance
from _oracles import EPS

from ntpprops import NTPInstance, ntp_svm_result, project_f, w_star
from ntpprops._norm_margins import (
    eq4_residual,
    margin_fraction,
    margin_trajectory,
    normalized_margin,
)
from ntpprops._svm_norms import GAP_RTOL, NORMS, matrix_norm


@pytest.mark.parametrize("norm", NORMS)
def test_optimum_has_fraction_one_and_random_directions_stay_below(norm):
    inst = random_instance(0)
    result = ntp_svm_result(inst, norm=norm)
    # The q-optimum's margin is exactly 1 / ||W||_q (min margin 1 by construction).
    assert normalized_margin(inst, result.W, norm) == pytest.approx(result.margin, rel=1e-9)
    assert abs(margin_fraction(inst, result.W, norm) - 1.0) <= 1e-9
    rng = np.random.default_rng(1)
    for _ in range(20):
        W = rng.standard_normal(inst.weight_shape)
        fraction = margin_fraction(inst, W, norm)
        # No direction beats the optimum by more than the certificate's gap.
        assert np.isfinite(fraction) and fraction <= 1.0 + GAP_RTOL[norm]


def test_fraction_is_scale_free_and_ignores_f():
    inst = random_instance(2)
    rng = np.random.default_rng(3)
    W = ntp_svm_result(inst, norm="max").W + 0.1 * rng.standard_normal(inst.weight_shape)
    F_part = project_f(inst, rng.standard_normal(inst.weight_shape))
    base = margin_fraction(inst, W, "max")
    # Projection and rescaling: rounding of O(10) flops on entries of size 1.
    assert margin_fraction(inst, 7.0 * W, "max") == pytest.approx(base, abs=1e-12)
    assert margin_fraction(inst, W + 5.0 * F_part, "max") == pytest.approx(base, abs=1e-9)


def test_eq4_residual_by_hand_and_at_w_star():
    # m = 1, h = 1, p = (1/2, 1/4, 1/4): at W = 0 the residuals r_z = -log p_z are
    # (log 2, log 4, log 4), so the largest pairwise gap is log 4 - log 2 = log 2.
    inst = NTPInstance([[1.0]], [[0.5, 0.25, 0.25]])
    assert eq4_residual(inst, np.zeros((3, 1))) == pytest.approx(math.log(2.0), rel=4 * EPS)
    # W = log p as the single column solves Eq. 4 exactly.
    assert eq4_residual(inst, np.log([[0.5], [0.25], [0.25]])) <= 4 * EPS
    compatible = random_instance(4)
    # W* solves Eq. 4 to the accuracy of its least-squares solve (KKT-certified ~1e-10).
    assert eq4_residual(compatible, w_star(compatible)) <= 1e-8
    one_hot = NTPInstance(np.eye(2), np.eye(2))
    assert eq4_residual(one_hot, np.ones((2, 2))) == 0.0  # no pair in any support


@pytest.mark.parametrize("norm", NORMS)
def test_trajectory_started_at_an_optimum_approaches_that_norm(norm):
    inst = random_instance(0)
    start = ntp_svm_result(inst, norm=norm).W * 50.0
    # Steps 0 only: the measurement of W_0 = (a multiple of) the q-optimum.
    traj = margin_trajectory(inst, "nsd-l2", 0, lr=1e-3, record=[0], init=start)
    assert traj.steps.tolist() == [0]
    assert abs(traj.fractions[norm][0] - 1.0) <= 1e-9
    approached, leads = traj.approached()
    # Every other optimum is strictly worse in q on this instance: a positive lead.
    assert approached == norm and leads[norm] > 0.0
    assert set(traj.optima) == set(NORMS)
    for q in NORMS:
        assert traj.optima[q] == pytest.approx(matrix_norm(ntp_svm_result(inst, norm=q).W, q))


def test_trajectory_records_every_checkpoint():
    inst = random_instance(1)
    traj = margin_trajectory(inst, "nsd-max", 200, lr=0.05, record=[0, 10, 200], norms=("max",))
    assert traj.method == "nsd-max" and traj.steps.tolist() == [0, 10, 200]
    assert math.isnan(traj.fractions["max"][0])  # W_0 = 0 has no direction
    assert np.all(np.isfinite(traj.fractions["max"][1:])) and traj.eq4_residual.shape == (3,)
    with pytest.raises(ValueError, match="at least two norms"):
        traj.approached()
    with pytest.raises(ValueError, match="norms must be"):
        margin_trajectory(inst, "gd", 1, norms=("linf",))


# -- the accurate residual and the conjectures -------------------------------------------------


def test_softmax_residual_matches_plain_and_stays_exact_when_saturated():
    from ntpprops._loss import softmax, softmax_residual

    rng = np.random.default_rng(5)
    inst = random_instance(5)
    L = rng.standard_normal((inst.m, inst.vocab_size)) * 3.0
    # Moderate logits: both are accurate to rounding on entries of size <= 1.
    np.testing.assert_allclose(softmax_residual(inst, L), softmax(L) - inst.probs, atol=1e-15)
    # A full support (no out-of-support mass) next to a partial one.
    mixed = NTPInstance([[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.3, 0.2], [0.0, 0.6, 0.4]])
    L = rng.standard_normal((2, 3))
    np.testing.assert_allclose(softmax_residual(mixed, L), softmax(L) - mixed.probs, atol=1e-15)
    # One-hot, margin 50: q_0 - 1 = -e^-50 / (1 + e^-50); the plain form rounds it to 0.
    one_hot = NTPInstance([[1.0]], [[1.0, 0.0]])
    L = np.array([[50.0, 0.0]])
    exact = math.exp(-50.0) / (1.0 + math.exp(-50.0))
    assert (softmax(L) - one_hot.probs)[0, 0] == 0.0
    np.testing.assert_allclose(softmax_residual(one_hot, L), [[-exact, exact]], rtol=1e-14)


NORM_CONJECTURES = (
    "adam-approaches-max-norm-svm",
    "sign-descent-approaches-max-norm-svm",
    "spectral-descent-approaches-spectral-svm",
    "sign-descent-finds-log-ratios",
)


def test_norm_conjectures_are_open_vacuous_off_hypotheses_and_decide_on_them():
    from ntpprops.conjectures import CONJECTURES

    not_separable = NTPInstance([[1.0], [1.0]], [[1.0, 0.0], [0.0, 1.0]])
    for name in NORM_CONJECTURES:
        conj = CONJECTURES[name]
        assert conj.expected == "open" and conj.note
        assert conj.predicate(not_separable) is True
    # One-hot, m = 1, h = (1, 1): sign descent's first step sign(g) = [[-1, -1], [1, 1]] is
    # already the max-norm optimal direction and every later step repeats it, provided the
    # residual keeps its sign once q_out < eps (softmax_residual): the fraction stays 1.
    one_hot = NTPInstance([[1.0, 1.0]], [[1.0, 0.0]])
    assert CONJECTURES["sign-descent-approaches-max-norm-svm"].predicate(one_hot) is True
    traj = margin_trajectory(one_hot, "nsd-max", 3000, lr=0.1, record=[3000], norms=("max",))
    assert abs(traj.fractions["max"][-1] - 1.0) <= 1e-12
    plain = margin_trajectory(
        one_hot, "nsd-max", 3000, lr=0.1, record=[3000], norms=("max",), accurate=False
    )
    # With the plain residual row 0 freezes once q_1 < eps and the direction drifts.
    assert plain.fractions["max"][-1] < 0.99
