"""The descent direction of the proof of Theorem 1: ``<-grad CE(W), W^mm> > 0`` at every ``W``.

The identity ``<-grad CE(W), W^mm> = sum_j pi_j sum_{v not in S_j} softmax_v(W h_j) * margin_{j,v}``
(margins of ``W^mm``) follows because ``W^mm h_j`` is constant on ``S_j``; it is checked
against an independent evaluation of the right-hand side, and positivity follows from every
margin being ``>= 1``.
"""

from __future__ import annotations

import numpy as np
from _checks import out_margins, support_spread
from _oracles import EPS
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpprops import ce_grad, ntp_svm
from ntpprops import strategies as nst

entries = st.floats(-1.0, 1.0)


def _softmax(L):
    shifted = np.exp(L - L.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _sides(inst, W, Wmm):
    """Both sides of the identity and the tolerance for their difference."""
    lhs = -float(np.vdot(ce_grad(inst, W), Wmm))
    probs = _softmax(inst.embeddings @ W.T)
    ctx, tok = np.nonzero(~inst.supports)
    rhs = float(np.sum(inst.context_weights[ctx] * probs[ctx, tok] * out_margins(inst, Wmm)))
    scale = float(np.max(np.abs(inst.embeddings @ Wmm.T)))
    # Rounding: each side sums O(m + V + d) products bounded by 2 max|W^mm h_j| (since
    # sum_z |softmax_z - p_z| <= 2); a W^mm off F^perp by `spread` on a support moves the
    # lhs by at most 2 * spread (the in-support residuals sum to the out-of-support mass).
    tol = 16 * (inst.m + inst.vocab_size + inst.dim) * EPS * 2 * scale
    tol += 2 * support_spread(inst, Wmm)
    out_mass = float(np.sum(inst.context_weights[ctx] * probs[ctx, tok]))
    return lhs, rhs, tol, out_mass


@given(nst.separable_instances(), st.data(), st.floats(0.0, 30.0))
def test_descent_identity_and_positivity(inst, data, scale):
    W = scale * data.draw(arrays(np.float64, inst.weight_shape, elements=entries), label="W")
    Wmm = ntp_svm(inst)
    lhs, rhs, tol, out_mass = _sides(inst, W, Wmm)
    assert abs(lhs - rhs) <= tol, f"identity off by {abs(lhs - rhs):.3g} > {tol:.3g}"
    # Every margin of W^mm is >= 1 (to rounding), so rhs >= (out-of-support mass) > 0.
    lowest = float(out_margins(inst, Wmm).min())
    assert lowest >= 1 - 1e-10
    assert rhs >= lowest * out_mass * (1 - 1e-12)
    if lowest * out_mass > 2 * tol:  # positivity is decidable in float64 only above rounding
        assert lhs > 0, f"<-grad, W^mm> = {lhs!r} with out-of-support mass {out_mass!r}"
