"""``f_curvature`` in kernel form against the dense ``(Vd x Vd)`` Hessian on an independent F."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from ntpprops.strategies import ntp_instances

import ntpprops as ntp
from ntpprops._bounds import _dense_f_hessian_min
from ntpprops._subspace import gram_factor

sys.path.insert(0, str(Path(__file__).parent / "properties"))
from _checks import dense_f_basis

EPS = np.finfo(np.float64).eps


@given(ntp_instances())
def test_f_curvature_kernel_form_equals_dense_hessian(inst):
    mu, c = ntp.f_curvature(inst)
    dense_mu, dense_c = ntp.f_curvature(inst, basis=dense_f_basis(inst))
    assert c == dense_c
    if math.isinf(dense_mu):  # F = {0}
        assert math.isinf(mu)
        return
    # For a unit W the in-support logit differences span <= sqrt2 ||h_j||, so each context's
    # variance is <= ||h_j||^2 / 2: that bounds the Hessian. The kernel form works in the
    # coordinates of the pivoted Cholesky factor L of the unit-diagonal Gram matrix, which
    # amplifies rounding by at most cond(L)^2 ~ (max/min diag L)^2; the dense form by V d.
    _, factor = gram_factor(inst)
    diag = np.abs(np.diag(factor.cholesky))
    amplification = (diag.max() / diag.min()) ** 2 + inst.vocab_size * inst.dim
    hess_norm = float(inst.context_weights @ np.sum(inst.embeddings**2, axis=1)) / 2
    assert abs(mu - dense_mu) <= 64 * EPS * amplification * hess_norm


def test_f_curvature_is_cached_and_matches_a_hand_computed_value():
    # One context, h = (1), p = (1/2, 1/2, 0): F = span{(e_0 - e_1) h^T}, unit direction
    # (e_0 - e_1)/sqrt2, logit gap sqrt2; the Hessian of CE_F there is p(1-p) * gap^2 = 1/2.
    inst = ntp.NTPInstance([[1.0]], [[0.5, 0.5, 0.0]])
    mu, c = ntp.f_curvature(inst)
    assert abs(mu - 0.5) <= 4 * EPS
    assert abs(c - 2**1.5) <= 4 * EPS  # (sqrt2 ||h||)^3 with ||h|| = 1
    assert inst._cache["f_curvature_mu"] == mu
    assert abs(_dense_f_hessian_min(inst, dense_f_basis(inst)) - 0.5) <= 4 * EPS
