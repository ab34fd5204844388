"""Proposition 1 and the genie bound (Eq. 9): the entropy is approached, never reached.

- genie: ``CE(W* + R W^mm) - H <= V exp(||W*|| M) exp(-R)``, ``M = sqrt(2) max_j ||h_j||``,
  and the excess decreases in ``R``;
- prop1: ``CE(W) > H`` at every finite ``W`` when some support is not full, while
  ``CE(W^p + gamma W^d) -> H`` for any compatible ``W^p`` and separating ``W^d``.

All excesses are read with ``excess_loss`` (a sum of non-negative terms, accurate far below
``EPS``). The computed ``W^mm``/``W^d``/``W*`` are exact only to solver and rounding
accuracy, so every bound adds what that inexactness can cost, measured on the point itself.
"""

from __future__ import annotations

import math

import numpy as np
from _checks import logit_rounding, out_margins
from _oracles import EPS, project_perp_dense
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpprops import ce_loss, excess_loss, is_separable, ntp_svm, w_star
from ntpprops import strategies as nst

#: How far below the bound's crossing of 1 (R = log C) to go: e^-25 ~ 1e-11 keeps the bound
#: far above the in-support rounding floor (~(1e-14 R)^2) it must absorb.
DEPTH = 25.0

#: Relative accuracy of ``excess_loss`` itself: its terms are exp/log1p of logit differences
#: of size |l| <= 50 here, each rounded to ~4 EPS |l| relative.
EXCESS_RTOL = 1e-12


def _log_genie_constant(inst, base_norm: float) -> float:
    """``log(V exp(||base|| M))``, ``M = sqrt(2) max_j ||h_j||``."""
    M = math.sqrt(2.0) * float(np.max(np.linalg.norm(inst.embeddings, axis=1)))
    return math.log(inst.vocab_size) + base_norm * M


def _in_support_log_ratio_error(inst, W) -> float:
    """``max_j max_{z, z' in S_j} |(l_z - l_z') - log(p_z / p_z')|`` plus logit rounding."""
    L = inst.embeddings @ W.T
    with np.errstate(divide="ignore"):
        dev = np.where(inst.supports, L - np.log(inst.probs), np.nan)
    spread = np.nanmax(dev, axis=1) - np.nanmin(dev, axis=1)
    return float(np.max(spread)) + logit_rounding(inst, W)


def _ray_bound(inst, base, direction, R: float) -> float:
    """Upper bound on ``excess(base + R direction)`` from the proof of Eq. 9.

    Out of support: ``sum_v exp(l_v - lse_S) <= V exp(||base|| M - R min_margin(direction))``
    and ``log(1 + x) <= x``. In support: if all log-ratio errors are ``<= delta`` then
    ``KL <= chi^2 <= expm1(delta)^2`` (exactly 0 for exact W*, W^mm).
    """
    lowest = float(out_margins(inst, direction).min())
    assert lowest > 0
    delta = _in_support_log_ratio_error(inst, base + R * direction)
    out = math.exp(_log_genie_constant(inst, float(np.linalg.norm(base))) - R * lowest)
    return out + math.expm1(delta) ** 2


@given(nst.separable_instances(), st.floats(0.0, DEPTH))
def test_genie_bound(inst, depth):
    Ws, Wmm = w_star(inst), ntp_svm(inst)
    R = max(0.0, _log_genie_constant(inst, float(np.linalg.norm(Ws)))) + depth
    excess = excess_loss(inst, Ws + R * Wmm)
    assert excess <= _ray_bound(inst, Ws, Wmm, R) * (1 + EXCESS_RTOL)


@given(nst.separable_instances(), st.floats(0.0, 1.0), st.floats(0.05, 5.0))
def test_genie_excess_decreasing_in_r(inst, where, step):
    """``d/dR excess = -sum pi_j sum_v softmax_v margin_v(W^mm) < 0``; a step of ``>= 0.05``
    shrinks every out-of-support term by ``e^{-0.05}``, far beyond ``EXCESS_RTOL``."""
    Ws, Wmm = w_star(inst), ntp_svm(inst)
    R = where * (max(0.0, _log_genie_constant(inst, float(np.linalg.norm(Ws)))) + DEPTH)
    near, far = excess_loss(inst, Ws + R * Wmm), excess_loss(inst, Ws + (R + step) * Wmm)
    assert far < near * (1 - EXCESS_RTOL)


def _draw_weights(data, inst, scale):
    raw = data.draw(arrays(np.float64, inst.weight_shape, elements=st.floats(-1.0, 1.0)), label="W")
    return scale * raw


@given(nst.ntp_instances(), st.data(), st.floats(0.0, 1e3))
def test_prop1_excess_positive_at_finite_w(inst, data, scale):
    """``CE(W) > H`` for every finite ``W`` once some support is not full.

    In float64 this is provable only while the out-of-support mass is representable:
    for a context ``j`` with ``S_j < V``, ``lse_out - lse_S >= -sqrt2 ||W|| ||h_j|| - log S_j``,
    and ``pi_j log1p(exp(x)) > 0`` whenever ``x + log pi_j > -745`` (the subnormal floor);
    every other term of ``excess_loss`` is a non-negative float, so the sum is then ``> 0``.
    We require 700 (45 nats of room for rounding) and rescale ``W`` to meet it; beyond it the
    excess may underflow to exactly 0, and only ``>= 0`` is asserted.
    """
    not_full = ~np.all(inst.supports, axis=1)
    assume(np.any(not_full))
    W = _draw_weights(data, inst, scale)
    rows = np.linalg.norm(inst.embeddings, axis=1)
    cost = (
        math.sqrt(2.0) * np.linalg.norm(W) * rows
        + np.log(inst.support_sizes)
        - np.log(inst.context_weights)
    )
    best = float(np.min(np.where(not_full, cost, np.inf)))
    assert excess_loss(inst, W) >= 0.0
    if best <= 700.0:
        assert excess_loss(inst, W) > 0.0
    shrunk = W * min(1.0, 350.0 / max(best, 1e-300))  # now cost <= 700 for that context
    assert excess_loss(inst, shrunk) > 0.0
    # CE itself never drops below H beyond its own rounding (two O(|CE|) sums).
    ce = ce_loss(inst, W)
    assert ce - inst.entropy >= -8 * EPS * max(abs(ce), inst.entropy, 1.0) * inst.vocab_size


@given(nst.separable_instances(), st.data(), st.floats(0.0, DEPTH))
def test_prop1_entropy_approached_along_any_witness(inst, data, depth):
    """``CE(W^p + gamma W^d) -> H`` for ``W^p = W* + N`` (any ``N in F^perp``) and the witness."""
    Wd = is_separable(inst).witness
    N = project_perp_dense(inst, _draw_weights(data, inst, 3.0))
    Wp = w_star(inst) + N
    log_c = max(0.0, _log_genie_constant(inst, float(np.linalg.norm(Wp))))
    # The margin of W^d may exceed 1: gamma = (log C + depth) / min margin reaches e^-depth.
    gamma = (log_c + depth) / float(out_margins(inst, Wd).min())
    excess = excess_loss(inst, Wp + gamma * Wd)
    bound = _ray_bound(inst, Wp, Wd, gamma)
    assert excess <= bound * (1 + EXCESS_RTOL)
    assert bound <= math.exp(-depth) * (1 + 1e-9) + 1e-20  # -> 0 as depth -> infinity
