"""Full supports: every ``S_j = V``, so GD converges to the finite point ``W* + P_perp(W_0)``.

The gradient ``sum_j pi_j (softmax - p_j) h_j^T`` is a combination of ``(e_z - e_z') h_j^T``
with all tokens in the support, i.e. lies in ``F``: ``F^perp`` receives no update. Within
``W_0 + F`` the loss is ``CE_F``, minimised at ``W* + P_perp W_0`` with excess 0, so

- ``||P_perp(W_k - W_0)||`` stays at rounding level;
- ``CE(W_k) - H <= ||W_0 - W* - P_perp W_0||^2 / (2 eta k)`` (GD against its minimiser);
- ``||W_k - (W* + P_perp W_0)|| <= 2 sqrt(excess / mu)`` once in the quadratic regime.

The run is "to convergence" in the stated sense: after ``STEPS`` steps the proven distance
bound, when the regime is reached, is checked against the actual distance.
"""

from __future__ import annotations

import math

import numpy as np
from _checks import f_curvature
from _oracles import EPS, project_perp_dense
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpprops import excess_loss, f_distance_bound, safe_step_size, train, w_star
from ntpprops import strategies as nst

STEPS = 2048


@given(nst.full_support_instances(compatible=True), st.data(), st.floats(0.0, 3.0))
def test_fullsupport_gd_converges_to_wstar_plus_perp_init(inst, data, scale):
    assert np.all(inst.supports)
    W0 = scale * data.draw(
        arrays(np.float64, inst.weight_shape, elements=st.floats(-1.0, 1.0)), label="W0"
    )
    lr = safe_step_size(inst)
    run = train(inst, "gd", steps=STEPS, lr=lr, init=W0, record=[0, STEPS // 8, STEPS])
    W = np.asarray(run.W)
    limit = w_star(inst) + project_perp_dense(inst, W0)
    size = max(float(np.linalg.norm(W)), float(np.linalg.norm(W0)), 1.0)

    # F^perp untouched: per step, rounding of the update (O(m + V + d) flops per entry).
    drift = float(np.linalg.norm(project_perp_dense(inst, W - W0)))
    assert drift <= STEPS * 8 * (inst.m + inst.vocab_size + inst.dim) * EPS * size

    # GD against the minimiser `limit` (its own excess is rounding, added).
    start_gap = float(np.linalg.norm(W0 - limit)) ** 2
    floor = excess_loss(inst, limit)
    for k, excess in zip(run.steps[1:], run.excess_loss[1:], strict=True):
        bound = floor + start_gap / (2 * lr * int(k))
        assert excess <= bound * (1 + 1e-11) + 1e-15, f"excess {excess:.3g} > {bound:.3g}"

    # Distance to the exact limit: the F part by the curvature bound, plus the drift.
    proven = f_distance_bound(inst, float(run.excess_loss[-1]), f_curvature(inst)) + drift
    distance = float(np.linalg.norm(W - limit))
    if math.isfinite(proven):
        # Absolute slack: W* comes from a Gram solve (cond <= ~1e4 on these integer
        # instances, so ~1e4 EPS relative), and at convergence the excess itself is at its
        # rounding floor, so the bound cannot resolve distances below ~1e-12 size.
        assert distance <= proven * (1 + 1e-9) + 1e-9 * size
